"""How closely the images pin down |defocus|: the ideal observer's error on the 20x set.

Run: ``python benchmarks/ideal_defocus.py [--tiles 60] [--seed 20001] [--workers 2]``. It draws
the first ``--tiles`` tiles of the 20x/0.75 set at a calibration seed (no evaluation uses
20001+), keeps those with structure within 5 um of focus (the MAE target's tiles), and runs
``focusqc.models.ideal.defocus_error`` on each: an observer that knows the specimen, the optics
and the camera. Its MAE is a floor for a model's; the model's own is in docs/evaluation.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np

from focusqc.models.evaluate import calibration_tiles
from focusqc.models.ideal import defocus_error
from focusqc.models.sim.dataset import map_in_order


def main() -> None:
    """Print the observer's MAE over the tiles, by specimen and by thickness."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tiles", type=int, default=60)
    parser.add_argument("--seed", type=int, default=20001)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    kept = [spec for spec, _ in calibration_tiles(args.seed, args.tiles)]
    start = time.perf_counter()
    errors = np.asarray(list(map_in_order(defocus_error, kept, args.workers)))
    print(
        f"{len(kept)} tiles with structure within 5 um (of {args.tiles}, seed {args.seed}): "
        f"ideal observer MAE {errors.mean():.3f} um ({time.perf_counter() - start:.0f} s)"
    )
    groups: dict[str, list[float]] = defaultdict(list)
    for s, e in zip(kept, errors, strict=True):
        groups[s.specimen].append(e)
        groups["from 4 um thick" if s.thickness_um >= 4 else "under 4 um thick"].append(e)
    for name, values in sorted(groups.items()):
        print(
            f"  {name:18s} n {len(values):3d}  MAE {np.mean(values):.3f}  max {np.max(values):.2f}"
        )


if __name__ == "__main__":
    main()
