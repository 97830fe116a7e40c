"""Benchmark: time to simulate 1,000 tiles of 128x128 on one core, per modality.

Run: ``python benchmarks/bench_simulate.py [--n 1000]``. Prints one line per modality with the
total seconds, milliseconds a tile, and the ratio against a NumPy FFT convolution baseline of the
same tile size measured in the same process (so machines of different speed can be compared).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

# One core: pin the BLAS/FFT thread pools before NumPy and SciPy start them.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

from focusqc.models.sim.dataset import generate  # noqa: E402


def baseline_ms(size: int = 256, repeats: int = 200) -> float:
    """One real FFT convolution of a size x size image (the simulator's basic step)."""
    rng = np.random.default_rng(0)
    a, b = rng.random((size, size)), rng.random((size, size))
    start = time.perf_counter()
    for _ in range(repeats):
        np.fft.irfft2(np.fft.rfft2(a) * np.fft.rfft2(b), s=a.shape)
    return (time.perf_counter() - start) / repeats * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
    base = baseline_ms()
    print(f"baseline: one 256x256 FFT convolution = {base:.2f} ms")
    for modality in ("fluorescence", "brightfield"):
        start = time.perf_counter()
        count = sum(1 for _ in generate(args.n, modality, seed=0, workers=1))
        total = time.perf_counter() - start
        per = total / count * 1000
        print(
            f"{modality}: {count} tiles of 128x128 on one core in {total:.1f} s "
            f"({per:.1f} ms a tile, {per / base:.1f}x the baseline)"
        )


if __name__ == "__main__":
    main()
