"""Where a held-out set's defocus error comes from: by specimen kind, brightness and thickness."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from focusqc.models.evaluate import mae_counted, skipped_by_service
from focusqc.models.postprocess import DEFAULT_CERTAINTY_GATE

if TYPE_CHECKING:
    from focusqc.models.evaluate import HeldOutSet, Scored

#: Brightness bands of ``error_breakdown``: the brightest in-focus structure, in photons.
BRIGHTNESS_BANDS = ((0.0, 100.0), (100.0, 500.0), (500.0, float("inf")))
#: Thickness bands of ``error_breakdown``: how deep the specimen's structure reaches, in um.
#: A thick object is imaged as the sum of its slices, so even at its best focus it looks blurred.
THICKNESS_BANDS = ((0.0, 1.5), (1.5, 4.0), (4.0, float("inf")))


def _band(label: str, unit: str, lo: float, hi: float) -> str:
    return f"{label} {lo:g}-{hi:g} {unit}" if np.isfinite(hi) else f"{label} from {lo:g} {unit}"


def error_breakdown(
    scored: Scored, held_out: HeldOutSet, gate: float = DEFAULT_CERTAINTY_GATE
) -> list[dict[str, Any]]:
    """Where the defocus error of a set comes from: a row per specimen kind, brightness, thickness.

    Over the tiles the set's MAE counts (with structure, within its limit): how many, their
    MAE and median error (um), their share of the set's summed error, their median certainty,
    and how many the service would act on (neither under the gate nor flagged blank).
    """
    if scored.specimen is None or scored.peak_photons is None or scored.thickness_um is None:
        raise ValueError(
            "these scores carry no specimen kinds, brightness or thickness to break down by"
        )
    counted = mae_counted(scored, held_out)
    error = scored.error_um
    total = float(error[counted].sum())
    acted = ~skipped_by_service(scored, gate)
    kinds = sorted(set(scored.specimen[counted]))
    groups = [(f"specimen: {k}", scored.specimen == k) for k in kinds]
    for label, unit, values, bands in (
        ("brightest structure", "photons", scored.peak_photons, BRIGHTNESS_BANDS),
        ("specimen thickness", "um", scored.thickness_um, THICKNESS_BANDS),
    ):
        groups += [(_band(label, unit, lo, hi), (values >= lo) & (values < hi)) for lo, hi in bands]
    rows = []
    for name, where in groups:
        m = counted & where
        if not m.any():
            continue
        rows.append(
            {
                "group": name,
                "tiles": int(m.sum()),
                "MAE um": float(error[m].mean()),
                "median error um": float(np.median(error[m])),
                "share of error": float(error[m].sum() / total) if total > 0 else float("nan"),
                "median certainty": float(np.median(scored.certainty[m])),
                "acted on": float(acted[m].mean()),
            }
        )
    return rows
