"""Camera statistics: shot + read noise, gain, offset, quantisation, saturation, hot pixels."""

from __future__ import annotations

import numpy as np
import pytest

from focusqc.models.sim.camera import Camera, expose, jpeg


@pytest.mark.parametrize(
    ("photons", "camera"),
    [
        (50.0, Camera(qe=0.8, read_noise_e=2.0, gain_adu_per_e=1.0, offset_adu=100.0)),
        (400.0, Camera(qe=0.6, read_noise_e=6.0, gain_adu_per_e=0.5, offset_adu=300.0)),
        (5.0, Camera(qe=0.9, read_noise_e=1.0, gain_adu_per_e=4.0, offset_adu=100.0)),
    ],
)
def test_mean_and_variance_of_shot_and_read_noise(photons: float, camera: Camera) -> None:
    frame = expose(np.random.default_rng(1), np.full((400, 400), photons), camera)
    signal_e = photons * camera.qe
    mean = camera.offset_adu + camera.gain_adu_per_e * signal_e
    var = camera.gain_adu_per_e**2 * (signal_e + camera.read_noise_e**2) + 1 / 12
    assert frame.mean() == pytest.approx(mean, rel=0.005)
    assert frame.var() == pytest.approx(var, rel=0.03)


def test_quantisation_and_saturation_follow_bit_depth() -> None:
    cam = Camera(gain_adu_per_e=10.0, offset_adu=5.0, bit_depth=8)
    frame = expose(np.random.default_rng(0), np.full((64, 64), 1000.0), cam)
    assert frame.max() == 255 and (frame == 255).mean() > 0.99
    dark = expose(np.random.default_rng(0), np.zeros((64, 64)), cam)
    assert np.issubdtype(dark.dtype, np.integer) and dark.min() >= 0


def test_hot_pixels_appear_at_their_rate() -> None:
    cam = Camera(hot_pixel_fraction=1e-3, bit_depth=12)
    frame = expose(np.random.default_rng(2), np.full((500, 500), 10.0), cam)
    assert (frame > 0.15 * cam.max_adu).mean() == pytest.approx(1e-3, rel=0.2)


def test_jpeg_round_trip_keeps_shape_and_loses_detail() -> None:
    rng = np.random.default_rng(3)
    img = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    out = jpeg(img, 20)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - img).mean() > 5
