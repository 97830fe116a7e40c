"""Training patches from the simulator: numpy only, so data can be made without torch.

Each render is a 2 x 2 grid of patch-sized regions, normalised as a whole tile (as at inference),
then cut into its four patches with their own labels. Four labelled patches per render.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from focusqc.models.preprocess import as_channels, native_patch_px, normalize, resample
from focusqc.models.sampling import canonical_zoom
from focusqc.models.sim.dataset import map_in_order, tile_seed
from focusqc.models.sim.draw import draw_spec
from focusqc.models.sim.render import Modality, render

Batch = dict[str, NDArray[Any]]


def training_patches(seed: int, modality: Modality, patch_px: int = 64) -> Batch:
    """Four canonical patches (4, 3, P, P) and their labels from one simulated tile."""
    spec = draw_spec(seed, modality)
    optics = spec.optics
    zoom = canonical_zoom(optics.pixel_size_um, optics.na, optics.wavelength_um)
    native = native_patch_px(patch_px, zoom)
    tile = render(replace(spec, size_px=2 * native, patch_px=native))
    norm = normalize(tile.image)
    patches = np.stack(
        [
            as_channels(
                resample(
                    norm[r * native : (r + 1) * native, c * native : (c + 1) * native], patch_px
                )
            )
            for r in range(2)
            for c in range(2)
        ]
    )
    labels = tile.labels
    dof = np.asarray(labels["patch_defocus_um"], np.float32).ravel() / labels["depth_of_field_um"]
    return {
        "patches": patches.astype(np.float16),
        "defocus_dof": dof.astype(np.float32),
        "structure": np.asarray(labels["patch_structure"], np.bool_).ravel(),
        "side_visible": np.full(4, labels["side_visible"], np.bool_),
        "brightfield": np.full(4, modality == "brightfield", np.bool_),
    }


def _one(args: tuple[int, Modality, int]) -> Batch:
    return training_patches(*args)


def make_training_set(
    n_tiles: int,
    seed: int,
    brightfield_fraction: float = 0.3,
    patch_px: int = 64,
    workers: int = 1,
    progress: Any = None,
) -> Batch:
    """``4 * n_tiles`` labelled patches, the same for the same seed whatever ``workers``."""
    rng = np.random.default_rng(seed)
    kinds: list[Modality] = [
        "brightfield" if rng.random() < brightfield_fraction else "fluorescence"
        for _ in range(n_tiles)
    ]
    jobs = [(tile_seed(seed, i), kinds[i], patch_px) for i in range(n_tiles)]
    parts: list[Batch] = []
    for part in map_in_order(_one, jobs, workers, chunksize=16):
        parts.append(part)
        if progress:
            progress(1)
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
