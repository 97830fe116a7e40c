"""Write a simulated data set: arrays and labels in open formats, and a montage to look at.

Layout of ``OUT_DIR``:

* ``tiles.npz``: ``images`` (N, H, W) uint16 or (N, H, W, 3) uint8, and per tile
  ``defocus_um``, ``defocus_dof``, ``structure_present``, ``side_visible``, ``pixel_size_um``,
  ``na``, ``wavelength_um``, ``n_immersion``, plus the per-patch ``patch_defocus_um`` and
  ``patch_structure`` grids;
* ``labels.jsonl``: one JSON object a tile with every label and every parameter used;
* ``dataset.json``: format, version, modality, count, seed;
* ``montage.png``: a focal sweep of several specimens.
"""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from focusqc.models.sim.draw import DEFAULT_RANGES, Ranges, draw_spec
from focusqc.models.sim.montage import focal_sweep
from focusqc.models.sim.render import Modality, Tile, render

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

Job = TypeVar("Job")
Result = TypeVar("Result")

FORMAT = "focusqc.sim"
FORMAT_VERSION = 1


def tile_seed(seed: int, index: int) -> int:
    """Independent 63-bit seed of tile ``index`` in the data set made from ``seed``."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint64)[0] >> 1)


def map_in_order(
    fn: Callable[[Job], Result], jobs: list[Job], workers: int = 1, chunksize: int = 8
) -> Iterator[Result]:
    """``map(fn, jobs)`` in order, in this process or spread over ``workers`` processes.

    Results come back in job order whatever ``workers``, so a seeded data set is the same on
    one core or many.
    """
    if workers <= 1:
        yield from map(fn, jobs)
        return
    with ProcessPoolExecutor(workers) as pool:
        yield from pool.map(fn, jobs, chunksize=chunksize)


def _render_one(args: tuple[int, Modality, Ranges]) -> Tile:
    seed, modality, ranges = args
    return render(draw_spec(seed, modality, ranges))


def generate(
    n: int, modality: Modality, seed: int, ranges: Ranges = DEFAULT_RANGES, workers: int = 1
) -> Iterator[Tile]:
    """Render ``n`` tiles in order; the same arguments give the same tiles, whatever ``workers``."""
    jobs = [(tile_seed(seed, i), modality, ranges) for i in range(n)]
    yield from map_in_order(_render_one, jobs, workers)


def stack(tiles: list[Tile]) -> dict[str, np.ndarray[Any, Any]]:
    """Arrays of a list of tiles, as saved in ``tiles.npz``."""

    def col(key: str, dtype: type) -> np.ndarray[Any, Any]:
        return np.asarray([t.labels[key] for t in tiles], dtype=dtype)

    return {
        "images": np.stack([t.image for t in tiles]),
        "defocus_um": col("defocus_um", np.float32),
        "defocus_dof": col("defocus_dof", np.float32),
        "structure_present": col("structure_present", np.bool_),
        "side_visible": col("side_visible", np.bool_),
        "patch_defocus_um": col("patch_defocus_um", np.float32),
        "patch_structure": col("patch_structure", np.bool_),
        "pixel_size_um": np.asarray([t.spec.optics.pixel_size_um for t in tiles], np.float32),
        "na": np.asarray([t.spec.optics.na for t in tiles], np.float32),
        "wavelength_um": np.asarray([t.spec.optics.wavelength_um for t in tiles], np.float32),
        "n_immersion": np.asarray([t.spec.optics.n_immersion for t in tiles], np.float32),
    }


def write(
    out_dir: Path,
    n: int,
    modality: Modality = "fluorescence",
    seed: int = 0,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Simulate ``n`` tiles into ``out_dir`` and draw the montage; returns the montage path."""
    if n < 1:
        raise ValueError(f"n={n}: a data set needs at least one tile")
    out_dir.mkdir(parents=True, exist_ok=True)
    tiles: list[Tile] = []
    with (out_dir / "labels.jsonl").open("w") as labels:
        for tile in generate(n, modality, seed, workers=workers):
            tiles.append(tile)
            labels.write(json.dumps(tile.labels) + "\n")
            if progress:
                progress(1)
    np.savez_compressed(out_dir / "tiles.npz", allow_pickle=False, **stack(tiles))
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "modality": modality,
        "n": n,
        "seed": seed,
        "tile_seed": "SeedSequence([seed, index]) >> 1",
    }
    (out_dir / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n")
    montage = out_dir / "montage.png"
    focal_sweep(modality, seed).save(montage)
    return montage


def load(out_dir: Path) -> dict[str, np.ndarray[Any, Any]]:
    """Read ``tiles.npz`` back, checking the format version."""
    meta = json.loads((out_dir / "dataset.json").read_text())
    if meta.get("format") != FORMAT or meta.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"{out_dir} holds {meta.get('format')} v{meta.get('version')}, "
            f"not {FORMAT} v{FORMAT_VERSION}: simulate it again"
        )
    with np.load(out_dir / "tiles.npz") as data:
        return dict(data)
