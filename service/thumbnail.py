"""A small PNG of a tile for the event stream (dashboards show it on hover)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from numpy.typing import NDArray

SIDE_PX = 96


def thumbnail(image: NDArray[np.generic], side_px: int = SIDE_PX) -> bytes:
    """Contrast-stretched 8-bit PNG, at most ``side_px`` on its longer side."""
    step = max(1, max(image.shape[:2]) // (2 * side_px))
    f = image[::step, ::step].astype(np.float32)
    lo, hi = np.percentile(f, [1.0, 99.8])
    u8 = np.clip((f - lo) / max(float(hi - lo), 1e-6) * 255, 0, 255).astype(np.uint8)
    picture = Image.fromarray(u8)
    picture.thumbnail((side_px, side_px))
    out = io.BytesIO()
    picture.save(out, format="PNG", optimize=False)
    return out.getvalue()
