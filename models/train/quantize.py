"""Post-training int8 quantization of the exported network, for scoring on the CPU.

The float model is the default, and the one a GPU runs. Its int8 copy (weights per channel,
activations per tensor, in ONNX's QDQ form) costs about half the CPU time per patch, for slow
CPUs (``runtime.precision = "int8"``) and as room for a larger network within the cost of a
Brenner gradient. Activation ranges come from patches of a fixed seed of the training
distribution, so the same float model always gives the same int8 file.
Weights use 7 of their 8 bits (``reduce_range``): CPUs without VNNI instructions can otherwise
overflow in the u8 x s8 products, and the evaluation measures what the lost bit costs.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from focusqc.models.scorer import PRECISION_KEY, file_sha256
from focusqc.models.train.data import make_training_set
from focusqc.models.train.metadata import add_metadata

if TYPE_CHECKING:
    from collections.abc import Iterator

    from numpy.typing import NDArray

#: Seed and size of the simulated tiles whose patches set the activation ranges (no evaluation
#: or calibration set draws this seed).
RANGE_SEED = 20003
RANGE_TILES = 128


def range_patches(tiles: int = RANGE_TILES, seed: int = RANGE_SEED) -> NDArray[np.float32]:
    """Patches of the training distribution (brightfield included) to measure activations on."""
    return make_training_set(tiles, seed)["patches"].astype(np.float32)


class _Batches:
    """onnxruntime's calibration reader: the patches, 64 at a time."""

    def __init__(self, patches: NDArray[np.float32]) -> None:
        self._batches: Iterator[dict[str, Any]] = iter(
            {"patches": patches[i : i + 64]} for i in range(0, len(patches), 64)
        )

    def get_next(self) -> dict[str, Any] | None:
        return next(self._batches, None)


def quantize(float_model: Path, out: Path, patches: NDArray[np.float32] | None = None) -> str:
    """Write the int8 copy of ``float_model`` to ``out`` (metadata kept); returns its SHA-256."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    patches = range_patches() if patches is None else patches
    quiet = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)  # its notes on pre-processing are for experts
    try:
        with tempfile.TemporaryDirectory() as tmp:
            prepared = Path(tmp) / "prepared.onnx"
            quant_pre_process(str(float_model), str(prepared))
            quantize_static(
                str(prepared),
                str(out),
                _Batches(patches),
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                per_channel=True,
                reduce_range=True,
            )
    finally:
        logging.getLogger().setLevel(quiet)
    add_metadata(out, {PRECISION_KEY: "int8"})
    return file_sha256(out)
