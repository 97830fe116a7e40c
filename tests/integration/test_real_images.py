"""The shipped model on real microscope images it never saw (../shared/data)."""

from __future__ import annotations

from pathlib import Path

import pytest

from focusqc.models.imageio import read_image
from focusqc.models.scorer import FocusScorer

pytestmark = pytest.mark.realdata
THRESHOLD_DOF = 1.5  # the score command's default


@pytest.fixture(scope="module")
def scorer() -> FocusScorer:
    return FocusScorer(provider="cpu")


def dof(scorer: FocusScorer, paths: list[Path], **optics: float) -> list[float]:
    return [scorer.score(read_image(p), **optics).defocus_dof for p in paths]


def test_bbbc006_defocused_fields_are_caught_and_ranked_below_focused(
    scorer: FocusScorer, shared_data: Path
) -> None:
    optics = {"pixel_size_um": 0.65, "na": 0.75, "wavelength_um": 0.461}
    focused = dof(scorer, sorted((shared_data / "bbbc006" / "in_focus").glob("*.png")), **optics)
    blurred = dof(scorer, sorted((shared_data / "bbbc006" / "defocused").glob("*.tif")), **optics)
    assert len(focused) == 9 and len(blurred) == 25
    assert all(d > THRESHOLD_DOF for d in blurred)  # every defocused field is caught
    assert max(focused) < min(blurred)  # and every in-focus field scores sharper


def test_tcga_brightfield_patches_are_called_right(scorer: FocusScorer, shared_data: Path) -> None:
    optics = {"pixel_size_um": 0.25, "na": 0.75, "wavelength_um": 0.54}
    folder = shared_data / "tcga_focus"
    [sharp] = dof(scorer, sorted(folder.glob("in_focus_*.png")), **optics)
    [soft] = dof(scorer, sorted(folder.glob("out_of_focus_*.png")), **optics)
    assert sharp <= THRESHOLD_DOF < soft
