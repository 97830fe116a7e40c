"""Tile pre-processing for the focus model: pure numpy, shared by training and scoring.

1. ``normalize``: camera offset and gain drop out. Fluorescence (mono) becomes
   ``(I - background) / range``; transmitted brightfield (RGB) becomes optical density relative
   to the glass, so both are "signal above a zero background" on a comparable scale.
2. ``sample_patches``: square patches of ``patch_px`` canonical pixels, cut from the native image
   and each resampled alone (cheap on large tiles). Half the budget goes to the patches with
   most content, no two adjacent (so one bright cell does not take four patches), the other half
   to an even spread, so a sparse field is not scored on empty glass alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from focusqc.models.sampling import CANONICAL_PIXEL_PER_LAMBDA_OVER_NA, canonical_zoom, zoom_image

Array = NDArray[np.float32]


class TileError(ValueError):
    """A tile that cannot be scored, with what is wrong and what would fix it."""


def check_tile(image: NDArray[np.generic]) -> None:
    """Refuse what no camera sends: wrong rank, colour counts, sizes or non-finite values."""
    if not isinstance(image, np.ndarray):
        raise TileError(f"tile is a {type(image).__name__}, expected a numpy array")
    if image.ndim == 3 and image.shape[-1] == 4:
        raise TileError("tile has 4 channels (RGBA?): drop the alpha channel first")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] != 3):
        raise TileError(f"tile shape {image.shape}: expected (H, W) mono or (H, W, 3) RGB")
    if min(image.shape[:2]) < 16:
        raise TileError(f"tile shape {image.shape}: at least 16x16 pixels are needed")
    if image.dtype.kind not in "uif":
        raise TileError(f"tile dtype {image.dtype}: expected an integer or float image")
    if image.dtype.kind == "f" and not np.isfinite(image).all():
        raise TileError("tile holds NaN or infinite values")


#: Intensity statistics come from at most about this many pixels (a regular subsample), so a
#: 2048 x 2048 tile costs no more to normalise than a 256 x 256 one. Training tiles are never
#: larger than 511 x 511, so they are measured on every pixel.
STATS_PIXELS = 256 * 256


def _stride(shape: tuple[int, ...]) -> int:
    return max(1, int(np.sqrt(shape[0] * shape[1] / STATS_PIXELS)))


@dataclass(frozen=True)
class Normalizer:
    """One tile's map from camera values to the model's scale, measured on a subsample.

    Mono: ``(I - lo) / range``; RGB: optical density against the glass, over 1.5.
    """

    lo: NDArray[np.float32]  # mono: the 1st percentile; RGB: the glass level per channel
    scale: float

    def __call__(self, pixels: NDArray[np.generic]) -> Array:
        """Apply the map to the whole tile or any crop of it."""
        f = pixels.astype(np.float32)
        if self.lo.ndim == 0:  # mono: any stack of crops
            return np.asarray(np.clip((f - self.lo) / self.scale, -0.5, 4.0), np.float32)
        od = -np.log10(np.clip(f / self.lo, 1e-3, 1.0))
        return np.asarray(od / self.scale, np.float32)


def normalizer(image: NDArray[np.generic]) -> Normalizer:
    """Measure the tile's offset and range (mono) or glass level (RGB)."""
    check_tile(image)
    s = _stride(image.shape)
    f = image[::s, ::s].astype(np.float32)
    if f.ndim == 2:
        lo, median, hi = np.percentile(f, [1.0, 50.0, 99.9])
        # The range never falls below the shot noise of the background, so a blank tile stays
        # noise-like rather than being stretched into fake structure.
        floor = 4.0 * float(np.sqrt(max(median - lo, 1.0)))
        return Normalizer(np.asarray(lo, np.float32), max(float(hi - lo), floor, 1e-6))
    glass = np.maximum(np.percentile(f, 99.0, axis=(0, 1)), 1.0).astype(np.float32)
    return Normalizer(glass, 1.5)


def normalize(image: NDArray[np.generic]) -> Array:
    """Offset- and gain-free tile as float32 (H, W), or (H, W, 3) optical density for RGB."""
    return normalizer(image)(image)


def as_channels(patch: Array) -> Array:
    """(P, P) or (P, P, 3) -> (3, P, P): mono is repeated so one network reads both."""
    return np.repeat(patch[None], 3, 0) if patch.ndim == 2 else np.moveaxis(patch, -1, 0)


@dataclass(frozen=True)
class Patches:
    """Patches ready for the network and where they came from (native pixel centres)."""

    pixels: Array  # (B, 3, P, P)
    centres_px: NDArray[np.int64]  # (B, 2) row, col in the native tile
    native_px: int  # side of each patch in native pixels
    grid_shape: tuple[int, int]  # the candidate grid the patches were picked from
    #: (B,) share of each patch's pixels on the plateau at the tile's top value (0 for RGB, where
    #: white glass is normal, and for tiles that do not saturate).
    clipped: NDArray[np.float32]


def native_patch_px(patch_px: int, zoom: float) -> int:
    """Side, in camera pixels, of a patch that is ``patch_px`` canonical pixels at ``zoom``.

    Training and scoring both cut patches of this size, so they must agree on it.
    """
    return max(int(np.ceil(patch_px / zoom)), 4)


def sample_patches(
    image: NDArray[np.generic],
    zoom: float,
    patch_px: int = 64,
    budget: int = 16,
    norm: Normalizer | None = None,
) -> Patches:
    """Cut up to ``budget`` patches from a grid over the tile; see the module docstring.

    Only the chosen patches are normalised and resampled, and content is judged on a regular
    subsample of each cell, so the cost hardly grows with the tile.
    """
    if budget < 1:
        raise TileError(f"budget={budget}: score at least one patch")
    norm = norm or normalizer(image)
    native = native_patch_px(patch_px, zoom)
    h, w = image.shape[:2]
    if native > min(h, w):
        raise TileError(
            f"tile {h}x{w} is smaller than one patch ({native} native pixels at zoom {zoom:.2f}):"
            " check the pixel size, NA and wavelength"
        )
    rows, cols = max(h // native, 1), max(w // native, 1)
    oy, ox = (h - rows * native) // 2, (w - cols * native) // 2
    step = max(1, min(_stride(image.shape), native // 4))
    cells = image[oy : oy + rows * native, ox : ox + cols * native]
    cells = cells.reshape(rows, native, cols, native, *image.shape[2:])[:, ::step, :, ::step]
    # One row of samples per cell. Mono normalisation is affine, so the raw spread ranks cells
    # as the normalised one would.
    cells = np.ascontiguousarray(np.swapaxes(cells, 1, 2)).reshape(
        rows * cols, -1, *image.shape[2:]
    )
    sampled = cells.astype(np.float32) if cells.ndim == 2 else norm(cells).sum(axis=-1)
    content = sampled.std(axis=1)
    first = _separated_top(content, (rows, cols), (budget + 1) // 2)
    free = np.ones(rows * cols, bool)
    free[first] = False
    rest = np.flatnonzero(free)
    spread = rest[np.linspace(0, len(rest) - 1, min(budget - len(first), len(rest))).astype(int)]
    chosen = np.sort(np.concatenate([first, spread]).astype(int)) if len(rest) else first
    rc = np.asarray([divmod(int(k), cols) for k in chosen], np.int64).reshape(-1, 2)
    corners = rc * native + np.asarray([oy, ox])
    crops = norm(np.stack([image[y : y + native, x : x + native] for y, x in corners]))
    out = np.empty((len(chosen), 3, patch_px, patch_px), np.float32)
    if native <= patch_px:  # growing: one linear map for every crop at once
        w = _linear_resampler(native, patch_px)
        grown = np.einsum("ij,bjk...,lk->bil...", w, crops, w, optimize=True)
        out[:] = grown[:, None] if grown.ndim == 3 else np.moveaxis(grown, -1, 1)
    else:
        for i, crop in enumerate(crops):
            out[i] = as_channels(resample(crop, patch_px))
    clipped = clipped_fraction(out[:, 0], sampled, norm) if image.ndim == 2 else np.zeros(len(out))
    return Patches(
        out, corners + native // 2, native, (rows, cols), np.asarray(clipped, np.float32)
    )


#: A tile saturates when more than this share of its (subsampled) pixels sit at its top value.
SATURATED_SHARE = 0.002


def clipped_fraction(patches: Array, sampled: Array, norm: Normalizer) -> NDArray[np.float64]:
    """Per (P, P) mono patch, the share of its pixels at the tile's top value, if it saturates.

    Clipping flattens a blurred spot into a sharp-edged plateau, so clipped pixels say nothing
    about focus. ``sampled`` is the tile's raw subsample, which gives the top value and says
    whether the tile saturates at all; ``norm`` brings the top value to the patches' scale.
    """
    top = sampled.max()
    if (sampled >= top).mean() <= SATURATED_SHARE:
        return np.zeros(len(patches))
    return np.asarray((patches >= norm(np.asarray(top)) - 1e-4).mean(axis=(1, 2)), np.float64)


@lru_cache(maxsize=64)
def _linear_resampler(n: int, size: int) -> NDArray[np.float32]:
    """(size, n) matrix that does what ``resample`` does along one axis when growing.

    Linear interpolation is linear, so resampling the identity gives the operator itself.
    """
    eye = np.eye(n, dtype=np.float32)
    w = ndimage.zoom(eye, (size / n, 1.0), order=1, mode="reflect", grid_mode=True)
    return np.ascontiguousarray(w[:size], dtype=np.float32)


def _separated_top(content: Array, grid: tuple[int, int], k: int) -> NDArray[np.intp]:
    """The ``k`` richest grid cells, no two touching while there are enough apart.

    Non-maximum suppression: a bright object spanning four cells gets one patch, so the budget
    reaches more objects. Suppressed cells fill in only when too few separated ones exist.
    """
    n = content.size
    # Only the richest cells can be picked before the budget runs out: each pick blocks at most
    # nine, so 9k candidates suffice; sort those alone (a 2048^2 tile has ~10,000 cells).
    m = min(n, 9 * k)
    top = np.argpartition(-content, m - 1)[:m] if m < n else np.arange(n)
    order = top[np.argsort(-content[top], kind="stable")]
    taken = np.zeros(grid, bool)
    picked: list[int] = []
    for index in order:
        r, c = divmod(int(index), grid[1])
        if not taken[max(r - 1, 0) : r + 2, max(c - 1, 0) : c + 2].any():
            taken[r, c] = True
            picked.append(int(index))
            if len(picked) == k:
                break
    fill = order[~taken.ravel()[order]][: k - len(picked)]
    return np.concatenate([np.asarray(picked, np.intp), fill.astype(np.intp)])


def resample(crop: Array, size: int) -> Array:
    """Resample a square crop (H, W) or (H, W, C) to ``size`` x ``size``."""
    out = zoom_image(crop, size / crop.shape[0])
    if out.shape[0] < size:
        raise TileError(f"resampled crop {out.shape} is smaller than {size}")
    return np.asarray(out[:size, :size], dtype=np.float32)


def tile_patches(
    image: NDArray[np.generic],
    pixel_size_um: float,
    na: float,
    wavelength_um: float,
    patch_px: int = 64,
    budget: int = 16,
    canonical: float = CANONICAL_PIXEL_PER_LAMBDA_OVER_NA,
) -> Patches:
    """Normalise a camera tile and cut its patches at canonical sampling.

    ``canonical`` is the canonical pixel in units of wavelength / NA, the model's own.
    """
    zoom = canonical_zoom(pixel_size_um, na, wavelength_um, canonical)
    return sample_patches(image, zoom, patch_px, budget)
