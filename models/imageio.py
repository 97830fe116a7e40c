"""Read finished images for offline scoring: TIFF/OME-TIFF, PNG, JPEG; mono or RGB; 8/16-bit."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from focusqc.models.preprocess import TileError

if TYPE_CHECKING:
    from pathlib import Path

    from numpy.typing import NDArray

TIFF = {".tif", ".tiff"}


def read_image(path: Path) -> NDArray[np.generic]:
    """One 2-D mono or (H, W, 3) RGB plane; multi-plane files give their first plane."""
    if not path.is_file():
        raise TileError(f"{path}: no such file")
    try:
        if path.suffix.lower() in TIFF:
            import tifffile

            data = np.asarray(tifffile.imread(path))
        else:
            from PIL import Image

            with Image.open(path) as img:
                data = np.asarray(img.convert("RGB") if img.mode in ("P", "RGBA", "CMYK") else img)
    except (OSError, ValueError) as exc:
        raise TileError(f"{path}: cannot read the image ({exc})") from exc
    while data.ndim > 3 or (data.ndim == 3 and data.shape[-1] not in (3, 4)):
        data = data[0]  # first plane of a stack (z, t or channel first)
    if data.ndim == 3 and data.shape[-1] == 4:
        data = data[..., :3]
    return data
