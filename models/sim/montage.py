"""A focal sweep picture: rows are specimens, columns are defocus in depth-of-field units."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw

from focusqc.models.sim.camera import Camera
from focusqc.models.sim.draw import brightfield_spec
from focusqc.models.sim.optics import Optics
from focusqc.models.sim.render import Modality, TileSpec, render

if TYPE_CHECKING:
    from numpy.typing import NDArray

SWEEP_DOF = (-8.0, -4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0, 8.0)
ROWS = ("nuclei", "filaments", "puncta", "membranes", "beads", "tissue", "empty")
LABEL_PX = 90


def _fluorescence_base(specimen: str, seed: int) -> TileSpec:
    # 40x/0.95 dry objective imaging 6 um into water: an index mismatch, so the two sides differ.
    optics = Optics(
        na=0.95,
        wavelength_um=0.52,
        n_immersion=1.0,
        n_sample=1.33,
        depth_um=6.0,
        pixel_size_um=0.16,
    )
    return TileSpec(
        seed=seed,
        modality="fluorescence",
        specimen=specimen,
        optics=optics,
        camera=Camera(read_noise_e=1.5, gain_adu_per_e=2.0, offset_adu=100.0),
        peak_photons=800.0,
        background_photons=10.0,
    )


def sweep_specs(modality: Modality, seed: int) -> list[list[TileSpec]]:
    """Rows of specs that differ only in defocus (same specimen, same noise seed)."""
    if modality == "fluorescence":
        bases = [_fluorescence_base(s, seed + i) for i, s in enumerate(ROWS)]
    else:
        bases = [
            replace(
                brightfield_spec(seed + i),
                tilt_um_per_um=(0.0, 0.0),
                debris=0,
                seam=False,
                specimen="tissue",
                density=1.0,
            )
            for i in range(4)
        ]
    return [
        [replace(b, defocus_um=d * b.optics.depth_of_field_um) for d in SWEEP_DOF] for b in bases
    ]


def _display(image: NDArray[np.generic], lo: float, hi: float) -> NDArray[np.uint8]:
    f = (image.astype(np.float64) - lo) / max(hi - lo, 1e-9)
    return np.asarray(np.clip(f, 0, 1) * 255, dtype=np.uint8)


def focal_sweep(modality: Modality, seed: int = 0) -> Image.Image:
    """Render the sweep and lay it out with row and column captions."""
    rows = sweep_specs(modality, seed)
    size = rows[0][0].size_px
    pad = 4
    width = LABEL_PX + len(SWEEP_DOF) * (size + pad)
    height = 20 + len(rows) * (size + pad)
    canvas = Image.new("RGB", (width, height), (20, 20, 20))
    draw = ImageDraw.Draw(canvas)
    for j, d in enumerate(SWEEP_DOF):
        draw.text((LABEL_PX + j * (size + pad) + size // 3, 4), f"{d:+g} DOF", fill=(230, 230, 230))
    for i, row in enumerate(rows):
        images = [render(spec).image for spec in row]
        # One display range per row, from the in-focus tile, so blur shows as lost contrast.
        focus = images[SWEEP_DOF.index(0.0)].astype(np.float64)
        lo, hi = np.percentile(focus, [1, 99.7])
        y = 20 + i * (size + pad)
        caption = row[0].specimen if modality == "fluorescence" else row[0].stain.upper()
        draw.text((4, y + size // 2 - 6), caption, fill=(230, 230, 230))
        for j, img in enumerate(images):
            tile = Image.fromarray(_display(img, lo, hi) if img.ndim == 2 else img)
            canvas.paste(tile.convert("RGB"), (LABEL_PX + j * (size + pad), y))
    return canvas
