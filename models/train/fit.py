"""Fit the focus network on simulated patches (CPU), and export it to ONNX with metadata."""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from focusqc.models.scorer import file_sha256
from focusqc.models.train.metadata import add_metadata
from focusqc.models.train.net import BIN_CENTRES_DOF, BIN_EDGES_DOF, FocusNet

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import numpy as np

MODEL_FORMAT = "focusqc.focus-model"
MODEL_FORMAT_VERSION = 1


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides the trained weights, hashed into the exported model."""

    seed: int = 0
    tiles: int = 32000
    epochs: int = 16
    batch: int = 128
    lr: float = 3e-3
    width: int = 16
    patch_px: int = 64
    brightfield_fraction: float = 0.3
    target_sigma_bins: float = 0.35

    def digest(self) -> str:
        """SHA-256 of the configuration (what reproduces the model)."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()


def bin_targets(defocus_dof: torch.Tensor, sigma_bins: float) -> torch.Tensor:
    """Lightly smoothed targets: a narrow Gaussian over bin indices around the true bin.

    Narrow, so that a sure prediction has low entropy (the certainty reads high); not one-hot,
    so that a neighbouring bin costs less than a far one.
    """
    edges = torch.tensor(BIN_EDGES_DOF[1:])
    index = torch.bucketize(defocus_dof.abs(), edges).float()
    k = torch.arange(len(BIN_CENTRES_DOF)).float()
    t = torch.exp(-0.5 * ((k[None] - index[:, None]) / sigma_bins) ** 2)
    return t / t.sum(1, keepdim=True)


def losses(
    model: FocusNet, batch: dict[str, torch.Tensor], sigma_bins: float
) -> dict[str, torch.Tensor]:
    """Bin cross-entropy where there is structure, side where the optics show it, blankness."""
    bins, side, blank = model.logits(batch["patches"])
    dof, structure = batch["defocus_dof"], batch["structure"]
    ce = -(bin_targets(dof, sigma_bins) * torch.log_softmax(bins, 1)).sum(1)
    bin_loss = (ce * structure).sum() / structure.sum().clamp(min=1)
    has_side = structure * batch["side_visible"] * (dof.abs() >= 0.5).float()
    side_bce = nn.functional.binary_cross_entropy_with_logits(
        side, (dof > 0).float(), reduction="none"
    )
    side_loss = (side_bce * has_side).sum() / has_side.sum().clamp(min=1)
    blank_loss = nn.functional.binary_cross_entropy_with_logits(blank, 1 - structure)
    return {"bins": bin_loss, "side": 0.5 * side_loss, "blank": 0.5 * blank_loss}


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    k = int(torch.randint(4, (1,), generator=gen))
    x = torch.rot90(x, k, dims=(2, 3))
    if bool(torch.randint(2, (1,), generator=gen)):
        x = torch.flip(x, dims=(3,))
    gain = torch.empty(x.shape[0], 1, 1, 1).uniform_(0.8, 1.25, generator=gen)
    return x * gain


def fit(
    data: dict[str, np.ndarray[Any, Any]],
    config: TrainConfig,
    progress: Callable[[int, int, dict[str, float]], None] | None = None,
) -> FocusNet:
    """Train from arrays made by ``make_training_set``; deterministic for a seed on one machine."""
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    model = FocusNet(width=config.width)
    tensors = {
        "patches": torch.from_numpy(data["patches"]),
        "defocus_dof": torch.from_numpy(data["defocus_dof"]).float(),
        "structure": torch.from_numpy(data["structure"]).float(),
        "side_visible": torch.from_numpy(data["side_visible"]).float(),
    }
    n = len(tensors["patches"])
    steps = config.epochs * (n // config.batch)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, config.lr, total_steps=max(steps, 1))
    step = 0
    model.train()
    for _ in range(config.epochs):
        order = torch.randperm(n, generator=gen)
        for start in range(0, n - config.batch + 1, config.batch):
            idx = order[start : start + config.batch]
            batch = {k: v[idx] for k, v in tensors.items()}
            batch["patches"] = _augment(batch["patches"].float(), gen)
            parts = losses(model, batch, config.target_sigma_bins)
            loss = sum(parts.values(), torch.zeros(()))
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            sched.step()
            step += 1
            if progress:
                progress(step, steps, {k: float(v.detach()) for k, v in parts.items()})
    model.eval()
    return model


def export(model: FocusNet, config: TrainConfig, path: Path, version: str) -> str:
    """Write the ONNX model with focusqc metadata; returns its SHA-256."""
    from focusqc.models.sampling import CANONICAL_PIXEL_PER_LAMBDA_OVER_NA

    model.eval()
    dummy = torch.zeros(1, 3, config.patch_px, config.patch_px)
    # The TorchScript exporter, on purpose: a plain CNN exports exactly with it, and it needs no
    # onnxscript. Its deprecation notices are silenced for this call and nowhere else.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            (dummy,),
            str(path),
            input_names=["patches"],
            output_names=["defocus_probs", "side_prob", "blank_prob"],
            dynamic_axes={
                "patches": {0: "batch"},
                "defocus_probs": {0: "batch"},
                "side_prob": {0: "batch"},
                "blank_prob": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )
    add_metadata(
        path,
        {
            "focusqc.format": MODEL_FORMAT,
            "focusqc.format_version": str(MODEL_FORMAT_VERSION),
            "focusqc.model_version": version,
            "focusqc.bin_edges_dof": json.dumps(BIN_EDGES_DOF),
            "focusqc.bin_centres_dof": json.dumps(BIN_CENTRES_DOF),
            "focusqc.patch_px": str(config.patch_px),
            "focusqc.canonical_pixel_per_lambda_over_na": repr(CANONICAL_PIXEL_PER_LAMBDA_OVER_NA),
            "focusqc.train_config": json.dumps(asdict(config), sort_keys=True),
            "focusqc.train_config_sha256": config.digest(),
        },
    )
    return file_sha256(path)
