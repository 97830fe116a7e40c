"""The shipped model's int8 copy: the CPU runs it when asked, it agrees with the float model."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pytest

from focusqc.models.evaluate import TARGET_SET, held_out_set, render_set
from focusqc.models.scorer import (
    BLANK_OFFSET_KEY,
    SHIPPED_MODEL,
    FocusScorer,
    ModelError,
    int8_sibling,
)

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import FocusqcCli


def test_the_cpu_runs_the_pinned_int8_copy_when_asked() -> None:
    float32, int8 = FocusScorer(), FocusScorer(precision="int8")
    assert (float32.precision, float32.path.name) == ("float32", "focus_model.onnx")
    assert (int8.precision, int8.path.name) == ("int8", "focus_model.int8.onnx")
    assert int8.version == float32.version and int8.provider == "CPUExecutionProvider"
    ort = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        # A GPU asked for and the CPU given: the CPU's own copy, not the float model.
        assert FocusScorer(provider="cuda", precision="int8").precision == "int8"


def test_int8_and_float_models_agree_on_held_out_tiles() -> None:
    """Calibration seeds (20001), not the evaluation's (``evaluate --precision int8``)."""
    tiles = render_set(replace(held_out_set(TARGET_SET), seed=20001), 40)
    models = FocusScorer(), FocusScorer(precision="int8")
    gaps, same = [], []
    for image, labels in tiles:
        optics = labels["params"]["optics"]
        a, b = (
            m.score(
                image,
                pixel_size_um=optics["pixel_size_um"],
                na=optics["na"],
                wavelength_um=optics["wavelength_um"],
                n_immersion=optics["n_immersion"],
            )
            for m in models
        )
        gaps.append(abs(a.defocus_dof - b.defocus_dof))
        same.append((a.defocus_dof > 2.5) == (b.defocus_dof > 2.5))
    # Measured on 300 such tiles: median gap 0.07 DOF, verdicts the same on 99.3%.
    assert np.median(gaps) < 0.2
    assert np.mean(same) >= 0.9


def _copy_pair(tmp_path: Path) -> Path:
    for name in ("focus_model.onnx", "focus_model.int8.onnx", "focus_model.sha256"):
        shutil.copy(SHIPPED_MODEL.with_name(name), tmp_path / name)
    return tmp_path / "focus_model.onnx"


def test_the_int8_copy_is_used_only_when_pinned_and_intact(tmp_path: Path) -> None:
    model = _copy_pair(tmp_path)
    assert FocusScorer(model, precision="int8").precision == "int8"
    copy = int8_sibling(model)
    data = bytearray(copy.read_bytes())
    data[-100] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"focus_model\.int8\.onnx does not match its pinned"):
        FocusScorer(model, precision="int8")
    assert FocusScorer(model).precision == "float32"  # the float model needs only its own pin
    # Pinned no longer: refused by name.
    model.with_suffix(".sha256").write_text(model.with_suffix(".sha256").read_text().split("\n")[0])
    with pytest.raises(ModelError, match="precision int8 asked for"):
        FocusScorer(model, precision="int8")
    # The float model is checked against its own pin too.
    model.write_bytes(model.read_bytes()[:-10])
    with pytest.raises(ModelError, match=r"focus_model\.onnx does not match its pinned"):
        FocusScorer(model)


def test_the_shipped_int8_copy_is_the_float_model_quantized(tmp_path: Path) -> None:
    """What 'focusqc train' does after export: quantize, then calibrate each file on its own."""
    onnx = pytest.importorskip("onnx", reason="quantizing needs the train extra")
    from focusqc.models.train.quantize import quantize

    def without_offset(path: Path) -> object:
        proto = onnx.load(str(path))
        kept = [(e.key, e.value) for e in proto.metadata_props if e.key != BLANK_OFFSET_KEY]
        del proto.metadata_props[:]
        for key, value in kept:
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        return proto

    raw = tmp_path / "focus_model.onnx"
    onnx.save(without_offset(SHIPPED_MODEL), str(raw))
    quantize(raw, int8_sibling(raw))
    made = without_offset(int8_sibling(raw))
    shipped = without_offset(int8_sibling(SHIPPED_MODEL))
    assert made.SerializeToString() == shipped.SerializeToString()  # type: ignore[attr-defined]


def test_score_command_runs_the_int8_copy_when_asked(
    tmp_path: Path, focusqc_cli: FocusqcCli
) -> None:
    import json

    import tifffile

    from focusqc.models.sim.draw import draw_spec
    from focusqc.models.sim.render import render

    tile = render(draw_spec(8, "fluorescence"))
    path = tmp_path / "tile.tif"
    tifffile.imwrite(path, tile.image)
    o = tile.spec.optics
    optics = ["--pixel-size-um", str(o.pixel_size_um), "--na", str(o.na)]
    optics += ["--n-immersion", str(o.n_immersion), "--wavelength-nm", str(o.wavelength_um * 1e3)]
    rows = {}
    for precision in ("float32", "int8"):
        proc = focusqc_cli("score", str(path), *optics, "--json", "--precision", precision)
        assert proc.returncode == 0, proc.stderr
        rows[precision] = json.loads(proc.stdout)
    assert rows["int8"]["precision"] == "int8" and rows["float32"]["precision"] == "float32"
    assert abs(rows["int8"]["defocus_dof"] - rows["float32"]["defocus_dof"]) < 1.0
    bad = focusqc_cli("score", str(path), *optics, "--precision", "int4")
    assert bad.returncode == 2 and "use float32 or int8" in bad.stderr


def test_the_daemon_runs_the_int8_copy_when_its_config_asks(
    tmp_path: Path, focusqc_cli: FocusqcCli
) -> None:
    config = tmp_path / "int8.toml"
    config.write_text(
        '[runtime]\nprecision = "int8"\n'
        '[endpoints]\npublish = "tcp://127.0.0.1:*"\nsnapshot = "tcp://127.0.0.1:*"\n'
        f'[journal]\npath = "{tmp_path / "journal.sqlite"}"\n'
    )
    run = focusqc_cli("run", "--config", str(config), "--max-tiles", "2", timeout=120)
    assert run.returncode == 0, run.stderr
    assert re.search(r"model \S+ \(int8\) on CPUExecutionProvider", run.stderr + run.stdout)
