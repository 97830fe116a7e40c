"""Specimens as fluorophore (or stain) density maps on a periodic grid.

Every generator takes a random generator, the grid shape and its pixel size in micrometres, and a
density (0 = empty field, 1 = typical, 2+ = crowded), and returns a non-negative float map whose
peak is about 1. The grid wraps around, so FFT convolution needs no padding.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

Array = NDArray[np.float64]
Generator = Callable[[np.random.Generator, tuple[int, int], float, float], Array]


def band_noise(
    rng: np.random.Generator,
    shape: tuple[int, int],
    pixel_um: float,
    scale_um: float,
    octave: float = 1.0,
) -> Array:
    """Periodic Gaussian noise band-passed around a feature size, zero mean, unit std."""
    fy = np.fft.fftfreq(shape[0], pixel_um)[:, None]
    fx = np.fft.rfftfreq(shape[1], pixel_um)[None, :]
    f = np.hypot(fy, fx)
    f0 = 1.0 / scale_um
    gain = np.exp(-0.5 * (np.log(np.maximum(f, 1e-9) / f0) / (0.5 * octave)) ** 2)
    spec = (rng.standard_normal(f.shape) + 1j * rng.standard_normal(f.shape)) * gain
    out = np.fft.irfft2(spec, s=shape)
    return np.asarray(out / (out.std() + 1e-12), dtype=np.float64)


def _stamp(canvas: Array, patch: Array, cy: float, cx: float) -> None:
    """Add ``patch`` centred at (cy, cx) with periodic wrap."""
    h, w = patch.shape
    ys = (np.arange(h) + round(cy) - h // 2) % canvas.shape[0]
    xs = (np.arange(w) + round(cx) - w // 2) % canvas.shape[1]
    canvas[np.ix_(ys, xs)] += patch


def _ellipse(
    radius_px: tuple[float, float], angle: float, edge_px: float, half: int | None = None
) -> Array:
    """Soft-edged filled ellipse on its own small grid of side ``2 * half + 1``."""
    if half is None:
        half = int(np.ceil(max(radius_px) + 3 * max(edge_px, 0.3) + 1))
    y, x = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    c, s = np.cos(angle), np.sin(angle)
    u, v = (c * x + s * y) / radius_px[0], (-s * x + c * y) / radius_px[1]
    dist = (np.hypot(u, v) - 1.0) * min(radius_px)
    return np.asarray(0.5 - 0.5 * np.tanh(dist / (2 * max(edge_px, 0.3))), dtype=np.float64)


def _count(
    rng: np.random.Generator,
    shape: tuple[int, int],
    pixel_um: float,
    per_100um2: float,
    density: float,
) -> int:
    area = shape[0] * shape[1] * pixel_um**2 / 100.0
    return int(rng.poisson(per_100um2 * area * density))


def nuclei(
    rng: np.random.Generator,
    shape: tuple[int, int],
    pixel_um: float,
    density: float,
    radius_um: tuple[float, float] = (4.0, 9.0),
) -> Array:
    """Hoechst-like nuclei: ellipses (cultured cells 8-18 um across) with chromatin texture."""
    out = np.zeros(shape)
    texture = 0.75 + 0.25 * band_noise(rng, shape, pixel_um, 1.2, 1.5)
    for _ in range(_count(rng, shape, pixel_um, 0.25, density)):
        r = rng.uniform(*radius_um) / pixel_um
        mask = _ellipse((r, r * rng.uniform(0.6, 1.0)), rng.uniform(0, np.pi), 0.4 / pixel_um)
        _stamp(
            out, mask * rng.uniform(0.4, 1.0), rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        )
    return np.clip(out, 0, 1.5) * np.clip(texture, 0.1, None)


def _trace(
    rng: np.random.Generator,
    canvas: Array,
    start: Array,
    step_px: float,
    n_steps: int,
    persistence: float,
    weight: float,
) -> None:
    """Splat a persistent random walk (a filament) onto the canvas with bilinear weights."""
    angle = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0.0, persistence, n_steps))
    pos = start[None, :] + step_px * np.cumsum(np.stack([np.sin(angle), np.cos(angle)], 1), 0)
    base = np.floor(pos).astype(int)
    fy, fx = (pos - base).T
    h, w = canvas.shape
    for dy, dx, wt in (
        (0, 0, (1 - fy) * (1 - fx)),
        (0, 1, (1 - fy) * fx),
        (1, 0, fy * (1 - fx)),
        (1, 1, fy * fx),
    ):
        np.add.at(canvas, ((base[:, 0] + dy) % h, (base[:, 1] + dx) % w), weight * wt)


def filaments(
    rng: np.random.Generator, shape: tuple[int, int], pixel_um: float, density: float
) -> Array:
    """Microtubules (long, curving) and actin (short, straight bundles), sub-resolution wide."""
    out = np.zeros(shape)
    step = 0.5
    for _ in range(_count(rng, shape, pixel_um, 1.5, density)):
        long_ = rng.random() < 0.5
        length_um = rng.uniform(10, 40) if long_ else rng.uniform(2, 8)
        _trace(
            rng,
            out,
            rng.uniform(0, shape),
            step,
            int(length_um / (step * pixel_um)),
            0.08 if long_ else 0.02,
            rng.uniform(0.5, 1.0),
        )
    return np.asarray(ndimage.gaussian_filter(out, 0.5, mode="wrap") * 2.0, dtype=np.float64)


def puncta(
    rng: np.random.Generator, shape: tuple[int, int], pixel_um: float, density: float
) -> Array:
    """Vesicles and puncta: 50-300 nm spots, some clustered around a cell centre."""
    out = np.zeros(shape)
    n = _count(rng, shape, pixel_um, 20.0, density)
    centre = rng.uniform(0, shape)
    spread = rng.uniform(5, 20) / pixel_um
    pts = np.where(
        rng.random((n, 1)) < 0.5,
        centre + rng.normal(0, spread, (n, 2)),
        rng.uniform(0, shape, (n, 2)),
    )
    for y, x in pts:
        sigma = rng.uniform(0.05, 0.3) / pixel_um
        half = int(3 * sigma + 2)
        g = np.exp(-0.5 * (np.arange(-half, half + 1) / max(sigma, 0.3)) ** 2)
        _stamp(out, np.outer(g, g) * rng.uniform(0.3, 1.0), y, x)
    return out


def membranes(
    rng: np.random.Generator, shape: tuple[int, int], pixel_um: float, density: float
) -> Array:
    """Plasma membranes: thin outlines of cells 15-40 um across."""
    out = np.zeros(shape)
    for _ in range(max(1, _count(rng, shape, pixel_um, 0.1, density))):
        r = rng.uniform(7.0, 20.0) / pixel_um
        radius = (r, r * rng.uniform(0.6, 1.0))
        angle = rng.uniform(0, np.pi)
        outer = _ellipse(radius, angle, 0.3)
        inner = (radius[0] - 0.3 / pixel_um - 1, radius[1] - 0.3 / pixel_um - 1)
        ring = outer - _ellipse(inner, angle, 0.3, half=outer.shape[0] // 2)
        _stamp(
            out,
            np.clip(ring, 0, 1) * rng.uniform(0.5, 1.0),
            rng.uniform(0, shape[0]),
            rng.uniform(0, shape[1]),
        )
    return out


def beads(
    rng: np.random.Generator, shape: tuple[int, int], pixel_um: float, density: float
) -> Array:
    """Calibration beads: sub-resolution (100-200 nm) or 1-4 um solid spheres (projected)."""
    out = np.zeros(shape)
    big = rng.random() < 0.5
    for _ in range(_count(rng, shape, pixel_um, 0.5 if big else 3.0, density)):
        r = (rng.uniform(0.5, 2.0) if big else rng.uniform(0.05, 0.1)) / pixel_um
        half = int(r + 3)
        y, x = np.mgrid[-half : half + 1, -half : half + 1]
        chord = np.sqrt(np.clip(1 - (y**2 + x**2) / max(r, 0.5) ** 2, 0, None))
        _stamp(
            out,
            chord / max(chord.sum(), 1e-9) * max(np.pi * r**2 * 0.66, 1.0),
            rng.uniform(0, shape[0]),
            rng.uniform(0, shape[1]),
        )
    return np.clip(out, 0, 1.5)


def tissue(
    rng: np.random.Generator, shape: tuple[int, int], pixel_um: float, density: float
) -> Array:
    """Autofluorescent tissue: cell-sized cords and fibres from thresholded band noise."""
    coarse = band_noise(rng, shape, pixel_um, rng.uniform(6, 15))
    fine = band_noise(rng, shape, pixel_um, rng.uniform(0.8, 2.0))
    level = 1.0 - 0.6 * min(density, 1.5)
    return np.clip(coarse - level, 0, None) * (0.6 + 0.4 * np.tanh(fine))


def empty(
    rng: np.random.Generator, shape: tuple[int, int], pixel_um: float, density: float
) -> Array:
    """An empty field: nothing in the focal plane (background is added by the camera)."""
    return np.zeros(shape)


def cytoplasm(
    rng: np.random.Generator, shape: tuple[int, int], pixel_um: float, density: float
) -> Array:
    """Whole-cell stain (held out of training): filled cells with a dimmer nucleus, granular."""
    out = np.zeros(shape)
    grain = 0.7 + 0.3 * np.tanh(band_noise(rng, shape, pixel_um, 0.8, 1.5))
    for _ in range(max(1, _count(rng, shape, pixel_um, 0.12, density))):
        r = rng.uniform(8.0, 18.0) / pixel_um
        radius, angle = (r, r * rng.uniform(0.5, 0.9)), rng.uniform(0, np.pi)
        cell = _ellipse(radius, angle, 1.0 / pixel_um)
        hole = _ellipse(
            (0.4 * radius[0], 0.4 * radius[1]), angle, 0.5 / pixel_um, cell.shape[0] // 2
        )
        _stamp(
            out,
            (cell - 0.6 * hole) * rng.uniform(0.4, 1.0),
            rng.uniform(0, shape[0]),
            rng.uniform(0, shape[1]),
        )
    return np.clip(out, 0, 1.5) * grain


def vesicles(
    rng: np.random.Generator, shape: tuple[int, int], pixel_um: float, density: float
) -> Array:
    """Rim-labelled vesicles (held out of training): hollow rings 0.6-2 um across, clustered."""
    out = np.zeros(shape)
    for _ in range(max(1, _count(rng, shape, pixel_um, 0.1, density))):
        cy, cx = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        for _ in range(int(rng.integers(5, 25))):
            r = max(rng.uniform(0.3, 1.0) / pixel_um, 0.7)
            ring = _ellipse((r, r), 0.0, 0.15 / pixel_um)
            inner = _ellipse((0.6 * r, 0.6 * r), 0.0, 0.15 / pixel_um, ring.shape[0] // 2)
            spread = 6.0 / pixel_um
            _stamp(
                out,
                np.clip(ring - inner, 0, 1) * rng.uniform(0.4, 1.0),
                cy + rng.normal(0, spread),
                cx + rng.normal(0, spread),
            )
    return np.clip(out, 0, 1.5)


FLUORESCENCE: dict[str, Generator] = {
    "nuclei": nuclei,
    "filaments": filaments,
    "puncta": puncta,
    "membranes": membranes,
    "beads": beads,
    "tissue": tissue,
    "empty": empty,
}

#: Specimen kinds never drawn for training: the evaluation's unseen-specimen set.
HELD_OUT: dict[str, Generator] = {"cytoplasm": cytoplasm, "vesicles": vesicles}
