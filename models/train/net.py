"""The focus network: a small CNN on canonical patches with three probability heads."""

from __future__ import annotations

import torch
from torch import nn

#: |defocus| bins in depth-of-field units; the last is open-ended.
BIN_EDGES_DOF = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 20.0, 30.0)
BIN_CENTRES_DOF = (0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 7.0, 10.0, 16.0, 25.0, 35.0)


def _block(c_in: int, c_out: int, stride: int, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class FocusNet(nn.Module):
    """(B, 3, P, P) canonical patches -> bin probabilities, P(above focus), P(no structure)."""

    def __init__(self, width: int = 16, n_bins: int = len(BIN_CENTRES_DOF)) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            _block(3, w, 2, kernel=5),
            _block(w, 2 * w, 1),
            _block(2 * w, 2 * w, 2),
            _block(2 * w, 4 * w, 1),
            _block(4 * w, 4 * w, 2),
            _block(4 * w, 6 * w, 1),
            _block(6 * w, 6 * w, 2),
        )
        self.trunk = nn.Sequential(nn.Linear(12 * w, 64), nn.ReLU(inplace=True))
        self.bins = nn.Linear(64, n_bins)
        self.side = nn.Linear(64, 1)
        self.blank = nn.Linear(64, 1)

    def logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Raw head outputs, for the training losses."""
        f = self.features(x)
        pooled = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)
        h = self.trunk(pooled)
        return self.bins(h), self.side(h)[:, 0], self.blank(h)[:, 0]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Probabilities, as exported to ONNX."""
        bins, side, blank = self.logits(x)
        return torch.softmax(bins, dim=1), torch.sigmoid(side), torch.sigmoid(blank)
