"""Render one tile, and its labels, from a complete description of how it was taken."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy import fft

from focusqc.models.sim import brightfield, camera, specimens
from focusqc.models.sim.optics import Optics, psf_at_defocus

Array = NDArray[np.float64]
Modality = Literal["fluorescence", "brightfield"]


@dataclass(frozen=True)
class TileSpec:
    """Everything that decides a tile's pixels; the same spec and seed give the same tile."""

    seed: int
    modality: Modality
    specimen: str
    optics: Optics
    camera: camera.Camera
    size_px: int = 128
    density: float = 1.0
    defocus_um: float = 0.0
    tilt_um_per_um: tuple[float, float] = (0.0, 0.0)
    layer_offsets_um: tuple[float, ...] = (0.0,)
    thickness_um: float = 0.0
    peak_photons: float = 500.0
    background_photons: float = 20.0
    shading: float = 0.0
    debris: int = 0
    seam: bool = False
    jpeg_quality: int = 0
    stain: str = "he"
    phase_rad: float = 0.3
    chromatic_um: tuple[float, float, float] = (0.0, 0.0, 0.0)
    patch_px: int = 32
    #: This exposure's number, which seeds its camera noise together with ``seed``; None: the
    #: noise is drawn on from ``seed`` after the scene. Numbering a scene's exposures 1, 2, ...
    #: gives each fresh noise (another look, a re-acquisition), and no two scenes share any.
    noise_seed: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready parameters, for the label file."""
        return asdict(self)


@dataclass
class Tile:
    """A rendered tile: camera pixels, and the truth about them."""

    image: NDArray[np.uint16] | NDArray[np.uint8]
    defocus_map_um: Array
    structure_map: Array
    spec: TileSpec
    labels: dict[str, Any] = field(default_factory=dict)


def oversampling(optics: Optics, pixel_um: float) -> int:
    """Sub-pixels per camera pixel so that the simulation grid resolves the PSF."""
    return int(np.clip(np.ceil(pixel_um / (optics.wavelength_um / (3.5 * optics.na))), 1, 4))


def _defocus_field(spec: TileSpec, shape: tuple[int, int], pixel_um: float) -> Array:
    """Defocus at each simulation pixel of the reference layer (tilted slides vary across)."""
    y = (np.arange(shape[0]) - shape[0] / 2) * pixel_um
    x = (np.arange(shape[1]) - shape[1] / 2) * pixel_um
    ty, tx = spec.tilt_um_per_um
    return spec.defocus_um + ty * y[:, None] + tx * x[None, :]


def _blur_fluorescence(obj: Array, spec: TileSpec, dz: Array, pixel_um: float) -> Array:
    """Convolve with the PSF of the local defocus; a tilt interpolates between planes."""
    spectrum = fft.rfft2(obj)
    planes = focal_planes(dz, spec.optics.depth_of_field_um)
    images = [
        fft.irfft2(spectrum * fft.rfft2(slab_psf(spec, float(z), obj.shape, pixel_um)), s=obj.shape)
        for z in planes
    ]
    return blend_planes(np.stack(images), plane_position(dz, planes))


def focal_planes(dz: Array, dof_um: float) -> Array:
    """Defocus planes to image: one for a flat tile, five across a tilted one."""
    lo, hi = float(dz.min()), float(dz.max())
    return np.linspace(lo, hi, 1 if hi - lo < 0.1 * dof_um else 5)


def plane_position(dz: Array, planes: Array) -> Array:
    """Fractional plane index of each pixel's defocus, for ``blend_planes``."""
    return np.asarray(np.interp(dz, planes, np.arange(len(planes), dtype=np.float64)))


def slab_psf(spec: TileSpec, defocus_um: float, shape: tuple[int, int], pixel_um: float) -> Array:
    """PSF of a layer ``spec.thickness_um`` thick, centred at ``defocus_um``.

    Widefield images a thick object as the sum of its slices, each blurred by the PSF of its own
    defocus; for a uniform slab that is one convolution with the PSF averaged over the slab.
    Slices are half a depth of field apart. This is why a real in-focus nucleus (5-8 um thick)
    never looks as crisp as a flat one.
    """
    dof = spec.optics.depth_of_field_um
    k = int(np.clip(np.ceil(spec.thickness_um / (0.5 * dof)), 1, 15))
    offsets = (np.arange(k, dtype=np.float64) - (k - 1) / 2) * (spec.thickness_um / k)
    return psf_at_defocus(spec.optics, defocus_um - offsets, shape, pixel_um)


def blend_planes(stack: Array, position: Array) -> Array:
    """Linear interpolation between images of K planes at a fractional plane index per pixel.

    ``stack`` has the planes first (K, ..., H, W); ``position`` is (H, W) in [0, K-1].
    """
    k = np.arange(stack.shape[0], dtype=np.float64).reshape(-1, *([1] * (stack.ndim - 1)))
    return np.asarray((stack * np.clip(1 - np.abs(position - k), 0, 1)).sum(axis=0))


def _bin(image: Array, q: int) -> Array:
    """Sum q x q sub-pixels into one camera pixel (pixel integration)."""
    if q == 1:
        return image
    lead = image.shape[:-2]
    h, w = image.shape[-2] // q, image.shape[-1] // q
    return np.asarray(image.reshape(*lead, h, q, w, q).sum(axis=(-3, -1)), dtype=np.float64)


@dataclass
class _Scene:
    """What reaches the camera (expected photons per pixel), with the truth maps behind it."""

    photons: Array
    rng: np.random.Generator  # where the camera's noise draws go on from
    defocus_map_um: Array
    structure_map: Array


def expected_photons(spec: TileSpec) -> Array:
    """The tile's expected photons per camera pixel: everything but the camera's noise.

    What an ideal observer that knows the specimen compares the image against
    (``focusqc.models.ideal``).
    """
    return _scene(spec).photons


def render(spec: TileSpec) -> Tile:
    """Render a tile and its per-tile and per-patch labels."""
    scene = _scene(spec)
    noise = (
        scene.rng
        if spec.noise_seed is None
        else np.random.default_rng([spec.seed, spec.noise_seed])
    )
    image = _to_camera(noise, scene.photons, spec)
    tile = Tile(image, scene.defocus_map_um, scene.structure_map, spec)
    tile.labels = labels(tile)
    return tile


def _scene(spec: TileSpec) -> _Scene:
    rng = np.random.default_rng(spec.seed)
    pixel = spec.optics.pixel_size_um
    q = oversampling(spec.optics, pixel)
    shape = (spec.size_px * q, spec.size_px * q)
    sim_px = pixel / q
    base = _defocus_field(spec, shape, sim_px)
    if spec.modality == "fluorescence":
        signal, weight, weighted_dz = np.zeros(shape), np.zeros(shape), np.zeros(shape)
        make = {**specimens.FLUORESCENCE, **specimens.HELD_OUT}[spec.specimen]
        for offset in spec.layer_offsets_um:
            obj = make(rng, shape, sim_px, spec.density / len(spec.layer_offsets_um))
            dz = base - offset
            signal += _blur_fluorescence(obj, spec, dz, sim_px)
            weight += obj
            weighted_dz += obj * dz
    else:
        conc, structure = brightfield.stained_section(rng, shape, sim_px, spec.density, spec.stain)
        planes = focal_planes(base, spec.optics.depth_of_field_um)
        stack = [
            brightfield.image_section(
                conc,
                spec.optics,
                float(z),
                sim_px,
                spec.stain,
                np.asarray(spec.chromatic_um),
                spec.phase_rad,
            )
            for z in planes
        ]
        signal = blend_planes(np.stack(stack), plane_position(base, planes))
        weight, weighted_dz = structure, structure * base
    photons = _bin(signal, q) / q**2 * spec.peak_photons
    native = (spec.size_px, spec.size_px)
    shade = camera.illumination(rng, native, spec.shading) if spec.shading > 0 else np.ones(native)
    dust = camera.debris(rng, native, spec.debris) if spec.debris else np.ones(native)
    if spec.modality == "fluorescence":
        photons = (
            (
                photons
                + spec.background_photons
                * (1 + 0.3 * specimens.band_noise(rng, native, pixel, 30.0).clip(-2, 2) / 2)
            )
            * shade
            * dust
        )
    else:
        photons = photons * (shade * dust)[None]
    if spec.seam:
        photons = seam_all(rng, photons)
    w_nat, wdz_nat = _bin(weight, q), _bin(weighted_dz, q)
    # Where there is no object the map holds the plain defocus; elsewhere the object-weighted one.
    dz_map = np.divide(wdz_nat, w_nat, out=_bin(base, q) / q**2, where=w_nat > 0)
    return _Scene(photons, rng, dz_map, w_nat / q**2)


def seam_all(rng: np.random.Generator, photons: Array) -> Array:
    """Apply one stitching seam to every channel alike."""
    state = rng.bit_generator.state
    if photons.ndim == 2:
        return camera.seam(rng, photons)
    out = np.empty_like(photons)
    for c in range(photons.shape[0]):
        rng.bit_generator.state = state
        out[c] = camera.seam(rng, photons[c])
    return out


def _to_camera(
    rng: np.random.Generator, photons: Array, spec: TileSpec
) -> NDArray[np.uint16] | NDArray[np.uint8]:
    if spec.modality == "fluorescence":
        return camera.expose(rng, photons, spec.camera)
    # A scanner's colour camera: white-balanced so that empty glass is near 235 of 255.
    cam = spec.camera
    rgb = np.stack([camera.expose(rng, photons[c], cam) for c in range(3)], axis=-1)
    scale = 235.0 / max(spec.peak_photons * cam.qe * cam.gain_adu_per_e, 1e-9)
    u8 = np.clip(np.rint((rgb.astype(np.float64) - cam.offset_adu) * scale), 0, 255)
    u8 = u8.astype(np.uint8)
    return camera.jpeg(u8, spec.jpeg_quality) if spec.jpeg_quality else u8


def labels(tile: Tile) -> dict[str, Any]:
    """Per-tile and per-patch truth: signed defocus (um and depth-of-field units), structure.

    Patch values come from the tile's maps: ``structure_map`` (in-focus object content per
    camera pixel) weights ``defocus_map_um`` within each patch.
    """
    spec, optics = tile.spec, tile.spec.optics
    p = spec.patch_px
    g = spec.size_px // p

    def per_patch(a: Array) -> Array:
        return np.asarray(a[: g * p, : g * p].reshape(g, p, g, p).sum(axis=(1, 3)))

    w = per_patch(tile.structure_map)
    wdz = per_patch(tile.structure_map * tile.defocus_map_um)
    plain = per_patch(tile.defocus_map_um) / (p * p)
    patch_dz = np.divide(wdz, w, out=plain, where=w > 0)
    # Structure is visible where the in-focus object would stand clear of the noise.
    signal_e = w * spec.peak_photons * spec.camera.qe
    noise_e = np.sqrt(
        p * p * (spec.background_photons * spec.camera.qe + spec.camera.read_noise_e**2) + signal_e
    )
    content = w / (p * p)
    patch_structure = (signal_e > 10 * noise_e) & (content > 0.005)
    total_w = float(w[patch_structure].sum())
    tile_dz = (
        float((patch_dz * w)[patch_structure].sum() / total_w)
        if total_w > 0
        else float(spec.defocus_um)
    )
    dof = optics.depth_of_field_um
    mismatch = abs(optics.n_sample - optics.n_immersion) > 0.02 and optics.depth_um > 0.5
    return {
        "defocus_um": tile_dz,
        "defocus_dof": tile_dz / dof,
        "defocus_center_um": float(spec.defocus_um),
        "depth_of_field_um": dof,
        "structure_present": bool(patch_structure.any()),
        "structure_fraction": float(patch_structure.mean()),
        "side": int(np.sign(tile_dz)),
        "side_visible": bool(mismatch or spec.modality == "brightfield"),
        "patch_defocus_um": patch_dz.round(4).tolist(),
        "patch_structure": patch_structure.tolist(),
        "canonical_pixel_um": optics.canonical_pixel_um,
        "seed": spec.seed,
        "params": spec.to_dict(),
    }
