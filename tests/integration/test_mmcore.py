"""The MMCore driver on Micro-Manager's demo devices, and the QC loop on pymmcore-plus's own
simulated sample (a simulator nobody here wrote): blur grows as z leaves focus."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from focusqc.config.settings import Endpoints, Policy, Safety, Settings
from focusqc.models.scorer import FocusScorer
from focusqc.service.bus import EventBus
from focusqc.service.deadline import DeadlineScorer
from focusqc.service.pipeline import QCLoop
from focusqc.service.run_docs import RunDocuments

pytest.importorskip("pymmcore_plus", reason="needs the micromanager extra")
simulate = pytest.importorskip("pymmcore_plus.experimental.simulate")

from focusqc.drivers.mmcore import DriverError, MMCoreScope, demo_core  # noqa: E402

if TYPE_CHECKING:
    from conftest import FocusqcCli

# pymmcore-plus's sample blurs by 0.125 px per um of z at 1 um pixels: the geometric blur of an
# NA 0.125 objective, so that is the optics the QC is configured with.
OPTICS = {"na": 0.125, "wavelength_um": 0.52, "n_immersion": 1.0}


@pytest.fixture(scope="module")
def core() -> Any:
    return demo_core()


@pytest.fixture
def sample(core: Any) -> Iterator[None]:
    rng = np.random.default_rng(0)
    cells = [
        simulate.Ellipse((float(x), float(y)), float(r), float(0.8 * r), intensity=200, fill=True)
        for x, y, r in zip(
            rng.uniform(0, 512, 30), rng.uniform(0, 512, 30), rng.uniform(8, 18, 30), strict=True
        )
    ]
    spots = [
        simulate.Point(float(x), float(y), intensity=255, radius=1.5)
        for x, y in zip(rng.uniform(0, 512, 100), rng.uniform(0, 512, 100), strict=True)
    ]
    with simulate.Sample(cells + spots).patch(core):
        yield


def test_the_driver_moves_snaps_and_autofocuses_the_demo_devices(core: Any) -> None:
    scope = MMCoreScope(core)
    scope.set_z(12.5)
    assert scope.get_z() == pytest.approx(12.5)
    scope.move_xy(100.0, -50.0)
    assert scope.get_xy() == pytest.approx((100.0, -50.0), abs=0.01)  # the demo stage steps
    image = scope.snap()
    assert image.shape == (512, 512) and image.dtype == np.uint16
    assert isinstance(scope.autofocus(), float)  # the demo autofocus accepts fullFocus
    assert scope.pixel_size_um == 1.0


def test_a_core_without_a_pixel_size_is_refused_with_the_fix(core: Any) -> None:
    scope = MMCoreScope(core)
    scope._pixel = None
    preset = core.getCurrentPixelSizeConfig()
    core.setPixelSizeUm(preset, 0.0)
    try:
        with pytest.raises(DriverError, match=r"optics\.pixel_size_um"):
            _ = scope.pixel_size_um
    finally:
        core.setPixelSizeUm(preset, 1.0)


@pytest.mark.usefixtures("sample")
@pytest.mark.parametrize("start_um", [150.0, -150.0])
def test_qc_catches_refocuses_and_reacquires_on_pymmcore_plus_simulated_sample(
    core: Any, tmp_path: Path, start_um: float
) -> None:
    scope = MMCoreScope(core)
    settings = Settings(
        endpoints=Endpoints(publish="inproc://mm-pub", snapshot="inproc://mm-snap"),
        safety=Safety(z_min_um=-200.0, z_max_um=200.0, max_step_um=300.0),
        policy=Policy(strategies=("model", "sweep")),
    )
    bus = EventBus("mm", settings.endpoints, tmp_path / "j.sqlite")
    try:
        loop = QCLoop(
            settings,
            scope,
            DeadlineScorer(FocusScorer(provider="cpu"), 10_000, **OPTICS),
            RunDocuments(bus, (1, 2), {}),
            (1, 2),
        )
        scope.set_z(0.0)  # in focus: passes untouched
        assert loop.tile(0, 0, 0, (0.0, 0.0)).action == "in_focus"
        assert scope.get_z() == 0.0
        scope.set_z(start_um)  # 4.5 depths of field out: caught, refocused, re-acquired
        decision = loop.tile(1, 0, 1, (0.0, 0.0))
        events = [e.body["data"] for e in bus.journal.read() if e.kind == "event"]
        tile = [e for e in events if e.get("tile") == 1 and "action" in e]
        story = [
            (e["action"], e["z_um"], e["defocus_um"], e["certainty"], e["reason"]) for e in tile
        ]
        assert decision.action == "in_focus", story
        assert tile[0]["action"] == "refocus" and len(tile) >= 2, story
        assert abs(scope.get_z()) < 0.8 * 2.5 * 33.6, story  # within the hysteresis limit
    finally:
        bus.close()


@pytest.mark.usefixtures("sample")
def test_an_mda_with_qc_refocuses_the_bad_position_and_keeps_the_correction(
    core: Any, tmp_path: Path
) -> None:
    import useq

    from focusqc.service.mda import run_mda

    settings = Settings(
        endpoints=Endpoints(publish="inproc://mda-pub", snapshot="inproc://mda-snap"),
        safety=Safety(z_min_um=-200.0, z_max_um=200.0, max_step_um=300.0),
        policy=Policy(strategies=("model", "sweep")),
    )
    # Two positions over two time points; the second position was marked 150 um off focus.
    sequence = useq.MDASequence(
        stage_positions=[(0.0, 0.0, 0.0), (0.0, 0.0, 150.0)],
        time_plan={"interval": 0, "loops": 2},
        axis_order="tpcz",
    )
    bus = EventBus("mda", settings.endpoints, tmp_path / "j.sqlite")
    try:
        scorer = DeadlineScorer(FocusScorer(provider="cpu"), 10_000, **OPTICS)
        result = run_mda(settings, core, sequence, scorer, bus)
    finally:
        bus.close()
    # One frame per event reached the writers, each with its QC metadata.
    assert [(f["index"]["t"], f["index"]["p"]) for f in result.frames] == [
        (0, 0),
        (0, 1),
        (1, 0),
        (1, 1),
    ]
    story = [(f["index"], f["attempt"], f["action"], f["reason"]) for f in result.frames]
    assert all(f["action"] == "in_focus" and f["model_version"] for f in result.frames), story
    first, bad, _, bad_again = result.frames
    assert first["attempt"] == 0 and bad["attempt"] >= 1, story  # caught and re-acquired
    assert result.reacquired == bad["attempt"]
    assert bad_again["attempt"] == 0, story  # the next time point keeps the correction


def test_the_mda_command_runs_a_sequence_file_on_the_demo_devices(
    tmp_path: Path, focusqc_cli: FocusqcCli
) -> None:
    sequence = tmp_path / "plan.yaml"
    sequence.write_text(
        "stage_positions:\n  - {x: 0, y: 0, z: 0}\n  - {x: 100, y: 0, z: 5}\n"
        "time_plan: {interval: 0, loops: 2}\naxis_order: tpcz\n"
    )
    config = tmp_path / "c.toml"
    config.write_text(
        "[endpoints]\npublish = 'tcp://127.0.0.1:*'\nsnapshot = 'tcp://127.0.0.1:*'\n"
        f"[journal]\npath = '{tmp_path / 'j.sqlite'}'\n"
    )
    run = focusqc_cli("mda", str(sequence), "--config", str(config), timeout=300)
    assert run.returncode == 0, run.stderr
    assert "4 frames emitted" in run.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("stage_positions: 7\n")
    refused = focusqc_cli("mda", str(bad), "--config", str(config), timeout=120)
    assert refused.returncode == 2 and "is not a useq MDASequence" in refused.stderr
