"""The trained network's checkpoint: what ``focusqc export`` reads back."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import pytest

torch = pytest.importorskip("torch", reason="checkpoints need the train extra")

from focusqc.models.train.checkpoint import (  # noqa: E402
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from focusqc.models.train.fit import TrainConfig  # noqa: E402
from focusqc.models.train.net import FocusNet  # noqa: E402

if TYPE_CHECKING:
    from pathlib import Path


def test_a_checkpoint_gives_back_the_same_network_config_and_name(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = TrainConfig(seed=3, width=4)
    model = FocusNet(width=4)
    path = tmp_path / "focus_model.pt"
    save_checkpoint(model, config, "sim-3-w4", path)
    loaded, loaded_config, version = load_checkpoint(path)
    assert (loaded_config, version) == (config, "sim-3-w4")
    assert not loaded.training
    saved = model.state_dict()
    assert all(torch.equal(v, saved[k]) for k, v in loaded.state_dict().items())


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"format_version": 99}, "checkpoint format 99"),
        ({"config": {"seed": 1}}, "training config has fields"),
        ({"config": asdict(TrainConfig(width=8))}, "weights do not fit the network"),
    ],
)
def test_a_checkpoint_this_version_cannot_use_is_refused_by_name(
    tmp_path: Path, change: dict[str, object], says: str
) -> None:
    path = tmp_path / "focus_model.pt"
    save_checkpoint(FocusNet(width=4), TrainConfig(width=4), "sim-0-w4", path)
    saved = torch.load(path, weights_only=True)
    torch.save(saved | change, path)
    with pytest.raises(CheckpointError, match=says):
        load_checkpoint(path)
