"""Tile pre-processing for the focus model: pure numpy, shared by training and scoring.

1. ``normalize``: camera offset and gain drop out. Fluorescence (mono) becomes
   ``(I - background) / range``; transmitted brightfield (RGB) becomes optical density relative
   to the glass, so both are "signal above a zero background" on a comparable scale.
2. ``sample_patches``: square patches of ``patch_px`` canonical pixels, cut from the native image
   and each resampled alone (cheap on large tiles). The budget goes first to the patches with
   most content, then to an even spread, so a sparse field is not scored on empty glass alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from focusqc.models.sampling import canonical_zoom, zoom_image

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


def normalize(image: NDArray[np.generic]) -> Array:
    """Offset- and gain-free tile as float32 (H, W), or (H, W, 3) optical density for RGB."""
    check_tile(image)
    f = image.astype(np.float32)
    if f.ndim == 2:
        lo, hi = np.percentile(f, [1.0, 99.9])
        # The range never falls below the shot noise of the background, so a blank tile stays
        # noise-like rather than being stretched into fake structure.
        floor = 4.0 * float(np.sqrt(max(np.median(f) - lo, 1.0)))
        scaled = np.clip((f - lo) / max(hi - lo, floor, 1e-6), -0.5, 4.0)
        return np.asarray(scaled, dtype=np.float32)
    glass = np.maximum(np.percentile(f, 99.0, axis=(0, 1)), 1.0)
    od = -np.log10(np.clip(f / glass, 1e-3, 1.0))
    return (od / 1.5).astype(np.float32)


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


def native_patch_px(patch_px: int, zoom: float) -> int:
    """Side, in camera pixels, of a patch that is ``patch_px`` canonical pixels at ``zoom``.

    Training and scoring both cut patches of this size, so they must agree on it.
    """
    return max(int(np.ceil(patch_px / zoom)), 4)


def sample_patches(normalized: Array, zoom: float, patch_px: int = 64, budget: int = 16) -> Patches:
    """Cut up to ``budget`` patches from a grid over the tile; see the module docstring."""
    if budget < 1:
        raise TileError(f"budget={budget}: score at least one patch")
    native = native_patch_px(patch_px, zoom)
    h, w = normalized.shape[:2]
    if native > min(h, w):
        raise TileError(
            f"tile {h}x{w} is smaller than one patch ({native} native pixels at zoom {zoom:.2f}):"
            " check the pixel size, NA and wavelength"
        )
    rows, cols = max(h // native, 1), max(w // native, 1)
    oy, ox = (h - rows * native) // 2, (w - cols * native) // 2
    mono = normalized if normalized.ndim == 2 else normalized.sum(axis=-1)
    blocks = mono[oy : oy + rows * native, ox : ox + cols * native]
    content = blocks.reshape(rows, native, cols, native).std(axis=(1, 3)).ravel()
    order = np.argsort(-content, kind="stable")
    first = order[: (budget + 1) // 2]
    rest = np.setdiff1d(np.arange(rows * cols), first)
    spread = rest[np.linspace(0, len(rest) - 1, min(budget - len(first), len(rest))).astype(int)]
    chosen = np.sort(np.concatenate([first, spread]).astype(int)) if len(rest) else first
    out = np.empty((len(chosen), 3, patch_px, patch_px), np.float32)
    centres = np.empty((len(chosen), 2), np.int64)
    for i, k in enumerate(chosen):
        r, c = divmod(int(k), cols)
        y, x = oy + r * native, ox + c * native
        crop = normalized[y : y + native, x : x + native]
        out[i] = as_channels(resample(crop, patch_px))
        centres[i] = (y + native // 2, x + native // 2)
    return Patches(out, centres, native, (rows, cols))


def resample(crop: Array, size: int) -> Array:
    """Resample a square crop to ``size`` x ``size``."""
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
) -> Patches:
    """Normalise a camera tile and cut its patches at canonical sampling."""
    zoom = canonical_zoom(pixel_size_um, na, wavelength_um)
    return sample_patches(normalize(image), zoom, patch_px, budget)
