"""Several looks at a tile: how much closer |defocus| comes when the model reads them together.

Run: ``python benchmarks/multi_look.py [--offsets=-2,2] [--within 0,5] [--tiles 300]
[--seed 20001]``. It draws the first ``--tiles`` tiles of the 20x/0.75 set at a calibration seed
(no evaluation uses 20001+), keeps those with structure and |defocus| in ``--within`` (by
default within 5 um of focus: the MAE target's tiles), renders each
again with its focal plane moved by each offset (the same object, fresh camera noise), scores every
look with the shipped model, and combines them with ``focusqc.models.looks.combine_looks``.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np

from focusqc.models.evaluate import calibration_tiles
from focusqc.models.looks import combine_looks
from focusqc.models.scorer import FocusScorer
from focusqc.models.sim.render import render


def main() -> None:
    """Print the MAE of one look as read today, one look combined, and all looks combined."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--offsets", default="-2,2", help="um, focal plane above the first look")
    parser.add_argument("--within", default="0,5", help="um, the range of |defocus| kept")
    parser.add_argument("--tiles", type=int, default=300)
    parser.add_argument("--seed", type=int, default=20001)
    args = parser.parse_args()
    offsets = [float(x) for x in args.offsets.split(",")]
    low, high = (float(x) for x in args.within.split(","))
    scorer = FocusScorer()
    rows = []
    for spec, (first, _) in calibration_tiles(args.seed, args.tiles, (low, high)):
        o = spec.optics
        optics = {"pixel_size_um": o.pixel_size_um, "na": o.na, "wavelength_um": o.wavelength_um}
        optics["n_immersion"] = o.n_immersion
        looks = [scorer.score(first, **optics)]
        for k, offset in enumerate(offsets, start=1):
            moved = render(replace(spec, defocus_um=spec.defocus_um + offset, noise_seed=k))
            looks.append(scorer.score(moved.image, **optics))
        alone = combine_looks(looks[:1], [0.0]).defocus_um
        combined = combine_looks(looks, [0.0, *offsets])
        side_right = (combined.above_prob > 0.5) == (spec.defocus_um > 0)
        rows.append(
            (abs(spec.defocus_um), looks[0].defocus_um, alone, combined.defocus_um, side_right)
        )
    truth, today, alone, together, side = (np.asarray(c) for c in zip(*rows, strict=True))
    print(
        f"{len(rows)} tiles with structure, |defocus| {low:g}-{high:g} um,",
        f"looks at 0 and {offsets} um:",
    )
    for name, estimate in (
        ("one look, as read today", today),
        ("one look, posterior median", alone),
        (f"{1 + len(offsets)} looks together", together),
    ):
        error = np.abs(estimate - truth)
        bias = np.mean(estimate - truth)
        print(
            f"  {name:28s} MAE {error.mean():.3f} um, median {np.median(error):.3f} um, "
            f"mean error {bias:+.3f} um"
        )
    far = truth >= 1.5
    print(f"  side from the looks together, from 1.5 um: {side[far].mean():.1%} of {far.sum()}")


if __name__ == "__main__":
    main()
