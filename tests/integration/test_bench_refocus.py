"""``focusqc bench refocus`` runs every strategy on the simulated scope and reports numbers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("matplotlib", reason="the plot needs the train extra")


def test_bench_refocus_reports_each_strategy_and_draws_a_plot(tmp_path: Path) -> None:
    png = tmp_path / "refocus.png"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "focusqc.service",
            "bench",
            "refocus",
            "--trials",
            "3",
            "--plot",
            str(png),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert run.returncode == 0, run.stderr
    for strategy in ("model", "sweep", "hardware"):
        assert f"│ {strategy}" in run.stdout or f"{strategy} │" in run.stdout, run.stdout
    with Image.open(png) as picture:
        assert picture.size[0] > 300


def test_bench_refocus_refuses_an_unknown_strategy() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "focusqc.service", "bench", "refocus", "--strategies", "magic"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert run.returncode == 2 and "unknown strategies" in run.stderr
