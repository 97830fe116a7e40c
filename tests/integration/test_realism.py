"""The simulator against real microscope images it did not generate (BBBC006, 20x/0.75)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from focusqc.models.sim.camera import Camera
from focusqc.models.sim.draw import THICKNESS_UM
from focusqc.models.sim.optics import DRY_20X
from focusqc.models.sim.render import TileSpec, render

pytestmark = pytest.mark.realdata


def spatial_frequency(image: np.ndarray) -> float:
    """Gradient energy over intensity variance: a scale- and offset-free sharpness."""
    f = image.astype(np.float64)
    f = f - np.percentile(f, 5)
    gy, gx = np.gradient(f)
    return float((gy**2 + gx**2).mean() / max(f.var(), 1e-9))


def test_simulated_in_focus_nuclei_are_as_sharp_as_real_ones(shared_data: Path) -> None:
    real_in = [
        spatial_frequency(np.asarray(Image.open(p)))
        for p in sorted((shared_data / "bbbc006" / "in_focus").glob("*.png"))
    ]
    real_out = [
        spatial_frequency(tifffile.imread(p))
        for p in sorted((shared_data / "bbbc006" / "defocused").glob("*.tif"))
    ]
    base = TileSpec(
        seed=0,
        modality="fluorescence",
        specimen="nuclei",
        optics=DRY_20X,  # BBBC006's optics
        camera=Camera(read_noise_e=2.0, gain_adu_per_e=0.5, offset_adu=105.0),
        size_px=256,
        density=0.5,
        peak_photons=3000.0,
        background_photons=40.0,
        thickness_um=float(np.mean(THICKNESS_UM["nuclei"])),
    )
    sim_in = [spatial_frequency(render(replace(base, seed=s)).image) for s in range(6)]
    # The simulated in-focus nuclei sit inside the real in-focus range (within 20%)...
    assert min(real_in) * 0.8 < np.median(sim_in) < max(real_in) * 1.2, (sim_in, real_in)
    # ...and the real data set separates in from out of focus on this statistic.
    assert min(real_in) > max(real_out)
    # Flat (zero-thickness) nuclei would be too sharp: thickness is what makes them real.
    flat = [
        spatial_frequency(render(replace(base, seed=s, thickness_um=0.0)).image) for s in range(6)
    ]
    assert np.median(flat) > np.median(real_in) * 1.3 > np.median(sim_in)
