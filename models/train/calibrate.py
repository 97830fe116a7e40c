"""Calibrate a freshly exported model's P(no structure) on seeds that training never draws.

The network's blank head is trained per patch, but the service reads the tile's P(blank) (the
least blank patch's) against one fixed bar, 0.5. Two trainings of the same network can land on
either side of that bar: measured on the calibration tiles, `sim-2` needed no shift and `sim-5`
under-called blank tiles by 0.15 in logit. So after export one shift of the blank logit is
fitted by maximum likelihood on rendered calibration tiles (the 20x/0.75 set and the training
distribution, seeds 20001 and 20002) and written into the model file, which the scorer applies.
Only the blank head moves: the defocus and the side are untouched.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import minimize_scalar

from focusqc.models.evaluate import TARGET_SET, held_out_set, render_set, score_tiles
from focusqc.models.scorer import BLANK_OFFSET_KEY, FocusScorer
from focusqc.models.train.metadata import add_metadata

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from numpy.typing import NDArray

#: (held-out set, seed): the sets the offset is fitted on, at seeds no evaluation uses.
CALIBRATION_SETS = ((TARGET_SET, 20001), ("unseen seeds", 20002))
#: Tiles rendered per calibration set by default.
CALIBRATION_TILES = 300
#: The offset is stored to this many decimals, so a retrain on another machine writes the same
#: file although onnxruntime's last bits may differ.
DECIMALS = 2


def fit_logit_offset(prob: NDArray[np.floating], is_blank: NDArray[np.bool_]) -> float:
    """The shift ``b`` of ``logit(prob)`` that maximises the likelihood of the blank labels."""
    if is_blank.all() or not is_blank.any():
        raise ValueError("calibration needs both blank tiles and tiles with structure")
    p = np.clip(np.asarray(prob, np.float64), 1e-7, 1 - 1e-7)
    z = np.log(p / (1 - p))
    y = np.asarray(is_blank, np.float64)

    def nll(b: float) -> float:
        return float((y * np.logaddexp(0, -(z + b)) + (1 - y) * np.logaddexp(0, z + b)).sum())

    return float(minimize_scalar(nll, bounds=(-5.0, 5.0), method="bounded").x)


def calibrate(
    *paths: Path,
    tiles_per_set: int = CALIBRATION_TILES,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> list[float]:
    """Fit the blank-logit offset of each uncalibrated model file and write it into the file.

    Several files (a float model and its int8 copy) are each fitted on their own outputs, over
    the same rendered tiles.
    """
    scorers = [FocusScorer(path, provider="cpu", precision="float32") for path in paths]
    for path, scorer in zip(paths, scorers, strict=True):
        if BLANK_OFFSET_KEY in scorer.meta:
            raise ValueError(f"{path} is calibrated already ({BLANK_OFFSET_KEY} is set)")
    probs: list[list[NDArray[np.floating]]] = [[] for _ in paths]
    blank = []
    for name, seed in CALIBRATION_SETS:
        tiles = render_set(replace(held_out_set(name), seed=seed), tiles_per_set, workers)
        for i, scorer in enumerate(scorers):
            scored = score_tiles(scorer, tiles, progress=progress)
            probs[i].append(scored.blank_prob)
        blank.append(~scored.structure)
    offsets = []
    for path, prob in zip(paths, probs, strict=True):
        offset = round(fit_logit_offset(np.concatenate(prob), np.concatenate(blank)), DECIMALS)
        add_metadata(path, {BLANK_OFFSET_KEY: repr(offset)})
        offsets.append(offset)
    return offsets
