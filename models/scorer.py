"""Score tiles with the exported focus model on onnxruntime (GPU when present, CPU otherwise)."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from focusqc.models.preprocess import tile_patches

if TYPE_CHECKING:
    from collections.abc import Set

    from numpy.typing import NDArray

SHIPPED_MODEL = Path(__file__).with_name("focus_model.onnx")
#: Metadata key of the shift added to the network's blank logit, fitted on calibration seeds
#: after training (absent: no shift), so that P(no structure) means what it says.
BLANK_OFFSET_KEY = "focusqc.blank_logit_offset"
#: Metadata key naming a quantized copy's arithmetic ("int8"); a float model has none.
PRECISION_KEY = "focusqc.precision"
Provider = Literal["auto", "cpu", "cuda", "tensorrt"]
#: ``int8``: on the CPU, the int8 copy pinned beside the model (a GPU runs the float model).
Precision = Literal["float32", "int8"]
_PROVIDER_NAMES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}


class ModelError(RuntimeError):
    """A model file that is missing, corrupt, or not a focusqc focus model."""


@dataclass(frozen=True)
class TileScore:
    """The verdict on one tile: tile-level numbers and the per-patch map behind them."""

    defocus_um: float  # |defocus|, certainty-weighted over patches with structure
    defocus_dof: float
    depth_of_field_um: float  # the optics' axial unit that converts one to the other
    side_above_prob: float  # P(focal plane above the object); 0.5 = cannot tell
    certainty: float  # 0 = no focus information (blank), 1 = sure
    blank_prob: float
    patch_defocus_um: NDArray[np.float32]
    patch_certainty: NDArray[np.float32]
    patch_blank_prob: NDArray[np.float32]
    patch_centres_px: NDArray[np.int64]
    patch_native_px: int
    provider: str
    #: The tile's distribution over the model's |defocus| bins (in DOF), and the bins' edges (the
    #: last bin is open-ended): what ``focusqc.models.looks`` combines across looks.
    defocus_probs: NDArray[np.float32] | None = None
    bin_edges_dof: tuple[float, ...] = ()


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def int8_sibling(path: Path) -> Path:
    """Where a float model's int8 copy lives: ``m.onnx`` -> ``m.int8.onnx``."""
    return path.with_suffix(".int8.onnx")


def read_pins(path: Path) -> dict[str, str]:
    """File name -> pinned SHA-256, from the ``.sha256`` file beside a model (sha256sum's format).

    A line with a digest alone pins the model itself. No such file: nothing is pinned.
    """
    pin_file = path.with_suffix(".sha256")
    if not pin_file.is_file():
        return {}
    pins: dict[str, str] = {}
    for line in pin_file.read_text().splitlines():
        digest, _, name = line.strip().partition(" ")
        if digest:
            pins[name.strip().lstrip("*") or path.name] = digest
    return pins


def tensorrt_installed() -> bool:
    """Whether TensorRT's library can be found (onnxruntime-gpu lists its provider either way)."""
    import ctypes.util
    import importlib.util

    return bool(ctypes.util.find_library("nvinfer") or importlib.util.find_spec("tensorrt_libs"))


def choose_providers(
    requested: Provider, available: list[str], tensorrt: bool | None = None
) -> list[str]:
    """Execution providers to ask for, best first, always ending with the CPU.

    ``auto`` tries TensorRT only where its library is installed (``tensorrt``: None looks), so a
    CUDA-only install does not log a failed TensorRT attempt at every start.
    """
    if requested == "cpu":
        return ["CPUExecutionProvider"]
    if requested == "auto" and tensorrt is None:
        # Looking spawns ldconfig: only where onnxruntime was built with TensorRT at all.
        tensorrt = _PROVIDER_NAMES["tensorrt"] in available and tensorrt_installed()
    wanted = (
        ["tensorrt", "cuda"]
        if requested == "tensorrt" or (requested == "auto" and tensorrt)
        else ["cuda"]
    )
    chosen = [_PROVIDER_NAMES[p] for p in wanted if _PROVIDER_NAMES[p] in available]
    return [*chosen, "CPUExecutionProvider"]


def preload_gpu_libraries(ort: Any, providers: list[str]) -> None:
    """Load the CUDA and cuDNN libraries before a GPU session is made.

    onnxruntime-gpu's CUDA provider does not find the libraries of the nvidia-* wheels by itself
    (they sit in site-packages, not on the loader's path), so without this a GPU host with
    ``onnxruntime-gpu[cuda,cudnn]`` silently falls back to the CPU. A failure is a warning: the
    session then reports the provider it got, and a config that requires a GPU refuses it.
    """
    if providers[0] == "CPUExecutionProvider" or not hasattr(ort, "preload_dlls"):
        return
    try:
        ort.preload_dlls(cuda=True, cudnn=True, msvc=False)
    except Exception as exc:  # a broken CUDA install must not stop a CPU fallback
        warnings.warn(f"could not preload the CUDA libraries: {exc}", RuntimeWarning, stacklevel=2)


def runtime_conflict(installed: Set[str]) -> str | None:
    """A warning when both onnxruntime distributions are installed, else None.

    They share one import name and break each other.
    """
    both = {"onnxruntime", "onnxruntime-gpu"}
    if both <= {name.lower() for name in installed}:
        return (
            "both onnxruntime and onnxruntime-gpu are installed; they share one import name and "
            "break each other: pip uninstall the one you do not want, then reinstall the other"
        )
    return None


@functools.cache
def installed_distributions() -> frozenset[str]:
    """Names of the installed Python distributions (read once: a scan takes ~0.2 s)."""
    from importlib import metadata

    return frozenset(d.metadata["Name"] for d in metadata.distributions() if d.metadata["Name"])


class FocusScorer:
    """Load the focus model once; score tiles of any size, mono or RGB."""

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        provider: Provider = "auto",
        threads: int = 0,
        expected_sha256: str | None = None,
        require_gpu: bool = False,
        precision: Precision = "float32",
    ) -> None:
        import onnxruntime as ort

        if conflict := runtime_conflict(installed_distributions()):
            warnings.warn(conflict, RuntimeWarning, stacklevel=2)
        path = Path(model_path) if model_path else SHIPPED_MODEL
        if not path.is_file():
            raise ModelError(
                f"model file {path} not found: reinstall focusqc, or pass the path "
                "of a model written by 'focusqc train'"
            )
        pins = read_pins(path)
        digests = {path: _checked_sha256(path, expected_sha256 or pins.get(path.name))}
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(os.cpu_count() or 1, 4)
        options.log_severity_level = 3
        providers = choose_providers(provider, ort.get_available_providers())
        preload_gpu_libraries(ort, providers)
        cpu = "CPUExecutionProvider"
        int8 = _pinned_int8(path, pins) if precision == "int8" else None
        if int8:
            digests[int8] = _checked_sha256(int8, pins[int8.name])
        chosen = int8 if int8 and providers[0] == cpu else path
        self.session = _session(ort, chosen, options, providers)
        self.provider = self.session.get_providers()[0]
        if require_gpu and self.provider == cpu:
            raise ModelError(
                "the configuration requires a GPU but onnxruntime fell back to the "
                "CPU: check the NVIDIA driver and that onnxruntime-gpu is installed"
            )
        if chosen == path and int8 and self.provider == cpu:  # a GPU asked for, the CPU given
            chosen = int8
            self.session = _session(ort, chosen, options, [cpu])
        self.path = chosen
        self.sha256 = digests[chosen]
        self.meta = self._read_metadata(chosen)
        #: The arithmetic of the network actually run: "float32", or "int8" for the CPU copy.
        self.precision = self.meta.get(PRECISION_KEY, "float32")
        path = chosen
        self.patch_px = int(self._meta_number("focusqc.patch_px", path))
        #: The canonical pixel the model was trained at, in units of wavelength / NA.
        self.canonical = self._meta_number("focusqc.canonical_pixel_per_lambda_over_na", path)
        try:
            self.bin_centres = np.asarray(
                json.loads(self.meta["focusqc.bin_centres_dof"]), np.float32
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise ModelError(f"{path}: metadata focusqc.bin_centres_dof is missing or bad") from exc
        try:  # only what combines looks needs them
            edges = json.loads(self.meta.get("focusqc.bin_edges_dof", "[]"))
            self.bin_edges: tuple[float, ...] = tuple(float(e) for e in edges)
        except (ValueError, TypeError) as exc:
            raise ModelError(f"{path}: metadata focusqc.bin_edges_dof is bad") from exc
        if not 0 < self.canonical <= 1 or self.patch_px < 8:
            raise ModelError(
                f"{path}: metadata patch_px={self.patch_px}, canonical sampling "
                f"{self.canonical}: not a model focusqc can feed"
            )
        #: Added to the blank logit; a model file without the key has none.
        self.blank_offset = (
            self._meta_number(BLANK_OFFSET_KEY, path) if BLANK_OFFSET_KEY in self.meta else 0.0
        )
        if not abs(self.blank_offset) <= 5:
            raise ModelError(
                f"{path}: metadata {BLANK_OFFSET_KEY}={self.blank_offset} is outside -5..5: "
                "not a calibration 'focusqc train' writes"
            )
        self._check_signature(path)

    def _read_metadata(self, path: Path) -> dict[str, str]:
        meta = dict(self.session.get_modelmeta().custom_metadata_map)
        if meta.get("focusqc.format") != "focusqc.focus-model":
            raise ModelError(
                f"{path} is an ONNX model but not a focusqc focus model "
                "(no focusqc metadata): export it with 'focusqc train'"
            )
        return meta

    def _meta_number(self, key: str, path: Path) -> float:
        try:
            return float(self.meta[key])
        except (KeyError, ValueError) as exc:
            raise ModelError(
                f"{path}: metadata {key} is missing or not a number: export it with 'focusqc train'"
            ) from exc

    def _check_signature(self, path: Path) -> None:
        inputs = self.session.get_inputs()
        shape = inputs[0].shape if len(inputs) == 1 else None
        if (
            shape is None
            or inputs[0].name != "patches"
            or list(shape[1:]) != [3, self.patch_px, self.patch_px]
        ):
            raise ModelError(
                f"{path} takes {[(i.name, i.shape) for i in inputs]}, expected "
                f"one input 'patches' of shape [batch, 3, {self.patch_px}, "
                f"{self.patch_px}]"
            )

    @property
    def version(self) -> str:
        """Model version string from the metadata."""
        return self.meta.get("focusqc.model_version", "unknown")

    def predict(self, patches: NDArray[np.float32]) -> tuple[NDArray[np.float32], ...]:
        """Run the network on (B, 3, P, P) patches: bin probabilities, side, blank (calibrated)."""
        probs, side, blank = self.session.run(None, {"patches": patches.astype(np.float32)})
        blank = np.asarray(blank)
        if self.blank_offset:
            p = np.clip(blank, 1e-7, 1 - 1e-7)
            blank = 1 / (1 + np.exp(-(np.log(p / (1 - p)) + self.blank_offset)))
        return np.asarray(probs), np.asarray(side), np.asarray(blank, np.float32)

    def score(
        self,
        image: NDArray[np.generic],
        *,
        pixel_size_um: float,
        na: float,
        wavelength_um: float,
        n_immersion: float = 1.0,
        budget: int = 16,
    ) -> TileScore:
        """Score one camera tile given its optics (defocus comes back in micrometres)."""
        from focusqc.models.postprocess import aggregate

        patches = tile_patches(
            image, pixel_size_um, na, wavelength_um, self.patch_px, budget, self.canonical
        )
        probs, side, blank = self.predict(patches.pixels)
        return aggregate(
            probs,
            side,
            blank,
            self.bin_centres,
            patches,
            na=na,
            wavelength_um=wavelength_um,
            n_immersion=n_immersion,
            provider=self.provider,
            edges_dof=self.bin_edges,
        )


def _checked_sha256(path: Path, expected: str | None) -> str:
    """The file's SHA-256, read once; a clear error when it is not the ``expected`` pin."""
    digest = file_sha256(path)
    if expected and digest != expected:
        raise ModelError(
            f"model file {path} does not match its pinned SHA-256 "
            f"{expected[:12]}...: the file is corrupt or was replaced"
        )
    return digest


def _pinned_int8(path: Path, pins: dict[str, str]) -> Path:
    """The model's int8 copy, which must exist and be pinned beside the model."""
    sibling = int8_sibling(path)
    if sibling.name not in pins or not sibling.is_file():
        raise ModelError(
            f"precision int8 asked for, but {sibling} is missing or not pinned in "
            f"{path.with_suffix('.sha256')}: 'focusqc train' writes both"
        )
    return sibling


def _session(ort: Any, path: Path, options: Any, providers: list[str]) -> Any:
    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:
        raise ModelError(f"onnxruntime cannot load {path}: {exc}") from exc
