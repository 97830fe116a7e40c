"""Rendered tiles and their labels: determinism, blank fields, tilt, thickness, brightfield."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest

from focusqc.models.sim.camera import Camera
from focusqc.models.sim.draw import Ranges, brightfield_spec, draw_spec
from focusqc.models.sim.optics import Optics, psf_at_defocus
from focusqc.models.sim.render import TileSpec, render, slab_psf

OPTICS = Optics(
    na=0.75, wavelength_um=0.52, n_immersion=1.0, n_sample=1.33, depth_um=3.0, pixel_size_um=0.25
)
BASE = TileSpec(
    seed=7,
    modality="fluorescence",
    specimen="nuclei",
    optics=OPTICS,
    camera=Camera(read_noise_e=1.0, gain_adu_per_e=1.0),
    peak_photons=2000.0,
    background_photons=5.0,
    density=2.0,
)


def sharpness(image: np.ndarray) -> float:
    """Normalised Brenner gradient (mono, or the mean of the colour channels)."""
    f = image.astype(np.float64)
    f = f.mean(axis=-1) if f.ndim == 3 else f
    return float(((f[2:] - f[:-2]) ** 2).mean() / max(f.mean(), 1e-9) ** 2)


@pytest.mark.parametrize("modality", ["fluorescence", "brightfield"])
def test_same_seed_same_tile(modality: str) -> None:
    a, b = render(draw_spec(11, modality)), render(draw_spec(11, modality))  # type: ignore[arg-type]
    assert np.array_equal(a.image, b.image) and a.labels == b.labels
    assert not np.array_equal(a.image, render(draw_spec(12, modality)).image)  # type: ignore[arg-type]


def test_a_noise_seed_exposes_the_same_scene_with_fresh_camera_noise() -> None:
    """Another look at one tile: the same object and truth, new shot and read noise."""
    first, again = (render(replace(BASE, noise_seed=n)) for n in (1, 2))
    assert not np.array_equal(first.image, again.image)
    assert first.labels["patch_defocus_um"] == again.labels["patch_defocus_um"]
    assert first.labels["patch_structure"] == again.labels["patch_structure"]
    # The same scene: the frames differ by noise only, which averages out over the tile.
    diff = first.image.astype(np.float64) - again.image.astype(np.float64)
    assert abs(diff.mean()) < 0.05 * first.image.std()
    assert np.corrcoef(first.image.ravel(), again.image.ravel())[0, 1] > 0.9
    assert np.array_equal(render(replace(BASE, noise_seed=1)).image, first.image)


def test_labels_carry_defocus_units_structure_and_params() -> None:
    tile = render(replace(BASE, defocus_um=2.0))
    lab = tile.labels
    assert lab["defocus_um"] == pytest.approx(2.0, abs=1e-6)
    assert lab["defocus_dof"] == pytest.approx(2.0 / OPTICS.depth_of_field_um)
    assert lab["structure_present"] and lab["side"] == 1 and lab["side_visible"]
    assert lab["params"]["optics"]["na"] == 0.75 and lab["seed"] == 7
    assert np.asarray(lab["patch_defocus_um"]).shape == (4, 4)


def test_empty_field_is_labelled_blank() -> None:
    tile = render(replace(BASE, specimen="empty"))
    assert not tile.labels["structure_present"]
    assert not np.asarray(tile.labels["patch_structure"]).any()


def test_dim_structure_under_noise_is_not_called_present() -> None:
    faint = render(replace(BASE, peak_photons=0.05, background_photons=50.0))
    assert not faint.labels["structure_present"]


def test_blur_grows_with_defocus_in_rendered_tiles() -> None:
    dof = OPTICS.depth_of_field_um
    scores = [
        sharpness(render(replace(BASE, defocus_um=d * dof)).image) for d in (0.0, 1.0, 3.0, 10.0)
    ]
    assert all(a > b for a, b in itertools.pairwise(scores)), scores


def test_tilted_slide_has_a_defocus_gradient_across_patches() -> None:
    slope = 0.05  # um of z per um across x
    tile = render(replace(BASE, specimen="tissue", tilt_um_per_um=(0.0, slope), density=2.0))
    patches = np.asarray(tile.labels["patch_defocus_um"])
    step = patches[:, 1:] - patches[:, :-1]
    across = slope * 32 * OPTICS.pixel_size_um  # z change from one patch to the next
    # Labels are structure-weighted within a patch, so single steps scatter by up to one
    # patch's z range; on average they follow the tilt, and the tile is centred on focus.
    assert step.mean() == pytest.approx(across, rel=0.1)
    assert np.all(np.abs(step - across) < across)
    assert patches[:, 0].mean() == pytest.approx(-patches[:, -1].mean(), abs=0.1)


def test_thick_sample_patch_labels_follow_the_brightest_layer() -> None:
    tile = render(replace(BASE, layer_offsets_um=(-1.0, 1.5), defocus_um=0.0))
    patches = np.asarray(tile.labels["patch_defocus_um"])
    structure = np.asarray(tile.labels["patch_structure"])
    # Every patch label lies between the two layers' defocus (+1.0 and -1.5).
    assert np.all(patches[structure] <= 1.0 + 1e-6) and np.all(patches[structure] >= -1.5 - 1e-6)
    assert np.ptp(patches[structure]) > 0.5


def test_brightfield_blurs_and_shifts_colour_focus() -> None:
    spec = replace(
        brightfield_spec(5),
        density=1.2,
        specimen="tissue",
        tilt_um_per_um=(0.0, 0.0),
        jpeg_quality=0,
        debris=0,
        seam=False,
    )
    dof = spec.optics.depth_of_field_um
    scores = [sharpness(render(replace(spec, defocus_um=d * dof)).image) for d in (0, 2, 6)]
    assert scores[0] > scores[1] > scores[2]
    # Axial chromatic aberration: a channel with focal offset delta is sharpest at defocus
    # -delta, so red and blue peak on opposite sides of green: the brightfield side cue.
    # (An absorbing-only section: phase contrast, which is zero in focus, would move the
    # sharpness peak of a weakly stained channel away from its focus.)
    chroma = replace(spec, chromatic_um=(0.6 * dof, 0.0, -0.6 * dof), phase_rad=0.0)
    sweep = np.linspace(-1.2, 1.2, 13) * dof
    images = [render(replace(chroma, defocus_um=float(d))).image for d in sweep]
    peaks = [sweep[int(np.argmax([sharpness(im[..., c]) for im in images]))] for c in range(3)]
    assert peaks[0] == pytest.approx(-0.6 * dof, abs=0.25 * dof)
    assert peaks[1] == pytest.approx(0.0, abs=0.25 * dof)
    assert peaks[2] == pytest.approx(0.6 * dof, abs=0.25 * dof)


def test_ranges_cover_the_promised_optics() -> None:
    specs = [draw_spec(s, "fluorescence", Ranges()) for s in range(400)]
    nas = [s.optics.na for s in specs]
    waves = [s.optics.wavelength_um for s in specs]
    assert min(nas) < 0.35 and max(nas) > 1.35
    assert min(waves) < 0.47 and max(waves) > 0.68
    assert {s.optics.n_immersion for s in specs} == {1.0, 1.333, 1.518}
    assert 0.05 < np.mean([s.specimen == "empty" for s in specs]) < 0.15


def test_a_thick_slab_is_blurred_even_in_focus() -> None:
    flat = slab_psf(replace(BASE, thickness_um=0.0), 0.0, (96, 96), 0.1)
    assert np.allclose(flat, psf_at_defocus(OPTICS, 0.0, (96, 96), 0.1))
    thick = slab_psf(replace(BASE, thickness_um=6.0), 0.0, (96, 96), 0.1)
    assert thick.sum() == pytest.approx(1.0) and thick.max() < 0.5 * flat.max()
