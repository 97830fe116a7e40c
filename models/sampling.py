"""Canonical sampling: one pixel size relative to the diffraction limit, whatever the objective.

A focus model trained once at this sampling serves 10x to 100x objectives: an image is resampled
so that its pixel is ``CANONICAL_PIXEL_PER_LAMBDA_OVER_NA * wavelength / NA``. Then the in-focus
PSF spans the same number of pixels, and blur in pixels maps to defocus in depth-of-field units.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

if TYPE_CHECKING:
    from numpy.typing import NDArray

#: Canonical pixel in units of wavelength / NA (the Nyquist pixel of the incoherent OTF is 1/4).
CANONICAL_PIXEL_PER_LAMBDA_OVER_NA = 1.0 / 3.0


class SamplingError(ValueError):
    """The image or optics cannot be brought to canonical sampling."""


def canonical_pixel_um(
    na: float, wavelength_um: float, per_lambda_over_na: float = CANONICAL_PIXEL_PER_LAMBDA_OVER_NA
) -> float:
    """Canonical pixel size in micrometres for an objective and wavelength.

    ``per_lambda_over_na`` is the sampling a model was trained at (its metadata says which).
    """
    if na <= 0 or wavelength_um <= 0:
        raise SamplingError(f"na={na}, wavelength_um={wavelength_um}: both must be > 0")
    return per_lambda_over_na * wavelength_um / na


def depth_of_field_um(na: float, wavelength_um: float, n_immersion: float = 1.0) -> float:
    """The optics-free axial unit: ``lambda / (2 (n - sqrt(n**2 - NA**2)))``.

    It is the defocus that puts the same phase excursion across every pupil: the textbook
    ``lambda * n / NA**2`` at low NA, and still comparable across objectives at high NA.
    """
    if not 0 < na <= n_immersion:
        raise SamplingError(f"na={na} must be > 0 and not exceed n_immersion={n_immersion}")
    return float(wavelength_um / (2.0 * (n_immersion - np.sqrt(n_immersion**2 - na**2))))


def canonical_zoom(
    pixel_size_um: float,
    na: float,
    wavelength_um: float,
    per_lambda_over_na: float = CANONICAL_PIXEL_PER_LAMBDA_OVER_NA,
) -> float:
    """Factor by which an image's side grows when brought to canonical sampling."""
    if pixel_size_um <= 0:
        raise SamplingError(f"pixel_size_um={pixel_size_um}: must be > 0 (micrometres per pixel)")
    return pixel_size_um / canonical_pixel_um(na, wavelength_um, per_lambda_over_na)


def zoom_image(image: NDArray[np.floating], zoom: float) -> NDArray[np.float32]:
    """Resample (H, W) or (H, W, C) by ``zoom``: anti-aliased when shrinking, linear always.

    Shrinking first low-passes with a Gaussian of ``0.5 / zoom`` pixels, so nothing aliases;
    growing interpolates linearly and adds no detail the camera did not record.
    """
    img = np.asarray(image, dtype=np.float32)
    colour = (1.0,) if img.ndim == 3 else ()
    if zoom < 1.0:
        img = ndimage.gaussian_filter(
            img, (0.5 / zoom, 0.5 / zoom, *(0.0,) * len(colour)), mode="reflect"
        )
    if abs(zoom - 1.0) < 1e-3:
        return img
    out = ndimage.zoom(img, (zoom, zoom, *colour), order=1, mode="reflect", grid_mode=True)
    return np.asarray(out, dtype=np.float32)


def to_canonical(
    image: NDArray[np.generic], pixel_size_um: float, na: float, wavelength_um: float
) -> NDArray[np.float32]:
    """Resample a 2-D (H, W) or colour (H, W, C) image to canonical sampling."""
    img = np.asarray(image, dtype=np.float32)
    if img.ndim not in (2, 3):
        raise SamplingError(f"image has shape {img.shape}: expected (H, W) or (H, W, C)")
    return zoom_image(img, canonical_zoom(pixel_size_um, na, wavelength_um))
