"""Benchmark: CPU time to score one 2048 x 2048 uint16 tile, against a NumPy Brenner gradient.

Run: ``python benchmarks/bench_score.py [--repeats 50] [--model PATH]``. Both run in this process
on the same tile (a simulated 20x/0.75 field of nuclei at 0.65 um pixels), on one thread, and
are measured as process CPU time, so the ratio carries across machines. The model's time is
split into pre-processing (normalisation, patch choice, resampling) and the network, for the
float model (the default) and for its int8 copy.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from pathlib import Path

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import numpy as np  # noqa: E402

from focusqc.models.preprocess import tile_patches  # noqa: E402
from focusqc.models.scorer import FocusScorer  # noqa: E402
from focusqc.models.sim.camera import Camera  # noqa: E402
from focusqc.models.sim.optics import DRY_20X  # noqa: E402
from focusqc.models.sim.render import TileSpec, render  # noqa: E402

OPTICS = {"pixel_size_um": 0.65, "na": 0.75, "wavelength_um": 0.461}


def brenner(image: np.ndarray) -> float:
    """The baseline: Brenner's gradient in NumPy, rows and columns, on the whole tile."""
    f = image.astype(np.float32)
    return float(((f[:, 2:] - f[:, :-2]) ** 2).sum() + ((f[2:] - f[:-2]) ** 2).sum())


def cpu_ms(fn: object, repeats: int) -> float:
    """Median process CPU time of one call, in ms."""
    fn()  # type: ignore[operator]
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()  # type: ignore[operator]
        times.append(time.process_time() - start)
    return float(np.median(times) * 1000)


def tile_2048() -> np.ndarray:
    """A 2048 x 2048 12-bit field of nuclei, 2 um out of focus (four 1024^2 renders tiled)."""
    spec = TileSpec(
        seed=0,
        modality="fluorescence",
        specimen="nuclei",
        optics=DRY_20X,
        camera=Camera(read_noise_e=2.0, gain_adu_per_e=0.5, offset_adu=100.0, bit_depth=12),
        size_px=1024,
        density=1.0,
        defocus_um=2.0,
        thickness_um=6.0,
        peak_photons=3000.0,
        background_photons=40.0,
    )
    quads = [render(replace(spec, seed=s)).image for s in range(4)]
    return np.block([[quads[0], quads[1]], [quads[2], quads[3]]]).astype(np.uint16)


def main() -> None:
    """Print both CPU times and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--budget", type=int, default=16)
    args = parser.parse_args()
    image = tile_2048()
    scorer = FocusScorer(args.model, provider="cpu", threads=1)
    patches = tile_patches(image, **OPTICS, patch_px=scorer.patch_px, budget=args.budget)
    base = cpu_ms(lambda: brenner(image), args.repeats)
    prep = cpu_ms(
        lambda: tile_patches(image, **OPTICS, patch_px=scorer.patch_px, budget=args.budget),
        args.repeats,
    )
    print(f"tile 2048x2048 uint16, budget {args.budget} patches, 1 thread, {scorer.provider}")
    print(f"NumPy Brenner gradient : {base:7.2f} ms CPU")
    # The float model (the default), then its int8 copy (runtime.precision = "int8"), in the same
    # run.
    int8 = FocusScorer(args.model, provider="cpu", threads=1, precision="int8")
    for precision, model in (("float32", scorer), ("int8", int8)):
        net = cpu_ms(lambda m=model: m.predict(patches.pixels), args.repeats)
        total = cpu_ms(lambda m=model: m.score(image, **OPTICS, budget=args.budget), args.repeats)
        print(
            f"focusqc score, {precision:7s}: {total:7.2f} ms CPU "
            f"(pre-processing {prep:.2f}, network {net:.2f}); "
            f"ratio to Brenner {total / base:.2f}"
        )


if __name__ == "__main__":
    main()
