"""Ideal observers: what a model could read from a tile if it knew the specimen.

The side observer knows everything about a tile but the sign of its defocus: the specimen, the
optics, the camera and |defocus|. It renders the tile's expected photons for each side and reads
the image by their likelihood ratio under the camera's noise (shot noise plus read noise, taken
as Gaussian, without quantisation, clipping or hot pixels). A model sees the same image but must
also guess the specimen, so on average it cannot do better: the observer's accuracy over a set
is a ceiling for the side accuracy on that set.

The |defocus| observer knows everything but the defocus, and reads it by likelihood over a grid
of candidate defocus values. Its error is a floor for a model's, under the same caveat.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from focusqc.models.looks import median_size
from focusqc.models.sim.dataset import map_in_order
from focusqc.models.sim.render import expected_photons

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from focusqc.models.sim.render import TileSpec

#: Noisy images drawn per tile to measure how often the observer is right.
DRAWS = 64
#: The |defocus| observer's grid: every 0.25 um over +-8 um, then every 0.05 um around the best.
COARSE_UM, FINE_UM, SPAN_UM = 0.25, 0.05, 8.0


def _check_mono(spec: TileSpec) -> None:
    if spec.modality != "fluorescence":
        raise ValueError(f"the ideal observer models a mono camera; {spec.modality} is not one")


def _expected_electrons(spec: TileSpec, defocus_um: float) -> np.ndarray:
    """The tile's expected photoelectrons per pixel at ``defocus_um``."""
    return expected_photons(replace(spec, defocus_um=defocus_um)) * spec.camera.qe


def side_accuracy(spec: TileSpec, draws: int = DRAWS) -> float:
    """How often the ideal observer names this tile's side, over ``draws`` noisy images.

    A tile whose two sides image alike (no index mismatch, or in focus) scores 0.5.
    """
    _check_mono(spec)
    if spec.defocus_um == 0:
        return 0.5
    depth = abs(spec.defocus_um)
    read_var = spec.camera.read_noise_e**2
    mean = {side: _expected_electrons(spec, side * depth) for side in (1, -1)}
    if np.allclose(mean[1], mean[-1], rtol=1e-9, atol=1e-9):
        return 0.5  # the same image either side (up to rounding): a coin toss
    var = {side: m + read_var for side, m in mean.items()}
    log_ratio = 0.5 * np.log(var[-1] / var[1])
    truth = 1 if spec.defocus_um > 0 else -1
    rng = np.random.default_rng(spec.seed)
    right = 0
    for _ in range(draws):
        image = mean[truth] + rng.standard_normal(mean[truth].shape) * np.sqrt(var[truth])
        # log p(image | above) - log p(image | below), pixel by pixel.
        llr = float(
            (
                0.5 * (image - mean[-1]) ** 2 / var[-1]
                - 0.5 * (image - mean[1]) ** 2 / var[1]
                + log_ratio
            ).sum()
        )
        right += (llr > 0) == (truth > 0)
    return right / draws


def _one(args: tuple[TileSpec, int]) -> float:
    return side_accuracy(*args)


def side_ceiling(
    specs: Sequence[TileSpec],
    draws: int = DRAWS,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> float:
    """The ideal observer's side accuracy over these tiles (NaN for none)."""
    if not specs:
        return float("nan")
    accuracies = map_in_order(_one, [(s, draws) for s in specs], workers)
    total = 0.0
    for accuracy in accuracies:
        total += accuracy
        if progress:
            progress(1)
    return total / len(specs)


def defocus_error(spec: TileSpec, draws: int = 4) -> float:
    """The |defocus| observer's mean absolute error (um) over ``draws`` noisy images of a tile.

    For each image it scores every candidate defocus (either side of focus) by the likelihood of
    the image, and answers the median of |defocus| under the normalised likelihood (a flat
    prior): the estimate with the least expected absolute error.
    """
    _check_mono(spec)
    read_var = spec.camera.read_noise_e**2
    means: dict[float, np.ndarray] = {}

    def mean(d: float) -> np.ndarray:
        d = round(d, 6)
        if d not in means:
            means[d] = _expected_electrons(spec, d)
        return means[d]

    def log_likelihood(image: np.ndarray, d: float) -> float:
        var = mean(d) + read_var
        return float(-0.5 * (((image - mean(d)) ** 2) / var + np.log(var)).sum())

    truth = mean(spec.defocus_um)
    rng = np.random.default_rng(spec.seed)
    coarse = np.arange(-SPAN_UM, SPAN_UM + 1e-9, COARSE_UM)
    errors = []
    for _ in range(draws):
        image = truth + rng.standard_normal(truth.shape) * np.sqrt(truth + read_var)
        ll = np.array([log_likelihood(image, d) for d in coarse])
        best = coarse[int(np.argmax(ll))]
        fine = np.arange(best - COARSE_UM, best + COARSE_UM + 1e-9, FINE_UM)
        far = np.abs(coarse - best) > COARSE_UM
        grid = np.concatenate([coarse[far], fine])
        ll = np.concatenate([ll[far], [log_likelihood(image, d) for d in fine]])
        estimate = median_size(grid, ll)
        errors.append(abs(estimate - abs(spec.defocus_um)))
    return float(np.mean(errors))
