"""Draw random, physically plausible tile specifications from a seed.

The ranges cover what labs use: NA 0.25-1.45 in air, water and oil, emission 450-700 nm, pixels
from twice finer to four and a half times coarser than the canonical sampling, index-matched and
mismatched samples 0-10 um deep, and camera settings from photon-starved to saturating.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from focusqc.models.sampling import canonical_pixel_um
from focusqc.models.sim.camera import Camera
from focusqc.models.sim.optics import IMMERSION_INDEX, Optics
from focusqc.models.sim.render import Modality, TileSpec
from focusqc.models.sim.specimens import FLUORESCENCE

if TYPE_CHECKING:
    from collections.abc import Sequence

#: NA range of the objectives made for each immersion medium.
NA_RANGE = {"air": (0.25, 0.95), "water": (0.8, 1.27), "oil": (1.1, 1.45)}


@dataclass(frozen=True)
class Ranges:
    """What a data set may contain; held-out sets narrow or shift these."""

    specimens: Sequence[str] = tuple(FLUORESCENCE)
    immersions: Sequence[str] = ("air", "water", "oil")
    max_defocus_dof: float = 40.0
    empty_fraction: float = 0.1
    size_px: int = 128
    na: tuple[float, float] | None = None  # None: the immersion's whole range
    wavelength_um: tuple[float, float] = (0.45, 0.70)
    pixel_size_um: float | None = None  # None: 0.5-4.5x the canonical pixel


#: Axial extent of each fluorescent specimen kind (um): cultured-cell nuclei are 4-10 um tall,
#: membranes and tissue fill a cell's height, filaments and beads are thin.
THICKNESS_UM = {
    "nuclei": (4.0, 10.0),
    "filaments": (0.0, 1.0),
    "puncta": (0.0, 3.0),
    "membranes": (2.0, 6.0),
    "beads": (0.0, 0.0),
    "tissue": (2.0, 6.0),
    "empty": (0.0, 0.0),
    "cytoplasm": (2.0, 6.0),
    "vesicles": (0.0, 2.0),
}

#: The training distribution.
DEFAULT_RANGES = Ranges()


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _tilt(rng: np.random.Generator, dof_um: float, extent_um: float) -> tuple[float, float]:
    """One tile in ten lies on a tilted slide: 0.5-3 depths of field across the tile."""
    if rng.random() >= 0.1:
        return (0.0, 0.0)
    angle = rng.uniform(0, 2 * np.pi)
    slope = rng.uniform(0.5, 3.0) * dof_um / extent_um
    return (float(slope * np.sin(angle)), float(slope * np.cos(angle)))


def _defocus_dof(rng: np.random.Generator, max_dof: float) -> float:
    """Signed defocus in depth-of-field units: dense near focus, sparse far out."""
    band = rng.random()
    mag = (
        rng.uniform(0, 2.0)
        if band < 0.45
        else rng.uniform(2.0, 10.0)
        if band < 0.85
        else rng.uniform(10.0, max_dof)
    )
    return float(min(mag, max_dof) * rng.choice([-1.0, 1.0]))


def _camera(rng: np.random.Generator, peak_e: float) -> Camera:
    bits = int(rng.choice([8, 12, 16], p=[0.2, 0.4, 0.4]))
    offset = rng.uniform(0, 8) if bits == 8 else rng.uniform(50, 500)
    # Gain puts the brightest structure between a quarter and 1.3x full scale: some saturate.
    gain = (2**bits - offset) / max(peak_e, 1.0) * rng.uniform(0.25, 1.3)
    return Camera(
        qe=rng.uniform(0.5, 0.95),
        read_noise_e=_log_uniform(rng, 0.7, 8.0),
        gain_adu_per_e=float(gain),
        offset_adu=float(offset),
        bit_depth=bits,
        hot_pixel_fraction=float(rng.choice([0.0, _log_uniform(rng, 1e-5, 1e-3)])),
    )


def fluorescence_spec(seed: int, ranges: Ranges = DEFAULT_RANGES) -> TileSpec:
    """A random widefield fluorescence tile."""
    rng = np.random.default_rng(seed)
    immersion = str(rng.choice(list(ranges.immersions)))
    na = float(rng.uniform(*(ranges.na or NA_RANGE[immersion])))
    n_imm = IMMERSION_INDEX[immersion]
    wavelength = float(rng.uniform(*ranges.wavelength_um))
    matched = immersion != "air" and rng.random() < 0.35
    n_sample = n_imm if matched else float(rng.uniform(1.33, 1.52))
    oversample = _log_uniform(rng, 0.5, 4.5)
    optics = Optics(
        na=float(na),
        wavelength_um=float(wavelength),
        n_immersion=n_imm,
        n_sample=n_sample,
        depth_um=float(rng.uniform(0, 10)),
        pixel_size_um=float(
            ranges.pixel_size_um or canonical_pixel_um(na, wavelength) * oversample
        ),
    )
    specimen = (
        "empty"
        if rng.random() < ranges.empty_fraction
        else str(rng.choice([s for s in ranges.specimens if s != "empty"]))
    )
    dof = optics.depth_of_field_um
    tilt = _tilt(rng, dof, ranges.size_px * optics.pixel_size_um)
    layers: tuple[float, ...] = (0.0,)
    if rng.random() < 0.15:
        layers = tuple(float(x) for x in rng.uniform(-2, 2, int(rng.integers(2, 4))) * dof)
    peak_e = _log_uniform(rng, 20, 5000)
    thickness = float(rng.uniform(*THICKNESS_UM.get(specimen, (0.0, 0.0))))
    return TileSpec(
        seed=seed,
        modality="fluorescence",
        specimen=specimen,
        optics=optics,
        camera=_camera(rng, peak_e),
        size_px=ranges.size_px,
        density=_log_uniform(rng, 0.2, 2.5),
        defocus_um=_defocus_dof(rng, ranges.max_defocus_dof) * dof,
        tilt_um_per_um=tilt,
        layer_offsets_um=layers,
        thickness_um=thickness,
        peak_photons=peak_e,
        background_photons=_log_uniform(rng, 1, 200) * (peak_e / 500) ** 0.5,
        shading=float(rng.choice([0.0, rng.uniform(0.2, 2.0)])),
        debris=int(rng.random() < 0.1) * int(rng.integers(1, 4)),
        seam=bool(rng.random() < 0.05),
    )


def brightfield_spec(seed: int, ranges: Ranges = DEFAULT_RANGES) -> TileSpec:
    """A random whole-slide brightfield tile (H&E or IHC, dry objective, colour camera)."""
    rng = np.random.default_rng(seed)
    na = float(rng.uniform(0.4, 0.95))
    optics = Optics(
        na=na,
        wavelength_um=0.54,
        n_immersion=1.0,
        n_sample=1.0,
        pixel_size_um=float(
            ranges.pixel_size_um or canonical_pixel_um(na, 0.54) * _log_uniform(rng, 0.6, 2.5)
        ),
        condenser_na=float(na * rng.uniform(0.4, 0.9)),
    )
    dof = optics.depth_of_field_um
    # Achromat secondary spectrum: red and blue focus on opposite sides of green, with one
    # fixed sign for all objectives (an assumption; real objectives differ in magnitude).
    chroma = (float(rng.uniform(0.05, 0.3) * dof), 0.0, float(-rng.uniform(0.05, 0.3) * dof))
    tilt = _tilt(rng, dof, ranges.size_px * optics.pixel_size_um)
    empty = rng.random() < ranges.empty_fraction
    return TileSpec(
        seed=seed,
        modality="brightfield",
        specimen="empty" if empty else "tissue",
        optics=optics,
        camera=Camera(qe=0.7, read_noise_e=5.0, gain_adu_per_e=1.0, offset_adu=0.0, bit_depth=16),
        size_px=ranges.size_px,
        density=0.0 if empty else _log_uniform(rng, 0.4, 2.0),
        defocus_um=_defocus_dof(rng, ranges.max_defocus_dof) * dof,
        tilt_um_per_um=tilt,
        peak_photons=_log_uniform(rng, 2000, 20000),
        shading=float(rng.uniform(0, 0.3)),
        debris=int(rng.random() < 0.1) * int(rng.integers(1, 4)),
        seam=bool(rng.random() < 0.05),
        jpeg_quality=int(rng.choice([0, int(rng.integers(60, 96))])),
        stain=str(rng.choice(["he", "ihc"], p=[0.7, 0.3])),
        phase_rad=float(rng.uniform(0.1, 0.6)),
        chromatic_um=chroma,
    )


def draw_spec(seed: int, modality: Modality, ranges: Ranges = DEFAULT_RANGES) -> TileSpec:
    """A random tile specification of either modality."""
    return (fluorescence_spec if modality == "fluorescence" else brightfield_spec)(seed, ranges)
