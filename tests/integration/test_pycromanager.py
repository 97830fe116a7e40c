"""QC inside a real pycromanager Acquisition, on its Python backend and Micro-Manager's demo
devices. The demo camera does not blur with z, so each frame's pixels are rendered by the
simulator at the z the engine really moved to; everything else (events, hooks, re-queued
events, z moves, saving, metadata) is pycromanager's own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from focusqc.config.settings import Endpoints, Policy, Settings
from focusqc.models.scorer import FocusScorer
from focusqc.service.bus import EventBus
from focusqc.service.deadline import DeadlineScorer

pytest.importorskip("pycromanager", reason="needs the micromanager extra")

from focusqc.drivers.pycro import start_python_backend
from focusqc.service.pycro_run import run_acquisition

FOCUS_UM = 0.0


@pytest.fixture(scope="module")
def backend() -> None:
    start_python_backend()


# ndstorage (pycromanager's data set) leaves one read handle of its own TIFF to the collector.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_an_out_of_focus_tile_is_caught_refocused_and_reacquired(
    backend: None, tmp_path: Path, nuclei_tile: Callable[[float], np.ndarray]
) -> None:
    def camera(image: np.ndarray, metadata: dict[str, Any]) -> np.ndarray:
        return nuclei_tile(float(metadata["ZPosition_um_Intended"]) - FOCUS_UM)

    settings = Settings(
        endpoints=Endpoints(publish="inproc://pm-pub", snapshot="inproc://pm-snap"),
        policy=Policy(max_retries_per_tile=3),
    )
    events = [
        {"axes": {"position": p}, "x": 200.0 * p, "y": 0.0, "z": z}
        for p, z in enumerate([0.0, 0.5, 6.0])  # the third tile is 6 um (8.8 DOF) out
    ]
    bus = EventBus("pm", settings.endpoints, tmp_path / "j.sqlite")
    try:
        scorer = DeadlineScorer(
            FocusScorer(provider="cpu"), 10_000, na=0.75, wavelength_um=0.461, n_immersion=1.0
        )
        qc, dataset = run_acquisition(
            settings,
            events,
            tmp_path,
            "qc",
            scorer,
            bus,
            pixel_size_um=0.65,
            camera=camera,
            timeout_s=120,
        )
        saved = {p: dataset.read_metadata(position=p) for p in range(3)}
        dataset.close()
        journal = [e.body["data"] for e in bus.journal.read() if e.kind == "event"]
    finally:
        bus.close()
    # The in-focus tiles pass untouched: one frame each, saved with a verdict.
    for p in (0, 1):
        assert saved[p]["focusqc"]["action"] == "in_focus" and saved[p]["focusqc"]["attempt"] == 0
    # The defocused one was dropped, re-queued with a corrected z, and saved in focus.
    bad = saved[2]["focusqc"]
    assert bad["action"] == "in_focus" and bad["attempt"] >= 1 and qc.reacquired == bad["attempt"]
    assert abs(float(saved[2]["ZPosition_um_Intended"]) - FOCUS_UM) <= 2.5 * 0.681
    # Every frame the QC saw, dropped or kept, is an event on the stream.
    assert len(journal) == 3 + qc.reacquired
