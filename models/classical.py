"""Classical focus measures, the baselines a user would otherwise reach for.

Micro-Manager's autofocus sharpness scores (normalized variance, Brenner gradient, Tenengrad,
variance of the Laplacian) and CellProfiler's PowerLogLogSlope. Each takes a 2-D float image
and returns one number that grows as the image gets sharper. They rank the planes of one field
well; across fields they also respond to content, brightness and noise, which is what the
evaluation measures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

if TYPE_CHECKING:
    from collections.abc import Callable

    from numpy.typing import NDArray

    Image = NDArray[np.float64]


def normalized_variance(image: Image) -> float:
    """Variance over mean intensity (Groen et al.'s normalized variance)."""
    mean = float(image.mean())
    return float(image.var() / mean) if abs(mean) > 1e-12 else 0.0


def brenner(image: Image) -> float:
    """Mean squared difference of pixels two apart, along rows and columns."""
    dx = image[:, 2:] - image[:, :-2]
    dy = image[2:, :] - image[:-2, :]
    return float((dx**2).mean() + (dy**2).mean())


def tenengrad(image: Image) -> float:
    """Mean squared Sobel gradient magnitude."""
    gx = ndimage.sobel(image, axis=1, mode="reflect")
    gy = ndimage.sobel(image, axis=0, mode="reflect")
    return float((gx**2 + gy**2).mean())


def laplacian_variance(image: Image) -> float:
    """Variance of the Laplacian."""
    return float(ndimage.laplace(image, mode="reflect").var())


def power_log_log_slope(image: Image) -> float:
    """Slope of log radial power against log spatial frequency (CellProfiler's measure).

    Blur removes high frequencies, so the slope falls (more negative) out of focus.
    """
    h, w = image.shape
    power = np.abs(np.fft.rfft2(image - image.mean())) ** 2
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    radius = np.sqrt(fy**2 + fx**2)
    edges = np.linspace(0, 0.5, min(h, w) // 2 + 1)
    which = np.digitize(radius.ravel(), edges) - 1
    valid = (which >= 1) & (which < len(edges) - 1)
    sums = np.bincount(which[valid], power.ravel()[valid], len(edges) - 1)
    counts = np.bincount(which[valid], minlength=len(edges) - 1)
    keep = (counts > 0) & (sums > 0)
    keep[0] = False
    if keep.sum() < 2:
        return 0.0
    freq = 0.5 * (edges[:-1] + edges[1:])
    slope = np.polyfit(np.log(freq[keep]), np.log(sums[keep] / counts[keep]), 1)[0]
    return float(slope)


CLASSICAL: dict[str, Callable[[Image], float]] = {
    "normalized variance": normalized_variance,
    "Brenner": brenner,
    "Tenengrad": tenengrad,
    "variance of Laplacian": laplacian_variance,
    "PowerLogLogSlope": power_log_log_slope,
}
