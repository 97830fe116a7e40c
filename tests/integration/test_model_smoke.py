"""Train a tiny model for a few steps, export it, and score with real onnxruntime."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from focusqc.models.scorer import FocusScorer, ModelError, file_sha256
from focusqc.models.sim.draw import draw_spec
from focusqc.models.sim.render import render

if TYPE_CHECKING:
    from conftest import FocusqcCli

torch = pytest.importorskip("torch", reason="training needs the train extra")
pytest.importorskip("onnx", reason="export needs the train extra")


def _train_tiny(out: Path) -> Path:
    from focusqc.models.train.data import make_training_set
    from focusqc.models.train.fit import TrainConfig, export, fit

    config = TrainConfig(seed=3, tiles=16, epochs=2, batch=16, width=4)
    data = make_training_set(config.tiles, config.seed)
    assert data["patches"].shape == (64, 3, 64, 64)
    model = fit(data, config)
    path = out / "focus_model.onnx"
    digest = export(model, config, path, version="smoke")
    assert digest == file_sha256(path)
    return path


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _train_tiny(tmp_path_factory.mktemp("model"))


def test_training_again_from_the_same_seed_gives_the_same_file(
    tiny_model: Path, tmp_path: Path
) -> None:
    """What lets a user check a retrain against the pinned SHA-256 of the shipped model."""
    assert file_sha256(_train_tiny(tmp_path)) == file_sha256(tiny_model)


def test_exported_model_scores_a_tile_on_the_cpu(tiny_model: Path) -> None:
    scorer = FocusScorer(tiny_model, provider="cpu", expected_sha256=file_sha256(tiny_model))
    assert scorer.provider == "CPUExecutionProvider" and scorer.version == "smoke"
    tile = render(draw_spec(5, "fluorescence"))
    optics = tile.spec.optics
    result = scorer.score(
        tile.image,
        pixel_size_um=optics.pixel_size_um,
        na=optics.na,
        wavelength_um=optics.wavelength_um,
        n_immersion=optics.n_immersion,
        budget=6,
    )
    assert np.isfinite(result.defocus_um) and result.defocus_um >= 0
    assert 0 <= result.certainty <= 1 and 0 <= result.side_above_prob <= 1
    assert len(result.patch_defocus_um) == len(result.patch_centres_px) <= 6
    # The tile's bin distribution, for reading several looks together.
    assert result.defocus_probs is not None and len(result.bin_edges_dof) == 12
    assert float(result.defocus_probs.sum()) == pytest.approx(1.0, abs=1e-5)
    centres = np.asarray(scorer.bin_centres, np.float64)
    expected = float(result.defocus_probs @ centres) * result.depth_of_field_um
    assert result.defocus_um == pytest.approx(expected, rel=1e-5)


def test_corrupt_or_foreign_model_files_are_refused(tiny_model: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="SHA-256"):
        FocusScorer(tiny_model, expected_sha256="0" * 64)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(tiny_model.read_bytes()[:500])
    with pytest.raises(ModelError, match="cannot load"):
        FocusScorer(broken)
    with pytest.raises(ModelError, match="not found"):
        FocusScorer(tmp_path / "missing.onnx")
    import onnx

    foreign = onnx.load(str(tiny_model))
    del foreign.metadata_props[:]
    plain = tmp_path / "plain.onnx"
    onnx.save(foreign, str(plain))
    with pytest.raises(ModelError, match="not a focusqc focus model"):
        FocusScorer(plain)


def _edit_metadata(model: Path, out: Path, key: str, value: str | None) -> Path:
    """A copy of ``model`` with one metadata entry replaced, or removed when ``value`` is None."""
    import onnx

    proto = onnx.load(str(model))
    kept = [(e.key, e.value) for e in proto.metadata_props if e.key != key]
    del proto.metadata_props[:]
    for k, v in [*kept, *([(key, value)] if value is not None else [])]:
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(proto, str(out))
    return out


def test_patches_are_cut_at_the_canonical_sampling_the_model_names(
    tiny_model: Path, tmp_path: Path
) -> None:
    """The sampling comes from the model file, so a model trained at another one is fed right."""
    key = "focusqc.canonical_pixel_per_lambda_over_na"
    coarse = _edit_metadata(tiny_model, tmp_path / "coarse.onnx", key, "0.5")
    image = render(draw_spec(5, "fluorescence")).image
    optics = {"pixel_size_um": 0.65, "na": 0.75, "wavelength_um": 0.52}
    shipped_like = FocusScorer(tiny_model, provider="cpu")
    assert shipped_like.canonical == pytest.approx(1 / 3)
    native = shipped_like.score(image, **optics, budget=2).patch_native_px
    coarse_native = FocusScorer(coarse, provider="cpu").score(image, **optics, budget=2)
    # 64 canonical pixels of lambda/NA / 3 are 23 camera pixels; of lambda/NA / 2, 35.
    assert (native, coarse_native.patch_native_px) == (23, 35)
    for value in (None, "wide", "0"):
        with pytest.raises(ModelError, match="canonical"):
            FocusScorer(_edit_metadata(tiny_model, tmp_path / "bad.onnx", key, value))


def test_calibration_writes_a_blank_offset_that_the_scorer_applies(
    tiny_model: Path, tmp_path: Path
) -> None:
    """Only P(blank) moves, by the fitted logit shift; the defocus bins are untouched."""
    import shutil

    from focusqc.models.scorer import BLANK_OFFSET_KEY
    from focusqc.models.train.calibrate import calibrate

    model = shutil.copy(tiny_model, tmp_path / "calibrated.onnx")
    (offset,) = calibrate(model, tiles_per_set=12)
    assert offset == round(offset, 2) and abs(offset) <= 5
    raw, calibrated = FocusScorer(tiny_model), FocusScorer(model)
    assert (raw.blank_offset, calibrated.blank_offset) == (0.0, offset)
    assert calibrated.meta[BLANK_OFFSET_KEY] == repr(offset)
    patches = np.random.default_rng(0).random((5, 3, 64, 64), dtype=np.float32)
    (p0, s0, b0), (p1, s1, b1) = raw.predict(patches), calibrated.predict(patches)
    np.testing.assert_array_equal(p0, p1)
    np.testing.assert_array_equal(s0, s1)
    logit = np.log(b0 / (1 - b0)) + offset
    np.testing.assert_allclose(b1, 1 / (1 + np.exp(-logit)), atol=1e-6)
    with pytest.raises(ValueError, match="calibrated already"):
        calibrate(model, tiles_per_set=12)
    for value in ("9", "nan", "wide"):
        bad = _edit_metadata(tiny_model, tmp_path / "bad.onnx", BLANK_OFFSET_KEY, value)
        with pytest.raises(ModelError, match="blank_logit_offset"):
            FocusScorer(bad)


def test_train_command_exports_calibrates_and_pins_the_file(
    tmp_path: Path, focusqc_cli: FocusqcCli
) -> None:
    """One untrained-size run of the command: the files it pins are the calibrated ones.

    The float model and its int8 copy, each with its own blank-logit offset.
    """
    import json

    out = tmp_path / "model"
    args = ["train", str(out), "--tiles", "16", "--epochs", "1", "--seed", "4", "--width", "4"]
    proc = focusqc_cli(*args, "--calibration-tiles", "12", "--workers", "1", timeout=300)
    assert proc.returncode == 0, proc.stderr
    log = json.loads((out / "train_log.json").read_text())
    model = out / "focus_model.onnx"
    pins = (out / "focus_model.sha256").read_text().splitlines()
    assert pins == [
        f"{log['sha256']}  focus_model.onnx",
        f"{log['sha256_int8']}  focus_model.int8.onnx",
    ]
    float32, int8 = FocusScorer(model), FocusScorer(model, precision="int8")
    assert (float32.sha256, int8.sha256) == (log["sha256"], log["sha256_int8"])
    assert (float32.precision, int8.precision) == ("float32", "int8")
    assert float32.blank_offset == log["blank_logit_offset"]
    assert int8.blank_offset == log["blank_logit_offset_int8"]
    assert float32.version == int8.version == "sim-4-w4"
    assert log["config"]["width"] == 4

    # `focusqc export` makes the same files again from the checkpoint train left.
    again = tmp_path / "again"
    args = ["export", str(out / "focus_model.pt"), str(again), "--calibration-tiles", "12"]
    proc = focusqc_cli(*args, "--workers", "1", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (again / "focus_model.sha256").read_text() == (out / "focus_model.sha256").read_text()
    exported = json.loads((again / "export_log.json").read_text())
    assert exported["version"] == "sim-4-w4"
    for key in ("config_sha256", "blank_logit_offset", "blank_logit_offset_int8"):
        assert exported[key] == log[key]


def test_export_refuses_what_is_not_a_focusqc_checkpoint(
    tmp_path: Path, focusqc_cli: FocusqcCli
) -> None:
    """A missing file, a file of another kind, and a torch file of another program."""
    foreign = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    for path, says in (
        (tmp_path / "missing.pt", "no such checkpoint"),
        (text, "not a readable torch checkpoint"),
        (foreign, "not a focusqc checkpoint"),
    ):
        proc = focusqc_cli("export", str(path), str(tmp_path / "out"), timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert says in proc.stderr
        assert not (tmp_path / "out" / "focus_model.onnx").exists()


@pytest.mark.parametrize("command", ["train", "export"])
def test_without_the_train_extra_the_command_says_which_extra_and_writes_nothing(
    command: str, tmp_path: Path
) -> None:
    """A user who installed only ``.[cpu]`` asks for training or export."""
    import subprocess
    import sys

    out = tmp_path / "out"
    args = (
        [command, str(out)] if command == "train" else [command, str(tmp_path / "m.pt"), str(out)]
    )
    code = (  # torch cannot be found, as if never installed (a finder placed first says so)
        "import importlib.abc, sys\n"
        "class NoTorch(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'torch':\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, NoTorch())\n"
        "from focusqc.service.cli import app\n"
        f"sys.argv = ['focusqc', *{args!r}]\n"
        "app()"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 2, run.stderr
    assert "needs the train extra" in run.stderr and "pip install -e '.[train]'" in run.stderr
    assert not out.exists()


def test_gpu_required_but_absent_fails_fast(tiny_model: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("a CUDA build of onnxruntime is installed; this checks the CPU fallback")
    with pytest.raises(ModelError, match="requires a GPU"):
        FocusScorer(tiny_model, provider="cuda", require_gpu=True)


def test_score_command_prints_json_draws_montage_and_reports_bad_files(
    tiny_model: Path, tmp_path: Path, focusqc_cli: FocusqcCli
) -> None:
    import json

    import tifffile
    from PIL import Image

    tile = render(draw_spec(8, "fluorescence"))
    good = tmp_path / "tile.tif"
    tifffile.imwrite(good, tile.image)
    rgb = tmp_path / "slide.png"
    Image.fromarray(render(draw_spec(8, "brightfield")).image).save(rgb)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    o = tile.spec.optics
    args = [
        "score",
        str(good),
        str(rgb),
        str(bad),
        "--model",
        str(tiny_model),
        "--pixel-size-um",
        str(o.pixel_size_um),
        "--na",
        str(o.na),
        "--n-immersion",
        str(o.n_immersion),
        "--wavelength-nm",
        str(o.wavelength_um * 1000),
        "--json",
        "--montage",
        str(tmp_path / "pics"),
    ]
    proc = focusqc_cli(*args, timeout=120)
    assert proc.returncode == 1  # one file could not be read
    assert "bad.png" in proc.stderr and "cannot read" in proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [Path(r["path"]).name for r in rows] == ["tile.tif", "slide.png"]
    for row in rows:
        assert {"path", "defocus_um", "in_focus", "certainty", "provider"} <= row.keys()
    assert (tmp_path / "pics" / "tile.png").is_file() and (
        tmp_path / "pics" / "slide.png"
    ).is_file()

    missing = focusqc_cli(
        "score",
        str(good),
        "--model",
        str(tmp_path / "none.onnx"),
        "--pixel-size-um",
        "0.65",
        "--na",
        "0.75",
        "--wavelength-nm",
        "460",
    )
    assert missing.returncode == 2 and "not found" in missing.stderr


def test_train_command_defaults_are_the_shipped_training_config() -> None:
    """`focusqc train --seed S` must reproduce the shipped model: its defaults are TrainConfig's."""
    import inspect

    from focusqc.models.train.calibrate import CALIBRATION_TILES
    from focusqc.models.train.fit import TrainConfig
    from focusqc.service.cli_model import train

    params = inspect.signature(train).parameters
    shipped = TrainConfig()
    assert params["tiles"].default == shipped.tiles
    assert params["epochs"].default == shipped.epochs
    assert params["width"].default == shipped.width
    assert params["calibration_tiles"].default == CALIBRATION_TILES
