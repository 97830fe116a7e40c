"""Shared fixtures: the real microscope images beside the clone, the command line, test tiles."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


class FocusqcCli(Protocol):
    """Runs ``focusqc ARGS`` in a fresh interpreter, as a user would; see ``focusqc_cli``."""

    def __call__(
        self, *args: str, timeout: float = 60, columns: int | None = None
    ) -> subprocess.CompletedProcess[str]: ...


def run_focusqc(
    *args: str, timeout: float = 60, columns: int | None = None
) -> subprocess.CompletedProcess[str]:
    """``focusqc ARGS`` with its output captured as text; its exit status is for the test to read.

    ``columns`` sets the terminal width that rich lays tables and errors out in.
    """
    env = None if columns is None else {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run(
        [sys.executable, "-m", "focusqc.service", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


@pytest.fixture(scope="session")
def focusqc_cli() -> FocusqcCli:
    """The command line, run as a separate process (see ``run_focusqc``)."""
    return run_focusqc


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (real images, not in the repo); skips when a user's clone lacks it."""
    if not (SHARED_DATA / "bbbc006").is_dir():
        pytest.skip(
            f"real test images not found at {SHARED_DATA}: they sit beside the clone "
            "in CI (../shared/data) and are not shipped with focusqc"
        )
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_data_if_present() -> Path | None:
    """``../shared/data`` when it is there, else None (for tests that use it only in part)."""
    return SHARED_DATA if (SHARED_DATA / "bbbc006").is_dir() else None


@pytest.fixture(scope="session")
def nuclei_tile() -> Callable[[float], np.ndarray]:
    """A 192 px 20x/0.75 field of nuclei at a given defocus (um), as the camera gives it."""
    from focusqc.models.sim.camera import Camera
    from focusqc.models.sim.optics import DRY_20X
    from focusqc.models.sim.render import TileSpec, render

    def make(defocus_um: float) -> np.ndarray:
        spec = TileSpec(
            seed=4,
            modality="fluorescence",
            specimen="nuclei",
            optics=DRY_20X,
            camera=Camera(read_noise_e=2.0, gain_adu_per_e=0.5, bit_depth=12),
            size_px=192,
            density=2.0,
            defocus_um=defocus_um,
            thickness_um=6.0,
            peak_photons=3000.0,
            background_photons=40.0,
        )
        return np.asarray(render(spec).image)

    return make


@pytest.fixture(scope="session")
def tile_qc() -> Callable[[int], Any]:
    """A valid tiles-stream payload for tile ``i`` of a 3-column grid, in focus."""
    from focusqc.config.events import TileQC

    def make(i: int) -> TileQC:
        return TileQC(
            tile=i,
            row=i // 3,
            col=i % 3,
            attempt=0,
            x_um=100.0 * i,
            y_um=0.0,
            z_um=0.1 * i,
            defocus_um=0.3,
            defocus_dof=0.4,
            certainty=0.8,
            side_above_prob=0.5,
            action="in_focus",
            reason="ok",
            z_move_um=None,
            strategy=None,
            latency_ms=4.0,
            deadline_missed=False,
            model_version="test",
            provider="CPUExecutionProvider",
        )

    return make
