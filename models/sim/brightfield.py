"""Transmitted brightfield of stained tissue under partially coherent (Koehler) illumination.

The section is a thin complex transmission per colour channel: amplitude from Beer-Lambert
absorbance (stain optical-density vectors of Ruifrok & Johnston, 2001) and a weak phase from the
tissue's refractive-index variations. Its image is Abbe's sum of coherent images, one per source
point inside the condenser aperture; each coherent image is filtered by the objective pupil with
the defocus phase ``2*pi*dz*(sqrt((n/lambda)**2 - f**2) - n/lambda)``. Defocus therefore blurs
*and* changes contrast (phase contrast appears and reverses sign through focus), as on a real
scanner. Each colour focuses at a slightly different plane (axial chromatic aberration), which is
the brightfield cue for the side of focus.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from scipy import fft

from focusqc.models.sim import specimens

if TYPE_CHECKING:
    from focusqc.models.sim.optics import Optics

Array = NDArray[np.float64]

#: Optical density per unit stain, for red, green, blue (Ruifrok & Johnston 2001).
STAIN_OD = {
    "hematoxylin": np.array([0.65, 0.70, 0.29]),
    "eosin": np.array([0.07, 0.99, 0.11]),
    "dab": np.array([0.27, 0.57, 0.78]),
}
#: Centre wavelengths of the red, green and blue camera channels, micrometres.
CHANNEL_WAVELENGTH_UM = np.array([0.61, 0.54, 0.47])


def stained_section(
    rng: np.random.Generator, shape: tuple[int, int], pixel_um: float, density: float, stain: str
) -> tuple[Array, Array]:
    """Stain concentrations (counterstain nuclei, second stain) and structure map of a section."""
    if density <= 0:
        return np.zeros((2, *shape)), np.zeros(shape)
    # Tissue nuclei are 5-9 um across, smaller than cultured cells' and more crowded.
    nuclei = specimens.nuclei(rng, shape, pixel_um, density * 6.0, radius_um=(2.5, 4.5)) * 1.2
    stroma = specimens.tissue(rng, shape, pixel_um, min(density, 1.5))
    fibres = specimens.filaments(rng, shape, pixel_um, density * 0.3)
    holes = specimens.band_noise(rng, shape, pixel_um, 25.0) > rng.uniform(0.8, 2.0)
    second = (0.35 + 0.6 * stroma + 0.8 * np.clip(fibres, 0, 1)) * ~holes
    if stain == "ihc":
        second = second * (specimens.band_noise(rng, shape, pixel_um, 10.0) > 0.5)
    counter = nuclei * ~holes
    structure = np.clip(counter + 0.5 * np.abs(second - second.mean()), 0, None)
    return np.stack([counter, second]), structure


def _coherent_intensity(
    spectrum: NDArray[np.complex64], pupil: NDArray[np.complex64], shifts: list[tuple[int, int]]
) -> Array:
    """Abbe sum: mean over source points of |IFFT(T(f) P(f + f_source))|^2.

    Single precision is ample for an 8-bit colour camera and halves the cost.
    """
    out = np.zeros(spectrum.shape)
    for sy, sx in shifts:
        field = fft.ifft2(spectrum * np.roll(pupil, (sy, sx), axis=(0, 1)), overwrite_x=True)
        out += field.real**2 + field.imag**2
    return out / len(shifts)


def image_section(
    concentrations: Array,
    optics: Optics,
    defocus_um: float,
    pixel_um: float,
    stain: str,
    chromatic_um: Array,
    phase_rad: float,
) -> Array:
    """Intensity transmitted through the section at one defocus, RGB on the simulation grid."""
    second = STAIN_OD["dab" if stain == "ihc" else "eosin"]
    od = (
        concentrations[0][None] * STAIN_OD["hematoxylin"][:, None, None]
        + concentrations[1][None] * second[:, None, None]
    )
    phase = phase_rad * (concentrations[0] + 0.5 * concentrations[1])
    shape = concentrations.shape[1:]
    fy = np.fft.fftfreq(shape[0], pixel_um)[:, None]
    fx = np.fft.fftfreq(shape[1], pixel_um)[None, :]
    f2 = fy**2 + fx**2
    df = 1.0 / (shape[0] * pixel_um), 1.0 / (shape[1] * pixel_um)
    out = np.empty((3, *shape))
    n = optics.n_immersion
    for c, lam in enumerate(CHANNEL_WAVELENGTH_UM):
        cutoff = optics.na / lam
        dz = defocus_um + chromatic_um[c]
        kz = np.sqrt(np.maximum((n / lam) ** 2 - f2, 0.0))
        pupil = (f2 <= cutoff**2) * np.exp(2j * np.pi * dz * (kz - n / lam))
        sigma = optics.condenser_na / lam
        shifts = [(0, 0)]
        if sigma > 0:
            # Centre plus a ring of six at 0.7 of the condenser radius: equal-area samples.
            shifts.extend(
                (round(0.7 * sigma * np.sin(a) / df[0]), round(0.7 * sigma * np.cos(a) / df[1]))
                for a in np.arange(6) * np.pi / 3
            )
        field = np.exp(-np.log(10) * od[c] / 2 + 1j * phase)
        out[c] = _coherent_intensity(
            fft.fft2(field.astype(np.complex64)), pupil.astype(np.complex64), shifts
        )
    return out
