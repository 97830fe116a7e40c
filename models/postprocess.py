"""From per-patch network outputs to a tile verdict: pure numpy.

Per patch: the expected |defocus| under the bin distribution, and a certainty
``(1 - normalised entropy) * (1 - P(no structure))`` so blank patches say "I don't know".
A patch with clipped (saturated) pixels counts as that much less structure: clipping turns a
blurred spot into a sharp-edged plateau, which would read as in focus.
Per tile: the distributions of the patches with structure averaged with their certainties as
weights, so a sparse field is judged by the patches that have something to focus on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from focusqc.models.sampling import depth_of_field_um
from focusqc.models.scorer import TileScore

if TYPE_CHECKING:
    from focusqc.models.preprocess import Patches

F32 = NDArray[np.float32]

#: Default verdict: in focus up to this |defocus|, in depth-of-field units (calibrated in the
#: evaluation report, docs/evaluation.md).
DEFAULT_THRESHOLD_DOF = 2.5
#: Default action gate: below this certainty a tile is not acted on (blank or unsure).
DEFAULT_CERTAINTY_GATE = 0.1
#: P(blank) from which a tile has no structure to focus on (skipped whatever its certainty).
NO_STRUCTURE = 0.5
#: A patch counts as at least this many times its clipped share blank: a tenth clipped and it
#: has no say in the tile's defocus. Chosen on calibration seeds (20001+) under overexposure.
CLIPPED_WEIGHT = 5.0


def skip_reason(certainty: float, blank_prob: float, gate: float) -> str | None:
    """Why a scored tile gives nothing to act on (flagged blank, or under the gate); else None.

    The one rule for the service's decide stage and for the evaluation's "skipped" counts.
    """
    if blank_prob >= NO_STRUCTURE:
        return f"no structure to focus on (P(blank) {blank_prob:.2f})"
    if certainty < gate:
        return f"certainty {certainty:.2f} below the gate {gate}"
    return None


def entropy_certainty(probs: F32) -> F32:
    """1 - entropy / log(K) of each row of bin probabilities."""
    p = np.clip(probs, 1e-9, 1.0)
    h = -(p * np.log(p)).sum(axis=-1) / np.log(probs.shape[-1])
    return np.asarray(1.0 - h, np.float32)


def aggregate(
    probs: F32,
    side: F32,
    blank: F32,
    centres_dof: F32,
    patches: Patches,
    *,
    na: float,
    wavelength_um: float,
    n_immersion: float,
    provider: str,
    edges_dof: tuple[float, ...] = (),
) -> TileScore:
    """Combine patch predictions into the tile's score (defocus in micrometres)."""
    dof_um = depth_of_field_um(na, wavelength_um, n_immersion)
    no_say = np.maximum(blank, np.clip(CLIPPED_WEIGHT * patches.clipped, 0.0, 1.0))
    certainty = entropy_certainty(probs) * (1.0 - no_say)
    # Patches the network calls blank, or mostly clipped, have no say while any patch has one.
    has_structure = no_say < NO_STRUCTURE
    weights = certainty * has_structure if has_structure.any() else certainty
    weights = weights + 1e-6
    tile_probs = (probs * weights[:, None]).sum(0) / weights.sum()
    tile_dof = float(tile_probs @ centres_dof)
    tile_certainty = float(entropy_certainty(tile_probs[None])[0] * (1.0 - blank.min()))
    side_weights = weights * np.abs(2 * side - 1)
    side_prob = (
        float((side * side_weights).sum() / side_weights.sum())
        if side_weights.sum() > 1e-5
        else 0.5
    )
    return TileScore(
        defocus_um=tile_dof * dof_um,
        defocus_dof=tile_dof,
        depth_of_field_um=dof_um,
        side_above_prob=side_prob,
        certainty=tile_certainty,
        blank_prob=float(blank.min()),
        patch_defocus_um=np.asarray(probs @ centres_dof * dof_um, np.float32),
        patch_certainty=np.asarray(certainty, np.float32),
        patch_blank_prob=np.asarray(blank, np.float32),
        patch_centres_px=patches.centres_px,
        patch_native_px=patches.native_px,
        provider=provider,
        defocus_probs=np.asarray(tile_probs, np.float32),
        bin_edges_dof=edges_dof,
    )
