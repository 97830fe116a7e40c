"""Widefield point-spread functions from a scalar Gibson-Lanni pupil model.

Conventions (used everywhere in focusqc):

* ``z_um`` is the *nominal* focal position: how far the stage has moved the focal plane above the
  coverslip, counted in stage units. It is what a z drive reads.
* ``defocus_um`` is ``z_um`` minus the z at which the emitter looks sharpest (the true best
  focus, found numerically, not the nominal one). Positive means the focal plane is above (deeper
  into the sample than) the object; the correcting stage move is ``-defocus_um``.
* Depth of field (the optics-free axial unit) is ``wavelength / (2 * (n - sqrt(n**2 - NA**2)))``
  with ``n = n_immersion``: the defocus that puts the same phase excursion across every pupil.
  At low NA it equals the textbook ``wavelength * n / NA**2``; at high NA it keeps one unit
  of defocus looking alike (at canonical sampling) whatever the objective, which the paraxial
  form does not (it is 1.5x off at NA 1.4 in oil).

The phase across the pupil, for a pupil coordinate ``s = NA * rho`` (the optical direction sine
times index, conserved across the interfaces), is::

    phi(s) = k0 * (depth * sqrt(n_sample**2 - s**2) - z * sqrt(n_immersion**2 - s**2))

With ``n_sample == n_immersion`` this is pure defocus about ``z == depth`` and the PSF is
symmetric. With an index mismatch the first term adds spherical aberration, which makes the PSF
differ above and below focus. Where ``s > n_sample`` the square root is imaginary (positive
branch) and the wave decays across the sample: light beyond the critical angle is evanescent.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from scipy.special import j0

from focusqc.models.sampling import canonical_pixel_um, depth_of_field_um

Array = NDArray[np.float64]

IMMERSION_INDEX = {"air": 1.0, "water": 1.333, "glycerol": 1.47, "oil": 1.518}


class OpticsError(ValueError):
    """Optical parameters that no microscope has."""


@dataclass(frozen=True)
class Optics:
    """The objective, the sample and the camera sampling of one acquisition.

    Parameters
    ----------
    na
        Numerical aperture of the objective, 0.1-1.5; it may not exceed ``n_immersion``.
    wavelength_um
        Emission (fluorescence) or centre (brightfield) wavelength in micrometres.
    n_immersion
        Refractive index of the immersion medium (air 1.0, water 1.333, oil 1.518).
    n_sample
        Refractive index of the sample; differs from ``n_immersion`` for an index mismatch.
    depth_um
        Depth of the imaged plane below the coverslip, micrometres.
    pixel_size_um
        Camera pixel size referred to the sample plane, micrometres.
    """

    na: float
    wavelength_um: float
    n_immersion: float = 1.0
    n_sample: float = 1.0
    depth_um: float = 0.0
    pixel_size_um: float = 0.1
    condenser_na: float = field(default=0.0)

    def __post_init__(self) -> None:
        """Reject parameters no objective has, naming the fix."""
        if not 0.05 <= self.na <= 1.5:
            raise OpticsError(f"na={self.na}: a numerical aperture lies between 0.05 and 1.5")
        if self.na > self.n_immersion:
            raise OpticsError(
                f"na={self.na} exceeds n_immersion={self.n_immersion}: use an immersion medium "
                "of higher index (water 1.333, oil 1.518) or a lower NA"
            )
        if not 0.3 <= self.wavelength_um <= 1.2:
            raise OpticsError(
                f"wavelength_um={self.wavelength_um}: give the wavelength in micrometres "
                "(0.52 for 520 nm)"
            )
        if self.pixel_size_um <= 0 or self.depth_um < 0 or self.n_sample < 1.0:
            raise OpticsError(
                "pixel_size_um must be > 0, depth_um >= 0 and n_sample >= 1.0; got "
                f"{self.pixel_size_um}, {self.depth_um}, {self.n_sample}"
            )

    @property
    def k0(self) -> float:
        """Vacuum wavenumber, radians per micrometre."""
        return 2.0 * np.pi / self.wavelength_um

    @property
    def depth_of_field_um(self) -> float:
        """The optics-free axial unit of defocus labels (see the module docstring)."""
        return depth_of_field_um(self.na, self.wavelength_um, self.n_immersion)

    @property
    def canonical_pixel_um(self) -> float:
        """Pixel size of the canonical sampling, relative to the diffraction limit."""
        return canonical_pixel_um(self.na, self.wavelength_um)

    def with_(self, **changes: float) -> Optics:
        """Return a copy with some fields changed."""
        return replace(self, **changes)


#: A 20x/0.75 dry objective on Hoechst-stained cells 3 um deep in medium, 0.65 um pixels: the
#: optics of BBBC006 and of the simulated microscope.
DRY_20X = Optics(
    na=0.75, wavelength_um=0.461, n_immersion=1.0, n_sample=1.36, depth_um=3.0, pixel_size_um=0.65
)


def _pupil_samples(optics: Optics, z_span_um: float) -> tuple[Array, Array]:
    """Midpoint samples of the normalised pupil radius, dense enough for the phase to vary."""
    # Largest phase excursion across the pupil sets how finely it must be sampled.
    n_max = max(optics.n_immersion, optics.n_sample)
    cycles = (
        optics.k0
        * (abs(z_span_um) + optics.depth_um)
        * (n_max - np.sqrt(max(n_max**2 - optics.na**2, 0.0)))
        / (2 * np.pi)
    )
    n = int(np.clip(16 * cycles + 128, 128, 4096))
    rho = (np.arange(n) + 0.5) / n
    return rho, np.full(n, 1.0 / n)


def pupil_phase(optics: Optics, z_um: float | Array, rho: Array) -> NDArray[np.complex128]:
    """Complex pupil factor ``exp(i * phi)`` for nominal focus ``z_um`` (planes along axis 0)."""
    s = optics.na * rho
    kz_sample = np.sqrt((optics.n_sample**2 - s**2).astype(np.complex128))
    kz_imm = np.sqrt(optics.n_immersion**2 - s**2)
    z = np.atleast_1d(np.asarray(z_um, dtype=np.float64))[:, None]
    # The principal complex root has a non-negative imaginary part: beyond the critical angle
    # exp(i*k0*depth*kz) = exp(-k0*depth*|kz|) decays, it never grows.
    phase = optics.k0 * (optics.depth_um * kz_sample[None, :] - z * kz_imm[None, :])
    return np.asarray(np.exp(1j * phase), dtype=np.complex128)


def radial_psf(optics: Optics, z_um: float | Array, r_um: Array) -> Array:
    """Unnormalised intensity PSF ``h(r)`` at each nominal focus (rows) and radius (columns).

    The integral ``|int_0^1 P(rho) J0(k0 NA rho r) rho drho|^2`` is a matrix product: one
    1-D radial sum instead of a 2-D pupil transform.
    """
    z_arr = np.atleast_1d(np.asarray(z_um, dtype=np.float64))
    rho, w = _pupil_samples(optics, float(np.max(np.abs(z_arr - optics.depth_um))))
    pupil = pupil_phase(optics, z_arr, rho) * (rho * w)[None, :]
    bessel = j0(optics.k0 * optics.na * np.outer(rho, r_um))
    field_ = pupil @ bessel
    return np.asarray(np.abs(field_) ** 2, dtype=np.float64)


@lru_cache(maxsize=32)
def _radius_grid(shape: tuple[int, int], pixel_um: float) -> Array:
    """Distance of each pixel of a periodic grid from index (0, 0), micrometres."""
    yy = np.fft.fftfreq(shape[0], 1.0 / shape[0]) * pixel_um
    xx = np.fft.fftfreq(shape[1], 1.0 / shape[1]) * pixel_um
    return np.asarray(np.hypot(yy[:, None], xx[None, :]), dtype=np.float64)


def psf_2d(optics: Optics, z_um: float | Array, shape: tuple[int, int], pixel_um: float) -> Array:
    """PSF sampled on a periodic pixel grid centred at index (0, 0), normalised to unit sum.

    Several ``z_um`` values give their mean: the PSF of a uniform slab spanning those planes.
    Values are point samples: the renderer integrates over camera pixels by summing an
    oversampled grid. Beyond the geometric blur radius plus ten Airy radii the PSF is set to 0.
    """
    z = np.atleast_1d(np.asarray(z_um, dtype=np.float64))
    r = _radius_grid(shape, pixel_um)
    sin_max = min(optics.na / min(optics.n_sample, optics.n_immersion), 0.995)
    blur = float(np.abs(z - optics.depth_um).max()) * sin_max / np.sqrt(1 - sin_max**2)
    r_max = min(float(r.max()), 1.5 * blur + 10 * optics.wavelength_um / optics.na)
    r_grid = np.arange(0, r_max + pixel_um, pixel_um / 2)
    profile = radial_psf(optics, z, r_grid).mean(axis=0)
    img = np.interp(r, r_grid, profile, right=0.0)
    total = img.sum()
    if total <= 0:
        raise OpticsError(f"PSF vanished for {optics} at z={z_um} um")
    return np.asarray(img / total, dtype=np.float64)


@lru_cache(maxsize=512)
def best_focus_z_um(optics: Optics) -> float:
    """Nominal z at which the on-axis intensity peaks: the true best focus.

    With matched indices it equals ``depth_um``; with a mismatch it shifts (the focal shift).
    Found on a coarse grid, then refined by a parabola through the best three samples.
    """
    dof = optics.depth_of_field_um
    guess = optics.depth_um * optics.n_immersion / optics.n_sample
    lo = min(guess, optics.depth_um) - 4 * dof
    hi = max(guess, optics.depth_um) + 4 * dof
    for _ in range(3):
        z = np.linspace(lo, hi, 81)
        peak = radial_psf(optics, z, np.zeros(1))[:, 0]
        i = int(np.clip(np.argmax(peak), 1, len(z) - 2))
        lo, hi = z[i - 1], z[i + 1]
    y0, y1, y2 = radial_psf(optics, np.array([lo, (lo + hi) / 2, hi]), np.zeros(1))[:, 0]
    denom = y0 - 2 * y1 + y2
    step = (hi - lo) / 2
    offset = 0.0 if denom == 0 else 0.5 * (y0 - y2) / denom * step
    return float((lo + hi) / 2 + np.clip(offset, -step, step))


def psf_at_defocus(
    optics: Optics, defocus_um: float | Array, shape: tuple[int, int], pixel_um: float
) -> Array:
    """PSF for a defocus measured from the true best focus (several: their slab mean)."""
    return psf_2d(optics, best_focus_z_um(optics) + defocus_um, shape, pixel_um)
