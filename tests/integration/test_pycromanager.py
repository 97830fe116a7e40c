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


def simulated_camera(
    nuclei_tile: Callable[[float], np.ndarray],
) -> Callable[[np.ndarray, dict[str, Any]], np.ndarray]:
    """Frames rendered at the z the engine really moved to (the demo camera does not blur)."""

    def camera(image: np.ndarray, metadata: dict[str, Any]) -> np.ndarray:
        return nuclei_tile(float(metadata["ZPosition_um_Intended"]) - FOCUS_UM)

    return camera


def scorer_20x() -> DeadlineScorer:
    """The shipped model on the CPU, for the 20x/0.75 optics the simulated camera renders."""
    return DeadlineScorer(
        FocusScorer(provider="cpu"), 10_000, na=0.75, wavelength_um=0.461, n_immersion=1.0
    )


@pytest.fixture(scope="module")
def backend() -> None:
    start_python_backend()


# ndstorage (pycromanager's data set) leaves one read handle of its own TIFF to the collector.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_an_out_of_focus_tile_is_caught_refocused_and_reacquired(
    backend: None, tmp_path: Path, nuclei_tile: Callable[[float], np.ndarray]
) -> None:
    camera = simulated_camera(nuclei_tile)

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
        scorer = scorer_20x()
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


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_positions_time_points_channels_and_z_stacks_all_pass_through(
    backend: None, tmp_path: Path, nuclei_tile: Callable[[float], np.ndarray]
) -> None:
    from pycromanager import multi_d_acquisition_events

    camera = simulated_camera(nuclei_tile)

    events = multi_d_acquisition_events(
        xy_positions=[[0, 0], [200, 0]],
        z_start=-1,
        z_end=1,
        z_step=1,
        channel_group="Channel",
        channels=["DAPI", "FITC"],
        num_time_points=2,
    )
    settings = Settings(endpoints=Endpoints(publish="inproc://md-pub", snapshot="inproc://md-snap"))
    bus = EventBus("md", settings.endpoints, tmp_path / "j.sqlite")
    try:
        scorer = scorer_20x()
        qc, dataset = run_acquisition(
            settings,
            events,
            tmp_path,
            "md",
            scorer,
            bus,
            pixel_size_um=0.65,
            camera=camera,
            timeout_s=120,
        )
        saved = [dataset.read_metadata(**e["axes"])["focusqc"] for e in events]
        dataset.close()
    finally:
        bus.close()
    assert len(saved) == 24 == qc.kept  # every frame of 2 t x 2 p x 2 c x 3 z was saved once
    middle = [f for e, f in zip(events, saved, strict=True) if e["axes"]["z"] == 1]
    others = [f for e, f in zip(events, saved, strict=True) if e["axes"]["z"] != 1]
    assert all(f["action"] == "in_focus" for f in middle)  # the middle plane of each stack
    assert all(f["action"] == "unchecked" for f in others)  # the rest are meant to be out


def test_a_stage_rectangle_becomes_a_snake_of_tiles() -> None:
    from focusqc.drivers.pycro import stage_rectangle

    tiles = stage_rectangle((0.0, 0.0), (180.0, 90.0), field_um=100.0, overlap=0.1)
    assert tiles == [
        [0.0, 0.0],
        [90.0, 0.0],
        [180.0, 0.0],
        [180.0, 90.0],
        [90.0, 90.0],
        [0.0, 90.0],
    ]
    with pytest.raises(ValueError, match="overlap"):
        stage_rectangle((0, 0), (1, 1), field_um=10, overlap=1.0)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_the_thin_agent_asks_a_remote_scanner_hook(
    backend: None, tmp_path: Path, nuclei_tile: Callable[[float], np.ndarray]
) -> None:
    """The microscope PC runs pycromanager + the agent; the GPU box runs ``focusqc serve``."""
    from pycromanager import Acquisition

    from focusqc.drivers.pycro import PycroQC, remote_judge
    from focusqc.drivers.scanner import ScannerClient
    from focusqc.service.serve import ScannerHook

    settings = Settings(
        endpoints=Endpoints(
            publish="tcp://127.0.0.1:*", snapshot="tcp://127.0.0.1:*", scanner="tcp://127.0.0.1:*"
        )
    )
    bus = EventBus("gpu-box", settings.endpoints, tmp_path / "j.sqlite")
    scorer = scorer_20x()
    hook = ScannerHook(settings, scorer, bus)
    hook.start()
    client = ScannerClient(hook.endpoint, timeout_s=30)
    agent = PycroQC(remote_judge(client), settings.safety, pixel_size_um=0.65)
    camera = simulated_camera(nuclei_tile)

    def process(image: np.ndarray, metadata: dict[str, Any], queue: Any) -> Any:
        return agent.image_process(camera(image, metadata), metadata, queue)

    try:
        acq = Acquisition(
            directory=str(tmp_path), name="agent", image_process_fn=process, show_display=False
        )
        acq.acquire(
            agent.plan([{"axes": {"position": 0}, "z": 0.0}, {"axes": {"position": 1}, "z": 6.0}])
        )
        assert agent.wait_until_done(120)
        acq.mark_finished()
        acq.await_completion()
        dataset = acq.get_dataset()
        verdicts = [dataset.read_metadata(position=p)["focusqc"] for p in range(2)]
        dataset.close()
    finally:
        client.close()
        hook.close()
        bus.close()
    assert [v["action"] for v in verdicts] == ["in_focus", "in_focus"]
    assert verdicts[0]["attempt"] == 0 and verdicts[1]["attempt"] >= 1
    assert hook.served == 2 + agent.reacquired  # every frame was judged on the GPU box
