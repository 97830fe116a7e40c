"""``focusqc evaluate`` end to end on a small fraction of every set, with the shipped model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PIL import Image

if TYPE_CHECKING:
    from conftest import FocusqcCli

pytest.importorskip("matplotlib", reason="the evaluation report needs the train extra")


def test_evaluate_writes_a_report_with_targets_tables_and_plots(
    tmp_path: Path, shared_data_if_present: Path | None, focusqc_cli: FocusqcCli
) -> None:
    real = ["--real-data", str(shared_data_if_present)] if shared_data_if_present else []
    run = focusqc_cli(
        "evaluate", str(tmp_path), "--fraction", "0.01", "--workers", "2", *real, timeout=600
    )
    assert run.returncode == 0, run.stderr
    assert "wrote" in run.stdout and "20x in/out F1" in run.stdout
    # Progress goes to stderr, a line per tenth, when there is no terminal.
    assert "robustness conditions: 50/50" in run.stderr
    report = (tmp_path / "evaluation.md").read_text()
    for heading in (
        "## Targets",
        "## Held-out simulated sets",
        "## Where the 20x/0.75 fluorescence error comes from",
        "## Robustness",
    ):
        assert heading in report
    assert report.count("| pixelate |") == 5  # every severity of every corruption is a row
    assert "CPUExecutionProvider (float32)" in report  # the precision it ran at
    if real:
        assert "bbbc006/in_focus" in report
    assert "| specimen: " in report and "| brightest structure " in report
    assert "| specimen thickness " in report
    for plot in ("eval_scatter", "eval_auc", "eval_robustness", "eval_certainty", "eval_breakdown"):
        with Image.open(tmp_path / f"{plot}.png") as png:
            assert png.size[0] > 300


def test_evaluate_refuses_a_missing_real_data_folder(
    tmp_path: Path, focusqc_cli: FocusqcCli
) -> None:
    run = focusqc_cli(
        "evaluate", str(tmp_path), "--real-data", str(tmp_path / "nope"), timeout=120, columns=300
    )
    assert run.returncode == 2 and "does not exist" in run.stderr


def test_evaluate_refuses_an_unknown_precision(tmp_path: Path, focusqc_cli: FocusqcCli) -> None:
    run = focusqc_cli("evaluate", str(tmp_path), "--precision", "fp16", timeout=120, columns=300)
    assert run.returncode == 2 and "use float32 or int8" in run.stderr
