"""The blank-logit calibration: the fitted shift is the one that generated the labels."""

from __future__ import annotations

import numpy as np
import pytest

from focusqc.models.train.calibrate import fit_logit_offset


@pytest.mark.parametrize("true_offset", [-0.8, 0.0, 0.6])
def test_fitted_offset_recovers_the_shift_that_made_the_labels(true_offset: float) -> None:
    rng = np.random.default_rng(1)
    logit = rng.normal(0.0, 2.0, 40000)
    is_blank = rng.random(logit.size) < 1 / (1 + np.exp(-(logit + true_offset)))
    prob = 1 / (1 + np.exp(-logit))
    assert fit_logit_offset(prob, is_blank) == pytest.approx(true_offset, abs=0.05)


def test_a_calibration_set_without_both_kinds_of_tile_is_refused() -> None:
    with pytest.raises(ValueError, match="both blank tiles and tiles with structure"):
        fit_logit_offset(np.array([0.2, 0.7]), np.array([True, True]))
