"""Canonical sampling: one pixel relative to the diffraction limit for every objective."""

from __future__ import annotations

import numpy as np
import pytest

from focusqc.models.sampling import SamplingError, canonical_pixel_um, canonical_zoom, to_canonical
from focusqc.models.sim.optics import Optics, psf_at_defocus


@pytest.mark.parametrize(
    ("pixel_um", "na", "wavelength_um", "side"),
    [
        (0.65, 0.75, 0.46, 520 * 0.65 / (0.46 / 3 / 0.75)),  # 20x/0.75 grows
        (0.065, 1.45, 0.52, 520 * 0.065 / (0.52 / 3 / 1.45)),  # 100x/1.45 shrinks
    ],
)
def test_output_size_follows_the_zoom(
    pixel_um: float, na: float, wavelength_um: float, side: float
) -> None:
    out = to_canonical(np.ones((520, 520), np.uint16), pixel_um, na, wavelength_um)
    assert out.shape[0] == pytest.approx(side, abs=1)
    assert out.dtype == np.float32


@pytest.mark.parametrize("defocus_dof", [0.5, 1.0, 2.0, 4.0])
def test_a_defocused_psf_looks_alike_at_canonical_sampling_whatever_the_objective(
    defocus_dof: float,
) -> None:
    # The same defocus in depth-of-field units, imaged by three objectives at their own pixel
    # sizes, gives nearly the same blur at canonical sampling: what the model relies on.
    widths = []
    for na, n, pixel in ((0.3, 1.0, 0.2), (0.75, 1.0, 0.1), (1.4, 1.518, 0.04)):
        optics = Optics(na=na, wavelength_um=0.52, n_immersion=n, n_sample=n)
        psf = psf_at_defocus(optics, defocus_dof * optics.depth_of_field_um, (301, 301), pixel)
        canon = to_canonical(np.fft.fftshift(psf), pixel, na, 0.52)
        canon /= canon.sum()
        y, x = np.indices(canon.shape)
        cy, cx = (np.array(canon.shape) - 1) / 2
        widths.append(float(np.sqrt((canon * ((y - cy) ** 2 + (x - cx) ** 2)).sum())))
    assert max(widths) / min(widths) < 1.15, widths


def test_depth_of_field_is_the_textbook_one_at_low_na() -> None:
    low = Optics(na=0.1, wavelength_um=0.5)
    assert low.depth_of_field_um == pytest.approx(0.5 * 1.0 / 0.1**2, rel=0.01)


def test_rgb_keeps_its_channels_and_shrinking_does_not_alias() -> None:
    stripes = np.tile(np.array([0, 255], np.uint8), (64, 32))[..., None].repeat(3, -1)
    out = to_canonical(stripes, 0.05, 0.5, 0.55)  # zoom ~0.14: stripes must average out
    assert out.shape[-1] == 3 and out.std() < 5


def test_bad_input_names_the_problem() -> None:
    with pytest.raises(SamplingError, match="pixel_size_um"):
        canonical_zoom(0.0, 0.75, 0.5)
    with pytest.raises(SamplingError, match="shape"):
        to_canonical(np.zeros((2, 3, 4, 5)), 0.1, 0.75, 0.5)
    assert canonical_pixel_um(1.0, 0.6) == pytest.approx(0.2)
