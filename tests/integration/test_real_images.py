"""The shipped model on real microscope images it never saw (../shared/data)."""

from __future__ import annotations

from pathlib import Path

import pytest

from focusqc.models.imageio import read_image
from focusqc.models.postprocess import DEFAULT_THRESHOLD_DOF
from focusqc.models.scorer import FocusScorer

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def scorer() -> FocusScorer:
    return FocusScorer(provider="cpu")


def dof(scorer: FocusScorer, paths: list[Path], **optics: float) -> list[float]:
    return [scorer.score(read_image(p), **optics).defocus_dof for p in paths]


def test_bbbc006_every_field_is_called_right_at_the_default_threshold(
    scorer: FocusScorer, shared_data: Path
) -> None:
    optics = {"pixel_size_um": 0.65, "na": 0.75, "wavelength_um": 0.461}
    focused = dof(scorer, sorted((shared_data / "bbbc006" / "in_focus").glob("*.png")), **optics)
    blurred = dof(scorer, sorted((shared_data / "bbbc006" / "defocused").glob("*.tif")), **optics)
    assert len(focused) == 9 and len(blurred) == 25
    assert all(d > DEFAULT_THRESHOLD_DOF for d in blurred), blurred  # every defocused one caught
    assert all(d <= DEFAULT_THRESHOLD_DOF for d in focused), focused  # every in-focus one passes


def test_tcga_brightfield_patches_are_called_right(scorer: FocusScorer, shared_data: Path) -> None:
    optics = {"pixel_size_um": 0.25, "na": 0.75, "wavelength_um": 0.54}
    folder = shared_data / "tcga_focus"
    [sharp] = dof(scorer, sorted(folder.glob("in_focus_*.png")), **optics)
    [soft] = dof(scorer, sorted(folder.glob("out_of_focus_*.png")), **optics)
    assert sharp <= DEFAULT_THRESHOLD_DOF < soft
