"""Several looks at one field, read together at their known focus offsets."""

from __future__ import annotations

import numpy as np
import pytest

from focusqc.models.looks import combine_looks
from focusqc.models.scorer import TileScore

EDGES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 20.0, 30.0)


def look(low_edge_dof: float, probs: np.ndarray | None = None) -> TileScore:
    """A tile the model puts wholly in the bin starting at ``low_edge_dof`` (DOF of 1 um)."""
    if probs is None:
        probs = np.full(len(EDGES), 1e-4, np.float32)
        probs[EDGES.index(low_edge_dof)] = 1.0
        probs /= probs.sum()
    empty = np.zeros(0, np.float32)
    return TileScore(
        defocus_um=0.0,
        defocus_dof=0.0,
        depth_of_field_um=1.0,
        side_above_prob=0.5,
        certainty=1.0,
        blank_prob=0.0,
        patch_defocus_um=empty,
        patch_certainty=empty,
        patch_blank_prob=empty,
        patch_centres_px=np.zeros((0, 2), np.int64),
        patch_native_px=0,
        provider="CPUExecutionProvider",
        defocus_probs=probs,
        bin_edges_dof=EDGES,
    )


def test_one_look_reads_inside_its_bin_and_cannot_name_the_side() -> None:
    one = combine_looks([look(2.0)], [0.0])
    assert 2.0 <= one.defocus_um <= 3.0
    assert one.above_prob == pytest.approx(0.5, abs=0.01)


def test_a_second_look_names_the_side_and_narrows_the_defocus() -> None:
    # 2-3 um at first; 2 um higher, 4-6 um: only a first look 2-3 um above the object fits
    # (below it, the second look would read 0-1 um).
    above = combine_looks([look(2.0), look(4.0)], [0.0, 2.0])
    assert above.above_prob > 0.99 and 2.0 <= above.defocus_um <= 3.0
    # 2 um higher it reads 0.5-1 um: the first look was 2.5-3 um below, the half that fits.
    below = combine_looks([look(2.0), look(0.5)], [0.0, 2.0])
    assert below.above_prob < 0.01 and 2.5 <= below.defocus_um <= 3.0
    assert below.looks == 2


def test_the_reference_plane_need_not_be_a_look() -> None:
    # The same two looks, read 1 um below the first: the defocus there is the first look's
    # plus 1 um (above the object) or minus 1 um (below it).
    first = combine_looks([look(2.0), look(4.0)], [0.0, 2.0])
    lower = combine_looks([look(2.0), look(4.0)], [1.0, 3.0])
    assert lower.above_prob == pytest.approx(first.above_prob)
    assert lower.defocus_um == pytest.approx(first.defocus_um - 1.0, abs=0.05)


def test_looks_that_cannot_be_combined_are_refused() -> None:
    with pytest.raises(ValueError, match="one per look"):
        combine_looks([look(2.0)], [0.0, 1.0])
    bare = look(2.0)
    object.__setattr__(bare, "defocus_probs", None)
    with pytest.raises(ValueError, match="bin distribution"):
        combine_looks([bare], [0.0])
    other = look(2.0)
    object.__setattr__(other, "depth_of_field_um", 2.0)
    with pytest.raises(ValueError, match="different optics"):
        combine_looks([look(2.0), other], [0.0, 1.0])
