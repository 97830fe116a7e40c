"""Draw a scored tile: the image with a border per patch (hue = defocus, lightness = certainty)."""

from __future__ import annotations

import colorsys
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from focusqc.models.scorer import TileScore


def display(image: NDArray[np.generic]) -> Image.Image:
    """8-bit RGB view of a camera image (percentile stretch for mono)."""
    f = image.astype(np.float64)
    if image.ndim == 3:
        rgb = image if image.dtype == np.uint8 else np.clip(f / max(f.max(), 1) * 255, 0, 255)
        return Image.fromarray(np.asarray(rgb, np.uint8)).convert("RGB")
    lo, hi = np.percentile(f, [0.5, 99.8])
    return Image.fromarray(
        (np.clip((f - lo) / max(hi - lo, 1e-9), 0, 1) * 255).astype(np.uint8)
    ).convert("RGB")


def defocus_colour(defocus_dof: float, certainty: float) -> tuple[int, int, int]:
    """Green in focus through yellow to red far out; dark when the model is unsure."""
    hue = (1.0 / 3.0) * (1.0 - min(abs(defocus_dof) / 6.0, 1.0))
    r, g, b = colorsys.hls_to_rgb(hue, 0.15 + 0.4 * float(np.clip(certainty, 0, 1)), 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def score_picture(image: NDArray[np.generic], score: TileScore, title: str) -> Image.Image:
    """The image with its scored patches outlined and a caption with the tile verdict."""
    canvas = display(image)
    draw = ImageDraw.Draw(canvas)
    half = score.patch_native_px // 2
    width = max(2, score.patch_native_px // 24)
    for (y, x), d_um, cert in zip(
        score.patch_centres_px, score.patch_defocus_um, score.patch_certainty, strict=True
    ):
        colour = defocus_colour(float(d_um) / score.depth_of_field_um, float(cert))
        draw.rectangle(
            [x - half, y - half, x + half - 1, y + half - 1], outline=colour, width=width
        )
    caption = (
        f"{title}: |defocus| {score.defocus_um:.2f} um ({score.defocus_dof:.1f} DOF), "
        f"certainty {score.certainty:.2f}"
    )
    draw.rectangle([0, 0, canvas.width, 14], fill=(0, 0, 0))
    draw.text((4, 2), caption, fill=(255, 255, 255))
    return canvas
