"""Camera and acquisition: photons in, digital numbers out.

The model, per pixel: ``photoelectrons ~ Poisson(QE * photons)``; ``ADU = offset + gain *
(photoelectrons + Normal(0, read_noise_e))``, rounded and clipped to the bit depth (saturation).
So the mean is ``offset + gain * signal_e`` and the variance ``gain**2 * (signal_e +
read_noise_e**2)`` (plus 1/12 for rounding), which the tests check.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

Array = NDArray[np.float64]


@dataclass(frozen=True)
class Camera:
    """Sensor parameters, in electrons and analogue-to-digital units (ADU)."""

    qe: float = 0.8
    read_noise_e: float = 1.5
    gain_adu_per_e: float = 1.0
    offset_adu: float = 100.0
    bit_depth: int = 16
    hot_pixel_fraction: float = 0.0

    @property
    def max_adu(self) -> int:
        """Largest value the converter writes; anything brighter saturates here."""
        return int(2**self.bit_depth - 1)


def expose(rng: np.random.Generator, photons: Array, camera: Camera) -> NDArray[np.uint16]:
    """Turn an expected-photon image into a noisy, quantised, clipped camera frame."""
    electrons = rng.poisson(np.clip(photons, 0, None) * camera.qe).astype(np.float64)
    electrons += rng.normal(0.0, camera.read_noise_e, photons.shape)
    adu = camera.offset_adu + camera.gain_adu_per_e * electrons
    if camera.hot_pixel_fraction > 0:
        hot = rng.random(photons.shape) < camera.hot_pixel_fraction
        adu[hot] += rng.uniform(0.2, 1.0, int(hot.sum())) * camera.max_adu
    return np.clip(np.rint(adu), 0, camera.max_adu).astype(np.uint16)


def illumination(rng: np.random.Generator, shape: tuple[int, int], strength: float) -> Array:
    """Smooth multiplicative shading (vignetting / uneven lamp), 1.0 at its brightest."""
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    cy, cx = rng.uniform(-0.5, 1.5) * shape[0], rng.uniform(-0.5, 1.5) * shape[1]
    r2 = ((y - cy) ** 2 + (x - cx) ** 2) / float(max(shape)) ** 2
    shade = np.exp(-strength * r2)
    return np.asarray(shade / shade.max(), dtype=np.float64)


def debris(rng: np.random.Generator, shape: tuple[int, int], count: int) -> Array:
    """Dust far out of focus (on the coverslip top or optics): soft discs, transmission < 1."""
    out = np.ones(shape)
    for _ in range(count):
        mask = np.zeros(shape)
        mask[int(rng.uniform(0, shape[0])), int(rng.uniform(0, shape[1]))] = 1.0
        blob = ndimage.gaussian_filter(mask, rng.uniform(2, 8) * max(shape) / 128, mode="wrap")
        out *= 1.0 - rng.uniform(0.1, 0.5) * blob / max(blob.max(), 1e-12)
    return out


def seam(rng: np.random.Generator, image: Array) -> Array:
    """A stitching seam: one side of a straight line scaled by a small gain step."""
    out = image.copy()
    axis = int(rng.integers(2))
    pos = int(rng.uniform(0.2, 0.8) * image.shape[axis])
    index = (slice(None), slice(pos, None)) if axis else (slice(pos, None), slice(None))
    out[index] *= rng.uniform(0.85, 1.15)
    return out


def jpeg(image_u8: NDArray[np.uint8], quality: int) -> NDArray[np.uint8]:
    """Round-trip an 8-bit image through JPEG at ``quality`` (1-95), as scanners store tiles."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image_u8).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    return np.asarray(Image.open(buf).convert(Image.fromarray(image_u8).mode), dtype=np.uint8)
