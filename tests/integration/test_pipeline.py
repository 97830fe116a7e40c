"""The QC loop in process: the shipped model on the simulated scope, real bus and journal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from focusqc.config.settings import Endpoints, Settings, SimulatedSlide
from focusqc.drivers.simulated import SimulatedScope
from focusqc.models.scorer import FocusScorer
from focusqc.models.sim.camera import expose
from focusqc.service.bus import EventBus
from focusqc.service.deadline import DeadlineScorer
from focusqc.service.decide import Decision
from focusqc.service.pipeline import QCLoop
from focusqc.service.run_docs import RunDocuments
from focusqc.service.scan import Truth, scan

OPTICS = {"na": 0.75, "wavelength_um": 0.461, "n_immersion": 1.0}


@pytest.fixture(scope="module")
def model() -> FocusScorer:
    return FocusScorer(provider="cpu")


class Rig:
    def __init__(
        self,
        tmp: Path,
        model: FocusScorer,
        deadline_ms: float = 5000,
        thickness_um: float = 6.0,
        **optics: Any,
    ):
        self.settings = Settings(
            endpoints=Endpoints(publish="tcp://127.0.0.1:*", snapshot="tcp://127.0.0.1:*"),
            slide=SimulatedSlide(
                rows=1,
                cols=3,
                tile_px=128,
                drift_um_per_tile=0.0,
                blank_tiles=0,
                tilted_region=(9, 9, 9, 9),
                density=2.0,
                thickness_um=thickness_um,
            ),
        )
        self.scope = SimulatedScope(self.settings.slide)
        self.scope.blank = {(0, 2)}
        self.bus = EventBus("t", self.settings.endpoints, tmp / "j.sqlite")
        self.run = RunDocuments(self.bus, (1, 3), {})
        self.scorer = DeadlineScorer(model, deadline_ms, **{**OPTICS, **optics})
        self.loop = QCLoop(self.settings, self.scope, self.scorer, self.run, (1, 3))

    def tile_events(self, tile: int) -> list[dict[str, Any]]:
        docs = [e.body["data"] for e in self.bus.journal.read() if e.kind == "event"]
        return [d for d in docs if d.get("tile") == tile]

    def alarms(self) -> list[dict[str, Any]]:
        docs = [e.body["data"] for e in self.bus.journal.read() if e.kind == "event"]
        return [d for d in docs if "severity" in d]

    def close(self) -> None:
        self.scorer.close()
        self.bus.close()


def test_an_out_of_focus_tile_is_caught_refocused_and_reacquired(
    tmp_path: Path, model: FocusScorer
) -> None:
    rig = Rig(tmp_path, model)
    rig.scope.set_z(6.0)  # focus is at z = 0: 6 um (8.8 depths of field) out
    decision = rig.loop.tile(0, 0, 0, rig.scope.grid_xy(0, 0))
    events = rig.tile_events(0)
    assert events[0]["action"] == "refocus" and events[0]["defocus_um"] > 3.0
    assert decision.action == "in_focus" and events[-1]["action"] == "in_focus"
    assert [e["attempt"] for e in events] == list(range(len(events)))
    # Back within the threshold of focus (2.5 depths of field of 0.68 um).
    assert abs(rig.scope.get_z()) <= rig.settings.policy.threshold_dof * 0.681
    rig.close()


def test_an_in_focus_tile_passes_untouched_and_a_blank_one_is_skipped(
    tmp_path: Path, model: FocusScorer
) -> None:
    rig = Rig(tmp_path, model)
    assert rig.loop.tile(0, 0, 1, rig.scope.grid_xy(0, 1)).action == "in_focus"
    assert rig.scope.get_z() == 0.0 and rig.scope.exposures == 1
    # An evenly lit empty field through the scope's camera. The scope's own blank cells carry a
    # +-30% background texture some 30 um across, which reads like structure far out of focus:
    # the shipped model and the one before it each skipped 26 of 60 of them (the evaluation
    # measures that). An even field is flagged by both (P(blank) >= 0.68 on 20 seeds).
    camera, rng = rig.scope.camera, np.random.default_rng(0)
    rig.scope.snap = lambda: expose(rng, np.full((128, 128), 40.0), camera)  # type: ignore[method-assign]
    assert rig.loop.tile(1, 0, 2, rig.scope.grid_xy(0, 2)).action == "skip"
    [blank] = rig.tile_events(1)
    assert "no structure" in blank["reason"] and blank["z_move_um"] is None
    rig.close()


def test_a_move_that_loses_the_structure_is_undone_before_the_next_strategy(
    tmp_path: Path, model: FocusScorer
) -> None:
    rig = Rig(tmp_path, model)
    # Far out of focus the model reads a field as empty, so a move the wrong way looks like
    # this: the field shows structure only at the z it was found at, and an even, empty field
    # anywhere else the stage goes.
    camera, rng, real_snap = rig.scope.camera, np.random.default_rng(0), rig.scope.snap
    real_autofocus, autofocus_from = rig.scope.autofocus, []

    def snap() -> np.ndarray:
        if rig.scope.get_z() == 6.0:
            return real_snap()
        return expose(rng, np.full((128, 128), 40.0), camera)

    def autofocus() -> float:
        autofocus_from.append(rig.scope.get_z())
        return real_autofocus()

    rig.scope.snap = snap  # type: ignore[method-assign]
    rig.scope.autofocus = autofocus  # type: ignore[method-assign]
    rig.scope.set_z(6.0)
    decision = rig.loop.tile(0, 0, 0, rig.scope.grid_xy(0, 0))
    events = [e for e in rig.tile_events(0) if "action" in e]
    assert [e["action"] for e in events] == ["refocus", "refocus", "alarm"]
    assert events[0]["strategy"] == "model" and events[1]["strategy"] == "hardware"
    assert "back to the first z" in events[1]["reason"]
    # The hardware autofocus started from z 6, not from where the model's move had gone; the
    # event's move is the whole way from where the tile was acquired.
    assert events[1]["z_um"] != 6.0 and autofocus_from == [6.0]
    assert events[1]["z_move_um"] == pytest.approx(events[2]["z_um"] - events[1]["z_um"])
    assert decision.action == "alarm" and "focus may be lost" in decision.reason
    assert rig.scope.get_z() == 6.0  # given up: z back where the tile found it
    rig.close()


def test_a_streak_of_empty_tiles_warns_once_that_focus_may_be_lost(
    tmp_path: Path, model: FocusScorer
) -> None:
    rig = Rig(tmp_path, model)
    rig.settings = rig.loop.settings = rig.settings.model_copy(
        update={"policy": rig.settings.policy.model_copy(update={"empty_streak_warning": 2})}
    )
    camera, rng, real_snap = rig.scope.camera, np.random.default_rng(0), rig.scope.snap
    empty = lambda: expose(rng, np.full((128, 128), 40.0), camera)  # noqa: E731
    rig.scope.snap = empty  # type: ignore[method-assign]
    actions = [rig.loop.tile(i, 0, i % 3, rig.scope.grid_xy(0, i % 3)).action for i in range(3)]
    assert actions == ["skip"] * 3
    rig.scope.snap = real_snap  # type: ignore[method-assign]
    assert rig.loop.tile(3, 0, 0, rig.scope.grid_xy(0, 0)).action == "in_focus"  # ends the streak
    rig.scope.snap = empty  # type: ignore[method-assign]
    for i in (4, 5):
        rig.loop.tile(i, 0, 1, rig.scope.grid_xy(0, 1))
    warnings = rig.alarms()
    assert [(w["tile"], w["severity"]) for w in warnings] == [(1, "warning"), (5, "warning")]
    assert "2 tiles in a row show nothing to focus on" in warnings[0]["message"]
    rig.close()


def test_a_tile_given_up_on_near_focus_keeps_the_z_it_got_to(
    tmp_path: Path, model: FocusScorer
) -> None:
    rig = Rig(tmp_path, model)
    policy = rig.settings.policy.model_copy(
        update={"strategies": ("hardware",), "max_retries_per_tile": 1}
    )
    safety = rig.settings.safety.model_copy(update={"max_step_um": 8.0})
    rig.settings = rig.loop.settings = rig.settings.model_copy(
        update={"policy": policy, "safety": safety}
    )
    rig.scope.set_z(11.0)  # the autofocus's move is cut to 8 um: it ends 3 um out
    decision = rig.loop.tile(0, 0, 0, rig.scope.grid_xy(0, 0))
    first, last = [e for e in rig.tile_events(0) if "action" in e]
    rig.close()
    assert first["defocus_um"] > 6.0 and last["z_um"] == pytest.approx(3.0, abs=0.2)
    # Retries spent 3 um out: an alarm, but z stays nearer focus than where the tile was found
    # (z going back is for tiles that end no nearer, as in the test above).
    assert decision.action == "alarm" and "z stays" in decision.reason
    assert rig.scope.get_z() == last["z_um"]


@pytest.mark.parametrize("search_um", [30.0, 0.0])
def test_a_focus_lost_so_far_that_tiles_read_empty_is_found_by_a_search(
    tmp_path: Path, model: FocusScorer, search_um: float
) -> None:
    rig = Rig(tmp_path, model)
    policy = rig.settings.policy.model_copy(
        update={"empty_streak_warning": 2, "lost_focus_search_um": search_um}
    )
    rig.settings = rig.loop.settings = rig.settings.model_copy(update={"policy": policy})
    rig.scope.set_z(40.0)  # 59 depths of field out: the model reads these fields as empty
    actions = [rig.loop.tile(i, 0, i % 2, rig.scope.grid_xy(0, i % 2)).action for i in range(4)]
    first = [e for e in rig.tile_events(0) + rig.tile_events(1) if "action" in e]
    assert first[0]["action"] == "skip" and "no structure" in first[0]["reason"]
    warnings = [w["message"] for w in rig.alarms() if w["severity"] == "warning"]
    rig.close()
    if not search_um:  # without the search the run stays lost, with one warning
        assert actions == ["skip"] * 4 and rig.scope.get_z() == 40.0
        assert len(warnings) == 1 and "focus may be lost" in warnings[0]
        return
    # The second empty tile ends the streak: a search finds structure below, moves on by the
    # reading, and the tile is acquired again; from then on the run is back in focus.
    search = first[1]
    assert search["action"] == "refocus" and search["strategy"] == "search"
    assert search["z_move_um"] < -25.0 and "the focus was lost" in search["reason"]
    assert any("the focus was lost" in w for w in warnings)
    assert actions[2:] == ["in_focus", "in_focus"]
    assert abs(rig.scope.get_z()) <= rig.settings.policy.threshold_dof * 0.681


def test_a_scorer_past_its_deadline_lets_the_tile_through_and_says_so(
    tmp_path: Path, model: FocusScorer
) -> None:
    rig = Rig(tmp_path, model, deadline_ms=0.001)
    rig.scope.set_z(6.0)
    assert rig.loop.tile(0, 0, 0, rig.scope.grid_xy(0, 0)).action == "skip"  # fail-open
    [event] = rig.tile_events(0)
    assert event["deadline_missed"] and event["defocus_um"] is None
    assert rig.scope.get_z() == 6.0  # nothing moved on a missing verdict
    rig.close()


def test_a_malformed_tile_and_a_failing_scorer_become_alarm_events(
    tmp_path: Path, model: FocusScorer
) -> None:
    rig = Rig(tmp_path, model)
    rig.scope.snap = lambda: np.zeros((8, 8), np.uint16)  # type: ignore[method-assign]
    assert rig.loop.tile(0, 0, 0, rig.scope.grid_xy(0, 0)).action == "skip"
    [alarm] = rig.alarms()
    assert "malformed tile" in alarm["message"] and "16x16" in alarm["message"]
    rig.close()
    broken = Rig(tmp_path / "b", model, wavelength_um=-1.0)  # optics the scorer refuses
    assert broken.loop.tile(0, 0, 0, broken.scope.grid_xy(0, 0)).action == "skip"
    [alarm] = broken.alarms()
    assert (
        alarm["severity"] == "error"
        and alarm["error_type"]
        and "scoring failed" in alarm["message"]
    )
    broken.close()


def test_a_failing_stage_becomes_an_alarm_and_the_scan_goes_on(
    tmp_path: Path, model: FocusScorer
) -> None:
    rig = Rig(tmp_path, model)
    rig.scope.set_z(6.0)

    def stuck(z_um: float) -> None:
        raise RuntimeError('Error in device "Z": Position out of range (103)')

    rig.scope.set_z = stuck  # type: ignore[method-assign]
    assert rig.loop.tile(0, 0, 0, rig.scope.grid_xy(0, 0)).action == "alarm"
    [alarm] = rig.alarms()
    assert "refocus failed" in alarm["message"] and alarm["error_type"] == "RuntimeError"
    assert rig.loop.tile(1, 0, 1, rig.scope.grid_xy(0, 1)).action in ("in_focus", "alarm")
    rig.close()


def _as_an_mda_would(rig: Rig, index: int, row: int, col: int) -> Decision:
    """What pymmcore-plus's MDA engine does with a frame: check it, re-acquire while asked."""
    rig.scope.move_xy(*rig.scope.grid_xy(row, col))
    attempt = 0
    while True:
        decision = rig.loop.check(rig.scope.snap(), index, row, col, attempt).decision
        if decision.action not in ("refocus", "reacquire"):
            return decision
        attempt += 1


@pytest.mark.parametrize("driver", ["qc loop", "mda"])
def test_a_tile_given_up_on_leaves_z_where_it_found_it(
    tmp_path: Path, model: FocusScorer, driver: str
) -> None:
    rig = Rig(tmp_path, model)
    # A tile no move can fix: wherever z goes, the field stays 6 um out (a tilted coverslip
    # edge, a bubble).
    rig.scope.best_focus_um = lambda row, col: rig.scope.get_z() - 6.0  # type: ignore[method-assign]
    rig.scope.set_z(0.5)
    if driver == "mda":
        decision = _as_an_mda_would(rig, 0, 0, 0)
    else:
        decision = rig.loop.tile(0, 0, 0, rig.scope.grid_xy(0, 0))
    events = rig.tile_events(0)
    assert decision.action == "alarm" and events[0]["action"] == "refocus"
    assert rig.scope.get_z() == 0.5  # moved while trying, then put back
    rig.close()


def test_a_stage_that_fails_to_put_z_back_raises_an_alarm_not_an_error(
    tmp_path: Path, model: FocusScorer
) -> None:
    rig = Rig(tmp_path, model)
    rig.scope.best_focus_um = lambda row, col: rig.scope.get_z() - 6.0  # type: ignore[method-assign]
    rig.scope.set_z(0.5)
    real_set_z = rig.scope.set_z

    def set_z(z_um: float) -> None:
        if z_um == 0.5:  # the way back only
            raise RuntimeError('Error in device "Z": Serial port timed out')
        real_set_z(z_um)

    rig.scope.set_z = set_z  # type: ignore[method-assign]
    assert rig.loop.tile(0, 0, 0, rig.scope.grid_xy(0, 0)).action == "alarm"
    messages = [a["message"] for a in rig.alarms()]
    assert any("could not put z back to 0.50 um: " in m and "timed out" in m for m in messages)
    assert rig.loop.tile(1, 0, 1, rig.scope.grid_xy(0, 1)).action in ("in_focus", "alarm")
    rig.close()


@pytest.mark.parametrize(("z_um", "out"), [(0.0, 0), (3.0, 2)])
def test_a_scan_counts_the_tiles_it_passed_out_of_focus_by_the_simulator_s_truth(
    tmp_path: Path, model: FocusScorer, z_um: float, out: int
) -> None:
    rig = Rig(tmp_path, model)
    # A threshold no tile reaches, so every tile with structure is passed where it stands.
    policy = rig.settings.policy.model_copy(update={"threshold_dof": 40.0})
    rig.settings = rig.settings.model_copy(update={"policy": policy})
    rig.scope.set_z(z_um)
    truth = Truth(threshold_um=1.7)
    actions: list[str] = []

    def count(index: int, exposures: int, action: str) -> None:
        actions.append(action)
        truth.add(action, rig.scope.last_defocus_um, rig.scope.last_blank)

    tally, _ = scan(rig.settings, rig.scope, rig.scorer, rig.bus, rig.scope.grid_xy, None, count)
    rig.close()
    assert actions[:2] == ["in_focus", "in_focus"] and tally.exposures == 3
    # The two fields with cells are passed; the blank third one is never counted.
    assert (truth.passed, truth.passed_out) == (2, out)
    assert truth.worst_passed_um == pytest.approx(z_um)


def test_a_thick_specimen_s_alarms_say_it_may_be_best_focus_and_the_run_counts_them(
    tmp_path: Path, model: FocusScorer
) -> None:
    """10 um nuclei read over the refocus bar even where the autofocus puts them at focus."""
    rig = Rig(tmp_path, model, thickness_um=10.0)
    policy = rig.settings.policy.model_copy(update={"strategies": ("hardware",)})
    rig.settings = rig.loop.settings = rig.settings.model_copy(update={"policy": policy})
    rig.scope.set_z(4.0)
    decision = rig.loop.tile(0, 0, 0, rig.scope.grid_xy(0, 0))
    rig.close()
    assert abs(rig.scope.last_defocus_um or 0.0) <= 0.2  # the autofocus found the mid-plane
    assert decision.action == "alarm", decision.reason
    assert "thick specimens read this high" in decision.reason.lower(), decision.reason
    assert "raise policy.threshold_dof above" in decision.reason
    [(reading, pass_from)] = rig.loop.tally.floor_alarms
    assert pass_from == pytest.approx(reading / 0.8) and reading > 1.7 * 0.8
