"""The trained network as ``focusqc train`` leaves it, before export: weights and config.

``focusqc train`` writes ``focus_model.pt`` beside the ONNX files; ``focusqc export`` reads it
back and writes the same ONNX files again (the same bytes, on the same kind of machine), so
the export step can be redone, or re-calibrated, without training again.
"""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any

import torch

from focusqc.models.train.fit import TrainConfig
from focusqc.models.train.net import FocusNet

if TYPE_CHECKING:
    from pathlib import Path

CHECKPOINT_FORMAT = "focusqc.checkpoint"
CHECKPOINT_FORMAT_VERSION = 1
CHECKPOINT_NAME = "focus_model.pt"


class CheckpointError(ValueError):
    """A file that is not a focusqc checkpoint, or one this version cannot read."""


def save_checkpoint(model: FocusNet, config: TrainConfig, version: str, path: Path) -> None:
    """Write the weights, the training config and the model's name."""
    torch.save(
        {
            "format": CHECKPOINT_FORMAT,
            "format_version": CHECKPOINT_FORMAT_VERSION,
            "version": version,
            "config": asdict(config),
            "state_dict": model.state_dict(),
        },
        path,
    )


def load_checkpoint(path: Path) -> tuple[FocusNet, TrainConfig, str]:
    """The network (in eval mode), its training config and its name; a clear error otherwise."""
    if not path.is_file():
        raise CheckpointError(
            f"{path}: no such checkpoint (focusqc train writes {CHECKPOINT_NAME})"
        )
    try:
        # weights_only: tensors and plain values, never arbitrary pickled code.
        saved: Any = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError) as exc:
        raise CheckpointError(f"{path}: not a readable torch checkpoint ({exc})") from exc
    if not isinstance(saved, dict) or saved.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a focusqc checkpoint")
    if saved.get("format_version") != CHECKPOINT_FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {saved.get('format_version')}, this focusqc reads "
            f"{CHECKPOINT_FORMAT_VERSION}"
        )
    known = {f.name for f in fields(TrainConfig)}
    if set(saved["config"]) != known:
        raise CheckpointError(f"{path}: its training config has fields {sorted(saved['config'])}")
    config = TrainConfig(**saved["config"])
    model = FocusNet(width=config.width)
    try:
        model.load_state_dict(saved["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit the network ({exc})") from exc
    model.eval()
    return model, config, str(saved["version"])
