"""Execution-provider plumbing that needs no GPU to check."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from focusqc.models.scorer import choose_providers, preload_gpu_libraries


class _Runtime(SimpleNamespace):
    """An onnxruntime module as far as preloading goes: records calls, may fail."""

    def preload_dlls(self, **kwargs: bool) -> None:
        self.calls.append(kwargs)
        if self.error:
            raise OSError(self.error)


def test_cuda_libraries_are_preloaded_only_for_a_gpu_session() -> None:
    available = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    ort = _Runtime(calls=[], error=None)
    preload_gpu_libraries(ort, choose_providers("cpu", available))
    assert ort.calls == []
    preload_gpu_libraries(ort, choose_providers("auto", available))
    assert ort.calls == [{"cuda": True, "cudnn": True, "msvc": False}]
    # The CPU-only wheel has no CUDA provider and (older versions) no preload_dlls at all.
    preload_gpu_libraries(SimpleNamespace(), choose_providers("auto", ["CPUExecutionProvider"]))


def test_a_failed_preload_warns_and_leaves_the_cpu_fallback_open() -> None:
    ort = _Runtime(calls=[], error="libcudnn.so.9: cannot open shared object file")
    with pytest.warns(RuntimeWarning, match="could not preload the CUDA libraries: libcudnn"):
        preload_gpu_libraries(ort, ["CUDAExecutionProvider", "CPUExecutionProvider"])


def test_providers_are_asked_for_best_first_and_end_with_the_cpu() -> None:
    gpu = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    trt, cuda, cpu = gpu
    assert choose_providers("auto", gpu, tensorrt=True) == [trt, cuda, cpu]
    # onnxruntime-gpu lists TensorRT whether or not its library is there: auto skips it then.
    assert choose_providers("auto", gpu, tensorrt=False) == [cuda, cpu]
    assert choose_providers("tensorrt", gpu, tensorrt=False) == [trt, cuda, cpu]
    assert choose_providers("cuda", gpu) == [cuda, cpu]
    assert choose_providers("cpu", gpu) == [cpu]
    assert choose_providers("auto", [cpu], tensorrt=True) == [cpu]
