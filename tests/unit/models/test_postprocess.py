"""Reading a defocus out of the bin distribution."""

from __future__ import annotations

import numpy as np

from focusqc.models.postprocess import bin_bounds, distribution_median

LOWER = np.array([0.0, 0.5, 1.0, 2.0, 4.0], np.float32)
CENTRES = np.array([0.25, 0.75, 1.5, 3.0, 6.0], np.float32)


def test_the_open_last_bin_ends_as_far_above_its_centre_as_it_starts_below() -> None:
    assert bin_bounds(LOWER, CENTRES).tolist() == [0.0, 0.5, 1.0, 2.0, 4.0, 8.0]


def test_the_median_ignores_a_far_tail_that_drags_the_mean() -> None:
    bounds = bin_bounds(LOWER, CENTRES)
    probs = np.array(
        [
            [1.0, 0, 0, 0, 0],  # all in the first bin: its middle
            [0, 0.5, 0.5, 0, 0],  # split evenly between two bins: their shared edge
            [0.6, 0, 0, 0, 0.4],  # a far tail: the mean would read 2.55
            [0.2, 0.2, 0.2, 0.2, 0.2],  # flat: the middle of the cumulative mass
        ],
        np.float32,
    )
    median = distribution_median(probs, bounds)
    assert np.allclose(median, [0.25, 1.0, 0.5 * 0.5 / 0.6, 1.0 + 0.5 * 1.0], atol=1e-6)
    assert float(probs[2] @ CENTRES) > 2.5 > median[2]
    assert distribution_median(probs[1], bounds).shape == ()
