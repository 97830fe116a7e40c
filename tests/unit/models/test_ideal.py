"""The ideal observer of the side of focus: the ceiling for the side target."""

from __future__ import annotations

import math

import pytest

from focusqc.models.ideal import side_accuracy, side_ceiling
from focusqc.models.sim.camera import Camera
from focusqc.models.sim.optics import DRY_20X
from focusqc.models.sim.render import TileSpec


def spec(depth_um: float, n_sample: float, defocus_um: float, photons: float) -> TileSpec:
    return TileSpec(
        seed=3,
        modality="fluorescence",
        specimen="nuclei",
        optics=DRY_20X.with_(depth_um=depth_um, n_sample=n_sample),
        camera=Camera(),
        size_px=64,
        defocus_um=defocus_um,
        peak_photons=photons,
        thickness_um=1.0,
    )


def test_without_a_mismatch_the_sides_look_alike_and_it_can_only_guess() -> None:
    assert side_accuracy(spec(8.0, 1.0, 4.0, 3000)) == 0.5  # matched indices
    assert side_accuracy(spec(0.0, 1.36, 4.0, 3000)) == 0.5  # at the coverslip
    assert side_accuracy(spec(8.0, 1.36, 0.0, 3000)) == 0.5  # in focus


def test_a_deep_bright_mismatched_tile_shows_its_side_and_a_dim_one_less() -> None:
    assert side_accuracy(spec(8.0, 1.36, 4.0, 3000)) == 1.0
    assert side_accuracy(spec(8.0, 1.36, -4.0, 3000)) == 1.0
    dim = side_accuracy(spec(8.0, 1.36, 4.0, 30))
    assert 0.55 < dim < 0.95


def test_the_ceiling_is_the_mean_over_tiles_and_refuses_brightfield() -> None:
    tiles = [spec(8.0, 1.0, 4.0, 3000), spec(8.0, 1.36, 4.0, 3000)]
    assert side_ceiling(tiles, workers=2) == pytest.approx(0.75)
    assert math.isnan(side_ceiling([]))
    with pytest.raises(ValueError, match="mono camera"):
        side_accuracy(
            TileSpec(
                seed=1,
                modality="brightfield",
                specimen="tissue",
                optics=DRY_20X,
                camera=Camera(),
                defocus_um=2.0,
            )
        )


def test_the_defocus_observer_reads_a_bright_tile_closely_and_a_dim_one_less() -> None:
    from focusqc.models.ideal import defocus_error

    bright = defocus_error(spec(0.0, 1.0, 2.0, 3000), draws=2)
    dim = defocus_error(spec(0.0, 1.0, 2.0, 3), draws=2)
    assert bright <= 0.05  # within one step of the fine grid
    assert dim > bright
