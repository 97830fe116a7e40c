"""Image corruptions at five controlled severities, for the robustness benchmark.

The list follows the categories of the robustness assay for fluorescence microscopy of Zhong, Li
and Yang (BMC Bioinformatics 25:269, 2024): noise, blur, intensity and contrast, and compression,
adapted to focus QC. Defocus blur itself is left out: it is the quantity being measured, not a
corruption of it. Each function takes a camera frame (any integer dtype, mono or RGB) and returns
one of the same dtype and shape; severity runs from 1 (mild) to 5 (severe).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

Image = NDArray[np.integer]
Corruption = Callable[[np.random.Generator, Image, int], Image]


def _limits(image: Image) -> tuple[float, float]:
    info = np.iinfo(image.dtype)
    return float(info.min), float(info.max)


def _finish(value: NDArray[np.float64], like: Image) -> Image:
    lo, hi = _limits(like)
    return np.clip(np.rint(value), lo, hi).astype(like.dtype)


def _level(severity: int, values: tuple[float, ...]) -> float:
    if not 1 <= severity <= len(values):
        raise ValueError(f"severity={severity}: choose 1 to {len(values)}")
    return values[severity - 1]


def _spread(image: Image) -> tuple[float, float]:
    """Robust background and signal range of a frame."""
    f = image.astype(np.float64)
    lo, hi = np.percentile(f, [5, 99.5])
    return float(lo), float(max(hi - lo, 1.0))


def poisson_gaussian_noise(rng: np.random.Generator, image: Image, severity: int) -> Image:
    """Extra shot and read noise, as from a shorter exposure with the same gain."""
    photons = _level(severity, (60.0, 25.0, 10.0, 4.0, 1.5))
    lo, span = _spread(image)
    f = image.astype(np.float64)
    scaled = np.clip(f - lo, 0, None) / span * photons
    noisy = rng.poisson(scaled) / photons * span + rng.normal(0, 0.02 * span, f.shape)
    return _finish(lo + noisy, image)


def impulse_noise(rng: np.random.Generator, image: Image, severity: int) -> Image:
    """Hot and dead pixels (salt and pepper)."""
    fraction = _level(severity, (0.001, 0.003, 0.01, 0.03, 0.08))
    lo, hi = _limits(image)
    out = image.copy()
    hit = rng.random(image.shape[:2]) < fraction
    values = np.where(rng.random(int(hit.sum())) < 0.5, lo, hi)
    out[hit] = values[:, None] if image.ndim == 3 else values
    return out


def motion_blur(rng: np.random.Generator, image: Image, severity: int) -> Image:
    """Stage still moving during the exposure: a straight streak."""
    length = int(_level(severity, (3, 5, 9, 15, 25)))
    kernel = np.zeros((length, length))
    kernel[length // 2, :] = 1.0 / length
    kernel = ndimage.rotate(kernel, rng.uniform(0, 180), reshape=False, order=1)
    kernel /= kernel.sum()
    f = image.astype(np.float64)
    if f.ndim == 3:
        kernel = kernel[:, :, None]
    return _finish(ndimage.convolve(f, kernel, mode="reflect"), image)


def low_contrast(rng: np.random.Generator, image: Image, severity: int) -> Image:
    """Contrast squeezed toward the mean (stray light, flare)."""
    keep = _level(severity, (0.6, 0.4, 0.25, 0.15, 0.08))
    f = image.astype(np.float64)
    return _finish(f.mean() + (f - f.mean()) * keep, image)


def dim(rng: np.random.Generator, image: Image, severity: int) -> Image:
    """Underexposure: the signal scaled down toward the camera offset, then requantised."""
    scale = _level(severity, (0.5, 0.25, 0.12, 0.06, 0.03))
    lo, _ = _spread(image)
    return _finish(lo + (image.astype(np.float64) - lo) * scale, image)


def overexposure(rng: np.random.Generator, image: Image, severity: int) -> Image:
    """Overexposure: gain up until the brightest structures saturate."""
    gain = _level(severity, (1.5, 2.5, 4.0, 7.0, 12.0))
    lo, span = _spread(image)
    _, top = _limits(image)
    f = lo + (image.astype(np.float64) - lo) * gain * (top - lo) / (span * 1.2 + lo)
    return _finish(f, image)


def uneven_illumination(rng: np.random.Generator, image: Image, severity: int) -> Image:
    """Strong vignetting / off-centre lamp."""
    strength = _level(severity, (0.5, 1.0, 2.0, 3.5, 6.0))
    h, w = image.shape[:2]
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    cy, cx = rng.uniform(-0.3, 1.3, 2)
    shade = np.exp(-strength * ((y - cy) ** 2 + (x - cx) ** 2))
    shade /= shade.max()
    lo, _ = _spread(image)
    if image.ndim == 3:
        shade = shade[:, :, None]
    return _finish(lo + (image.astype(np.float64) - lo) * shade, image)


def background(rng: np.random.Generator, image: Image, severity: int) -> Image:
    """A smooth additive background (autofluorescence, room light)."""
    amount = _level(severity, (0.1, 0.25, 0.5, 1.0, 2.0))
    _lo, span = _spread(image)
    h, w = image.shape[:2]
    blob = ndimage.gaussian_filter(rng.random((h, w)), max(h, w) / 6, mode="wrap")
    blob = (blob - blob.min()) / max(np.ptp(blob), 1e-12)
    add = amount * span * (0.5 + blob)
    return _finish(image.astype(np.float64) + (add[:, :, None] if image.ndim == 3 else add), image)


def jpeg_compression(rng: np.random.Generator, image: Image, severity: int) -> Image:
    """JPEG round trip at falling quality (8-bit view of the frame)."""
    from focusqc.models.sim.camera import jpeg

    quality = int(_level(severity, (80, 60, 40, 20, 8)))
    lo, span = _spread(image)
    u8 = np.clip((image.astype(np.float64) - lo) / span * 255, 0, 255).astype(np.uint8)
    return _finish(lo + jpeg(u8, quality).astype(np.float64) / 255 * span, image)


def pixelate(rng: np.random.Generator, image: Image, severity: int) -> Image:
    """Undersampling: block-average then nearest-neighbour upsample."""
    block = int(_level(severity, (2, 2, 3, 4, 6)))
    h, w = image.shape[:2]
    f = image.astype(np.float64)
    hh, ww = h // block * block, w // block * block
    small = (
        f[:hh, :ww].reshape(hh // block, block, ww // block, block, *f.shape[2:]).mean(axis=(1, 3))
    )
    out = f.copy()
    out[:hh, :ww] = np.repeat(np.repeat(small, block, 0), block, 1)
    return _finish(out, image)


CORRUPTIONS: dict[str, Corruption] = {
    "poisson_gaussian_noise": poisson_gaussian_noise,
    "impulse_noise": impulse_noise,
    "motion_blur": motion_blur,
    "low_contrast": low_contrast,
    "dim": dim,
    "overexposure": overexposure,
    "uneven_illumination": uneven_illumination,
    "background": background,
    "jpeg_compression": jpeg_compression,
    "pixelate": pixelate,
}


def corrupt(image: Image, name: str, severity: int, seed: int = 0) -> Image:
    """Apply the named corruption at a severity from 1 to 5, deterministically from ``seed``."""
    if name not in CORRUPTIONS:
        raise KeyError(f"unknown corruption {name!r}; choose one of {sorted(CORRUPTIONS)}")
    return CORRUPTIONS[name](np.random.default_rng(seed), image, severity)
