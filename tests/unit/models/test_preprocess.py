"""Pre-processing: gain/offset invariance, blank tiles stay blank, patch budget and content."""

from __future__ import annotations

import numpy as np
import pytest

from focusqc.models.preprocess import (
    TileError,
    normalize,
    normalizer,
    sample_patches,
    tile_patches,
)
from focusqc.models.sim.draw import draw_spec
from focusqc.models.sim.render import render

MONO = render(draw_spec(21, "fluorescence")).image
RGB = render(draw_spec(21, "brightfield")).image


def test_camera_offset_and_gain_drop_out() -> None:
    base = normalize(MONO)
    shifted = normalize((MONO.astype(np.float64) * 3.0 + 500).astype(np.float32))
    assert np.allclose(base, shifted, atol=0.02)


def test_brightfield_becomes_optical_density_with_glass_at_zero() -> None:
    od = normalize(RGB)
    assert od.shape == RGB.shape and od.dtype == np.float32
    assert np.percentile(od, 1) >= -1e-6  # nothing brighter than the glass reference
    assert np.allclose(normalize((RGB * 0.8).astype(np.uint8)), od, atol=0.05)


def test_a_blank_tile_is_not_stretched_into_structure() -> None:
    noise = np.random.default_rng(0).poisson(100, (128, 128)).astype(np.uint16)
    assert normalize(noise).std() < 0.2


@pytest.mark.parametrize("budget", [1, 4, 16])
def test_budget_is_respected_and_content_comes_first(budget: int) -> None:
    img = np.zeros((256, 256), np.float32)
    img[150:180, 40:70] = 1.0  # one bright object in an empty field
    patches = sample_patches(img, zoom=1.0, patch_px=64, budget=budget)
    assert patches.pixels.shape == (min(budget, 16), 3, 64, 64)
    # The patch holding the object is always scored.
    assert any(abs(y - 160) < 40 and abs(x - 32) < 40 for y, x in patches.centres_px)


def test_patches_are_cut_at_canonical_sampling() -> None:
    # 20x/0.75 at 0.65 um, 460 nm: canonical pixel 0.204 um, so a 64 px patch is ~20 native px.
    patches = tile_patches(MONO, 0.65, 0.75, 0.46, patch_px=64, budget=4)
    assert patches.native_px == 21 and patches.pixels.shape[1:] == (3, 64, 64)


@pytest.mark.parametrize(
    ("tile", "words"),
    [
        (np.zeros((8, 8), np.uint16), "16x16"),
        (np.zeros((64, 64, 4), np.uint8), "alpha"),
        (np.zeros((4, 64, 64), np.uint16), "expected"),
        (np.full((64, 64), np.nan, np.float32), "NaN"),
        ([[1, 2], [3, 4]], "numpy array"),
    ],
)
def test_malformed_tiles_are_refused_with_the_reason(tile: object, words: str) -> None:
    with pytest.raises(TileError, match=words):
        normalize(tile)  # type: ignore[arg-type]


def test_one_bright_object_gets_one_patch_not_four() -> None:
    img = np.zeros((256, 256), np.float32)
    img[100:156, 100:156] = 1.0  # one object across four 64 px cells of the grid
    img[10:40, 200:230] = 0.5  # and a dimmer one elsewhere
    patches = sample_patches(img, zoom=1.0, patch_px=64, budget=3)
    centres = {tuple(c) for c in patches.centres_px.tolist()}
    # The two content picks go to two different objects, not two quarters of the bright one.
    assert any(abs(y - 25) < 40 and abs(x - 215) < 40 for y, x in centres)


def test_large_tiles_are_normalised_from_a_subsample_like_the_whole() -> None:
    rng = np.random.default_rng(1)
    big = (rng.poisson(50, (2048, 2048)) + 100).astype(np.uint16)
    big[500:900, 500:900] += 2000
    sub = normalizer(big)
    f = big.astype(np.float64)
    lo, hi = np.percentile(f, [1.0, 99.9])
    assert abs(float(sub.lo) - lo) <= 2 and abs(sub.scale - (hi - lo)) / (hi - lo) < 0.02


def test_both_onnxruntime_distributions_installed_are_named_with_the_fix() -> None:
    from focusqc.models.scorer import installed_distributions, runtime_conflict

    message = runtime_conflict({"numpy", "onnxruntime", "onnxruntime-gpu"})
    assert message is not None and "pip uninstall" in message
    assert runtime_conflict({"numpy", "onnxruntime"}) is None
    assert "numpy" in installed_distributions()


def test_clipped_pixels_are_counted_only_where_the_tile_saturates() -> None:
    rng = np.random.default_rng(1)
    img = rng.poisson(200, (256, 256)).astype(np.float64)
    img[20:100, 20:100] += 5000.0  # a bright object; the camera clips it at 4095 below
    clipped = sample_patches(np.minimum(img, 4095).astype(np.uint16), 1.0, budget=16).clipped
    # The object covers 44 x 44 pixels of the 64 x 64 grid cell at the corner.
    assert clipped.max() == pytest.approx(44 * 44 / 64**2) and np.median(clipped) == 0.0
    unsaturated = sample_patches(img.astype(np.uint16), 1.0, budget=16)
    assert not unsaturated.clipped.any()
    assert not sample_patches(RGB, 1.0, budget=4).clipped.any()  # white glass is not clipping
