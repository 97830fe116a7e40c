"""Corruptions keep dtype and shape, grow with severity, and are deterministic."""

from __future__ import annotations

import numpy as np
import pytest

from focusqc.models.sim.corruptions import CORRUPTIONS, corrupt
from focusqc.models.sim.draw import draw_spec
from focusqc.models.sim.render import render

MONO = render(draw_spec(4, "fluorescence")).image
RGB = render(draw_spec(4, "brightfield")).image


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
@pytest.mark.parametrize("image", [MONO, RGB], ids=["mono16", "rgb8"])
def test_severity_grows_and_format_is_kept(name: str, image: np.ndarray) -> None:
    outs = [corrupt(image, name, s, seed=1) for s in (1, 3, 5)]
    assert all(o.dtype == image.dtype and o.shape == image.shape for o in outs)
    change = [np.abs(o.astype(float) - image).mean() for o in outs]
    assert change[0] <= change[1] <= change[2] and change[2] > 0, change
    assert np.array_equal(corrupt(image, name, 3, seed=1), outs[1])


def test_unknown_corruption_and_bad_severity_are_refused() -> None:
    with pytest.raises(KeyError, match="choose one of"):
        corrupt(MONO, "fog", 1)
    with pytest.raises(ValueError, match="severity=9"):
        corrupt(MONO, "dim", 9)
