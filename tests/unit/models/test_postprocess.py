"""From patch outputs to the tile verdict: weights, certainty, and what has no say."""

from __future__ import annotations

import numpy as np
import pytest

from focusqc.models.postprocess import NO_STRUCTURE, aggregate, skip_reason
from focusqc.models.preprocess import Patches

CENTRES = np.array([0.5, 10.0], np.float32)  # two bins: in focus, far out
IN_FOCUS, FAR = np.array([0.99, 0.01], np.float32), np.array([0.01, 0.99], np.float32)


def _tile_dof(clipped: list[float], blank: list[float]) -> float:
    patches = Patches(
        np.zeros((2, 3, 8, 8), np.float32),
        np.zeros((2, 2), np.int64),
        8,
        (1, 2),
        np.asarray(clipped, np.float32),
    )
    score = aggregate(
        np.stack([IN_FOCUS, FAR]),
        np.full(2, 0.5, np.float32),
        np.asarray(blank, np.float32),
        CENTRES,
        patches,
        na=0.75,
        wavelength_um=0.52,
        n_immersion=1.0,
        provider="test",
    )
    return score.defocus_dof


def test_a_clipped_patch_has_no_say_as_a_blank_one_has_none() -> None:
    """Clipping makes a blurred spot a sharp plateau: its 'in focus' must not outvote the rest."""
    both = _tile_dof([0.0, 0.0], [0.0, 0.0])
    assert 4.0 < both < 6.5  # equal say
    assert _tile_dof([0.6, 0.0], [0.0, 0.0]) == pytest.approx(_tile_dof([0.0, 0.0], [0.9, 0.0]))
    assert _tile_dof([0.6, 0.0], [0.0, 0.0]) > 9.0
    assert 0.5 < _tile_dof([0.05, 0.0], [0.0, 0.0]) - both  # a little clipping, a little less


def test_skip_reason_names_blank_before_the_gate_and_passes_the_rest() -> None:
    assert "no structure" in str(skip_reason(0.05, NO_STRUCTURE, gate=0.1))
    assert "below the gate 0.1" in str(skip_reason(0.05, 0.2, gate=0.1))
    assert skip_reason(0.1, 0.49, gate=0.1) is None
