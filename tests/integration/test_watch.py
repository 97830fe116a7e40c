"""``focusqc watch``: tiles written to a folder are judged once, verdicts kept on disk."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import tifffile

from focusqc.config.settings import Endpoints, Settings
from focusqc.models.scorer import FocusScorer
from focusqc.service.bus import EventBus
from focusqc.service.deadline import DeadlineScorer
from focusqc.service.run_docs import RunDocuments
from focusqc.service.serve import TileJudge
from focusqc.service.watch import VERDICTS, FolderWatch

if TYPE_CHECKING:
    from conftest import FocusqcCli


def test_each_complete_file_is_judged_once_and_a_restart_skips_it(
    tmp_path: Path, nuclei_tile: Callable[[float], np.ndarray]
) -> None:
    folder = tmp_path / "tiles"
    folder.mkdir()
    tifffile.imwrite(folder / "a_sharp.tif", nuclei_tile(0.0))
    tifffile.imwrite(folder / "b_blurred.tif", nuclei_tile(6.0))
    (folder / "c_broken.tif").write_bytes(b"not a tiff")
    settings = Settings(endpoints=Endpoints(publish="inproc://w-pub", snapshot="inproc://w-snap"))
    bus = EventBus("w", settings.endpoints, tmp_path / "j.sqlite")
    scorer = DeadlineScorer(FocusScorer(provider="cpu"), 60_000, na=0.75, wavelength_um=0.461)
    judge = TileJudge(settings, scorer, RunDocuments(bus, None, {}))
    watcher = FolderWatch(folder, judge, 0.65)
    assert watcher.poll() == []  # first look: sizes noted, nothing judged while files may grow
    rows = {r["file"]: r for r in watcher.poll()}
    assert rows["a_sharp.tif"]["in_focus"] and not rows["b_blurred.tif"]["in_focus"]
    assert "error" in rows["c_broken.tif"]
    assert FolderWatch(folder, judge, 0.65).poll(settle=False) == []  # a restart skips them
    lines = [json.loads(x) for x in (folder / VERDICTS).read_text().splitlines()]
    assert sorted(x["file"] for x in lines) == ["a_sharp.tif", "b_blurred.tif", "c_broken.tif"]
    docs = [e.body["data"] for e in bus.journal.read() if e.kind == "event"]
    assert sum("action" in d for d in docs) == 2 and sum("severity" in d for d in docs) == 1
    bus.close()


def test_watch_once_from_the_command_line(
    tmp_path: Path, nuclei_tile: Callable[[float], np.ndarray], focusqc_cli: FocusqcCli
) -> None:
    tifffile.imwrite(tmp_path / "t.tif", nuclei_tile(6.0))
    config = tmp_path / "c.toml"
    config.write_text(
        "[endpoints]\npublish = 'tcp://127.0.0.1:*'\nsnapshot = 'tcp://127.0.0.1:*'\n"
        f"[journal]\npath = '{tmp_path / 'j.sqlite'}'\n"
    )
    run = focusqc_cli(
        "watch",
        str(tmp_path),
        "--once",
        "--pixel-size-um",
        "0.65",
        "--config",
        str(config),
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "t.tif: refocus" in run.stderr
    missing = focusqc_cli("watch", str(tmp_path), "--once", timeout=120)
    assert missing.returncode == 2 and "--pixel-size-um" in missing.stderr
    assert np.isfinite(json.loads((tmp_path / VERDICTS).read_text())["defocus_um"])
