"""Physics of the PSF model: energy, resolution, focal shift, monotonic blur, asymmetry."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from focusqc.models.sim.optics import (
    Optics,
    OpticsError,
    best_focus_z_um,
    psf_at_defocus,
    radial_psf,
)

OIL = Optics(na=1.4, wavelength_um=0.52, n_immersion=1.518, n_sample=1.518, depth_um=0.0)
MISMATCH = OIL.with_(n_sample=1.33, depth_um=5.0)
AIR_20X = Optics(na=0.75, wavelength_um=0.46, n_immersion=1.0, n_sample=1.0)


@pytest.mark.parametrize("optics", [OIL, AIR_20X, Optics(na=0.25, wavelength_um=0.65)])
def test_energy_is_conserved_through_focus(optics: Optics) -> None:
    # Parseval: the integral of |field|^2 over the image plane equals the pupil's energy,
    # whatever the defocus, when no light is evanescent.
    dof = optics.depth_of_field_um
    r = np.linspace(0, 40 * optics.wavelength_um / optics.na + 12 * dof, 40001)
    energies = [
        np.trapezoid(2 * np.pi * r * radial_psf(optics, z, r)[0], r)
        for z in (0.0, 1 * dof, 3 * dof, -3 * dof)
    ]
    assert np.ptp(energies) / np.mean(energies) < 0.01


def test_supercritical_light_decays_in_the_sample() -> None:
    # NA 1.4 oil into water: the pupil beyond s = 1.33 is evanescent and carries less energy
    # the deeper the emitter sits.
    r = np.linspace(0, 12, 12001)

    def energy(depth: float) -> float:
        o = MISMATCH.with_(depth_um=depth)
        h = radial_psf(o, best_focus_z_um(o), r)[0]
        return float(np.trapezoid(2 * np.pi * r * h, r))

    assert energy(2.0) < 0.97 * energy(0.0)


@pytest.mark.parametrize("optics", [OIL, AIR_20X])
def test_in_focus_width_matches_airy(optics: Optics) -> None:
    r = np.linspace(0, 2 * optics.wavelength_um / optics.na, 4001)
    h = radial_psf(optics, best_focus_z_um(optics), r)[0]
    fwhm = 2 * r[np.argmax(h < h[0] / 2)]
    airy = 0.5145 * optics.wavelength_um / optics.na  # FWHM of the Airy pattern
    assert fwhm == pytest.approx(airy, rel=0.02)
    # and it resolves no better than Abbe's limit lambda / (2 NA)
    assert fwhm > optics.wavelength_um / (2 * optics.na)


def test_best_focus_is_nominal_when_matched_and_shifted_when_not() -> None:
    assert best_focus_z_um(OIL.with_(depth_um=5.0)) == pytest.approx(5.0, abs=0.01)
    shifted = best_focus_z_um(MISMATCH)
    # Oil into water: the stage must move further than the depth (focal shift n_i/n_s > 1).
    assert shifted > MISMATCH.depth_um * 1.05


@pytest.mark.parametrize("optics", [OIL, MISMATCH, AIR_20X])
def test_blur_grows_monotonically_with_defocus(optics: Optics) -> None:
    pixel = optics.wavelength_um / (4 * optics.na)
    dof = optics.depth_of_field_um
    for sign in (1.0, -1.0):
        peaks = [
            psf_at_defocus(optics, sign * d * dof, (128, 128), pixel).max()
            for d in (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
        ]
        assert all(a > b for a, b in itertools.pairwise(peaks)), peaks


@pytest.mark.parametrize("defocus_dof", [1.0, 2.0, 4.0])
def test_asymmetry_present_with_mismatch_absent_without(defocus_dof: float) -> None:
    def asymmetry(optics: Optics) -> float:
        d = defocus_dof * optics.depth_of_field_um
        pixel = optics.wavelength_um / (4 * optics.na)
        above = psf_at_defocus(optics, d, (96, 96), pixel)
        below = psf_at_defocus(optics, -d, (96, 96), pixel)
        return float(np.abs(above - below).sum())

    assert asymmetry(OIL.with_(depth_um=5.0)) < 1e-6
    assert asymmetry(MISMATCH) > 0.2


@pytest.mark.parametrize(
    ("n_immersion", "n_sample", "na"), [(1.0, 1.36, 0.75), (1.333, 1.45, 1.1), (1.518, 1.36, 1.3)]
)
def test_the_side_a_psf_shows_follows_the_sign_of_the_mismatch(
    n_immersion: float, n_sample: float, na: float
) -> None:
    """A dry objective into cells and an oil objective into cells show the side mirrored.

    Two depths of field either side of best focus, 6 um deep, the PSF's centre is brighter on
    one side (the same energy is spread either way); which one is the sign of
    ``n_sample - n_immersion``: 32x for the dry objective, 1/1.52 for oil. So one image cue means
    "above" under one objective and "below" under another.
    """
    optics = Optics(
        na=na, wavelength_um=0.52, n_immersion=n_immersion, n_sample=n_sample, depth_um=6.0
    )
    best, d = best_focus_z_um(optics), 2 * optics.depth_of_field_um
    above, below = radial_psf(optics, np.array([best + d, best - d]), np.zeros(1))[:, 0]
    log_ratio = np.log(above / below)
    assert np.sign(log_ratio) == np.sign(n_sample - n_immersion)
    assert abs(log_ratio) > 0.1


def test_matches_psfmodels_gibson_lanni() -> None:
    psfmodels = pytest.importorskip("psfmodels", reason="GPL cross-check; test-time only")
    zv = np.linspace(-12, 12, 481)
    params = {"NA": 1.4, "ni": 1.518, "ni0": 1.518, "ns": 1.33, "ng": 1.515, "ng0": 1.515}
    ref = psfmodels.scalar_psf(
        zv, nx=3, dxy=0.05, pz=5.0, wvl=0.52, params=params, normalize=False
    )[:, 1, 1]
    z_ref = zv[np.argmax(ref)]
    ours = radial_psf(MISMATCH, best_focus_z_um(MISMATCH) + (zv - z_ref), np.zeros(1))[:, 0]
    near = np.abs(zv - z_ref) < 3
    # Same axial shape about best focus, same sign convention (above/below not swapped).
    assert np.abs(ref[near] / ref.max() - ours[near] / ours.max()).mean() < 0.02


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"na": 1.4, "wavelength_um": 0.52}, "n_immersion"),
        ({"na": 0.5, "wavelength_um": 520.0}, "micrometres"),
        ({"na": 3.0, "wavelength_um": 0.5}, "numerical aperture"),
    ],
)
def test_impossible_optics_are_refused_with_the_fix(kwargs: dict[str, float], words: str) -> None:
    with pytest.raises(OpticsError, match=words):
        Optics(**kwargs)
