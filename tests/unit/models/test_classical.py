"""The classical focus measures: each one falls as the same field is blurred."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from focusqc.models.classical import CLASSICAL


@pytest.mark.parametrize("name", sorted(CLASSICAL))
def test_each_measure_falls_as_one_field_is_blurred(name: str) -> None:
    rng = np.random.default_rng(0)
    field = ndimage.gaussian_filter(rng.random((128, 128)), 1.0) * 1000 + 100
    scores = [CLASSICAL[name](ndimage.gaussian_filter(field, s)) for s in (0.0, 1.5, 4.0)]
    assert scores[0] > scores[1] > scores[2], scores


def test_a_flat_image_has_no_sharpness() -> None:
    flat = np.full((64, 64), 7.0)
    assert CLASSICAL["Brenner"](flat) == 0.0
    assert CLASSICAL["Tenengrad"](flat) == 0.0
    assert CLASSICAL["normalized variance"](flat) == 0.0
