"""``focusqc bench refocus`` runs every strategy on the simulated scope and reports numbers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PIL import Image

if TYPE_CHECKING:
    from conftest import FocusqcCli

pytest.importorskip("matplotlib", reason="the plot needs the train extra")


def test_bench_refocus_reports_each_strategy_and_draws_a_plot(
    tmp_path: Path, focusqc_cli: FocusqcCli
) -> None:
    png = tmp_path / "refocus.png"
    run = focusqc_cli(
        "bench", "refocus", "--trials", "3", "--plot", str(png), timeout=300, columns=200
    )
    assert run.returncode == 0, run.stderr
    for strategy in ("model", "sweep", "hardware"):
        assert f"│ {strategy}" in run.stdout or f"{strategy} │" in run.stdout, run.stdout
    assert "landed" in run.stdout, run.stdout  # where each strategy left the tile, by truth
    with Image.open(png) as picture:
        assert picture.size[0] > 300


def test_bench_refocus_refuses_an_unknown_strategy(focusqc_cli: FocusqcCli) -> None:
    run = focusqc_cli("bench", "refocus", "--strategies", "magic", columns=200)
    assert run.returncode == 2 and "unknown strategies" in run.stderr
