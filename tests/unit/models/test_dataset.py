"""The simulate command writes a loadable, deterministic data set and a montage."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from focusqc.models.sim.dataset import load, tile_seed

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import FocusqcCli


def test_simulate_writes_arrays_labels_and_montage(tmp_path: Path, focusqc_cli: FocusqcCli) -> None:
    out = tmp_path / "fl"
    proc = focusqc_cli(
        "simulate", str(out), "--n", "12", "--seed", "5", "--workers", "2", timeout=300, columns=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "wrote 12 tiles" in proc.stderr
    data = load(out)
    assert data["images"].shape == (12, 128, 128) and data["images"].dtype == np.uint16
    assert data["patch_defocus_um"].shape == (12, 4, 4)
    lines = (out / "labels.jsonl").read_text().splitlines()
    assert len(lines) == 12
    first = json.loads(lines[0])
    assert first["seed"] == tile_seed(5, 0) and "optics" in first["params"]
    assert np.allclose(data["defocus_um"], [json.loads(x)["defocus_um"] for x in lines])
    with Image.open(out / "montage.png") as montage:
        assert montage.size[0] > 1000 and montage.size[1] > 800

    # Same seed, one worker: identical tiles.
    again = tmp_path / "again"
    proc = focusqc_cli(
        "simulate",
        str(again),
        "--n",
        "12",
        "--seed",
        "5",
        "--workers",
        "1",
        timeout=300,
        columns=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert np.array_equal(load(again)["images"], data["images"])


def test_brightfield_data_set_is_rgb(tmp_path: Path, focusqc_cli: FocusqcCli) -> None:
    proc = focusqc_cli(
        "simulate", str(tmp_path), "--n", "3", "--modality", "brightfield", timeout=300, columns=120
    )
    assert proc.returncode == 0, proc.stderr
    images = load(tmp_path)["images"]
    assert images.shape == (3, 128, 128, 3) and images.dtype == np.uint8


def test_bad_arguments_fail_with_a_message(tmp_path: Path, focusqc_cli: FocusqcCli) -> None:
    proc = focusqc_cli("simulate", str(tmp_path), "--n", "0", timeout=300, columns=120)
    assert proc.returncode != 0 and "--n" in proc.stderr
    proc = focusqc_cli(
        "simulate", str(tmp_path), "--modality", "confocal", timeout=300, columns=120
    )
    assert proc.returncode != 0 and "confocal" in proc.stderr
