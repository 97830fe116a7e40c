"""Several looks at one field, at known focus offsets, read together.

One image of an unknown object leaves its |defocus| ambiguous: the object's own blur and the
focus blur can look alike. A refocus takes more images of the same field anyway. Each look's
distribution over the model's |defocus| bins, read at that look's known offset, is a likelihood
for the signed defocus at one reference plane (usually where one of the looks was taken); their
product, under a flat prior over a grid, gives the |defocus| there (the posterior median: the
estimate with the least expected absolute error) and the side. Sign convention as the model's:
positive defocus is the focal plane above the object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import NDArray

    from focusqc.models.scorer import TileScore

#: The candidate defocus values at the reference plane: every 0.05 um over +-12 um.
SPAN_UM, STEP_UM = 12.0, 0.05


@dataclass(frozen=True)
class Combined:
    """What the looks say together about the reference plane."""

    defocus_um: float  # |defocus| at the reference plane, the posterior median
    above_prob: float  # P(the reference plane is above the object)
    looks: int


def combine_looks(looks: Sequence[TileScore], offsets_um: Sequence[float]) -> Combined:
    """Read ``looks`` together, each at its offset.

    ``offsets_um[k]`` is how far look k's focal plane sits above the reference plane (0 for a
    look taken there, as ``benchmarks/multi_look.py`` reads its first look). Each look needs
    its bin distribution (``TileScore.defocus_probs``), and all the same optics.
    """
    if len(looks) != len(offsets_um) or not looks:
        raise ValueError(f"{len(looks)} looks but {len(offsets_um)} offsets: give one per look")
    dof = looks[0].depth_of_field_um
    grid = np.arange(-SPAN_UM, SPAN_UM + STEP_UM / 2, STEP_UM)
    log_like = np.zeros_like(grid)
    for look, offset in zip(looks, offsets_um, strict=True):
        if look.defocus_probs is None or len(look.bin_edges_dof) != len(look.defocus_probs):
            raise ValueError("a look without its bin distribution: score it with FocusScorer")
        if not np.isclose(look.depth_of_field_um, dof):
            raise ValueError("looks at different optics cannot be combined")
        # The edges are the bins' lower ends; the last bin is open-ended: give it the width of
        # the one before, half again.
        edges = np.asarray(look.bin_edges_dof, np.float64)
        edges = np.append(edges, edges[-1] + 1.5 * (edges[-1] - edges[-2]))
        density = np.asarray(look.defocus_probs, np.float64) / np.diff(edges)
        x = np.abs(grid + offset) / dof
        index = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(density) - 1)
        log_like += np.log(density[index] + 1e-9)
    weight = np.exp(log_like - log_like.max())
    weight /= weight.sum()
    return Combined(median_size(grid, log_like), float(weight[grid > 0].sum()), len(looks))


def median_size(grid: NDArray[np.floating], log_like: NDArray[np.floating]) -> float:
    """The median of |x| under the normalised likelihood over the signed ``grid`` (a flat prior).

    The estimate of |defocus| with the least expected absolute error.
    """
    weight = np.exp(log_like - log_like.max())
    size = np.abs(grid)
    order = np.argsort(size, kind="stable")
    cumulative = np.cumsum(weight[order]) / weight.sum()
    return float(size[order][np.searchsorted(cumulative, 0.5)])
