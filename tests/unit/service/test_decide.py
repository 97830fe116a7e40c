"""decide(): table-driven, one row per rule of the policy."""

from __future__ import annotations

import pytest

from focusqc.config.settings import Policy
from focusqc.service.decide import Decision, History, Verdict, decide

DOF = 0.5  # um: threshold 2 DOF = 1.0 um, after a refocus 0.8 um
POLICY = Policy(
    threshold_dof=2.0,
    certainty_gate=0.2,
    hysteresis=0.8,
    max_retries_per_tile=2,
    max_retries_per_run=10,
    neighbour_failures_for_alarm=3,
)


def verdict(
    defocus_um: float | None, certainty: float = 0.9, above: float = 0.9, blank: float = 0.0
) -> Verdict:
    return Verdict(defocus_um, certainty, above, DOF, blank)


CASES = [
    # (verdict, history, policy changes, action, z move)
    (verdict(0.4), History(), {}, "in_focus", None),
    (verdict(1.0), History(), {}, "in_focus", None),  # on the line is in
    (verdict(0.9), History(attempt=1), {}, "refocus", -0.9),  # hysteresis after a refocus
    (verdict(0.7), History(attempt=1), {}, "in_focus", None),
    (verdict(5.0, certainty=0.1), History(), {}, "skip", None),  # unsure
    (verdict(5.0, blank=0.6), History(), {}, "skip", None),  # no structure
    (verdict(5.0, blank=0.4), History(), {}, "refocus", -5.0),
    (verdict(3.0, above=0.9), History(), {}, "refocus", -3.0),  # above focus: move down
    (verdict(3.0, above=0.1), History(), {}, "refocus", 3.0),  # below focus: move up
    (verdict(3.0, above=0.6), History(), {}, "refocus", None),  # side unsure: search
    (verdict(3.0), History(attempt=2), {}, "alarm", None),  # retries for the tile spent
    (verdict(3.0), History(run_retries=10), {}, "alarm", None),  # retries for the run spent
    (verdict(3.0), History(failed_neighbours=3), {}, "alarm", None),  # failures cluster
    (verdict(None), History(), {}, "skip", None),  # no verdict in time, fail-open
    (verdict(None), History(), {"fail_mode": "closed"}, "reacquire", None),
    (verdict(None), History(attempt=2), {"fail_mode": "closed"}, "skip", None),
    (verdict(1.5), History(), {"threshold_um": 2.0}, "in_focus", None),  # um overrides DOF
    # Nothing to focus on after z moved for the tile: back, the next strategy, then an alarm.
    (verdict(20.0, blank=0.6), History(attempt=1, moved=True), {}, "refocus", None),
    (verdict(9.0, certainty=0.05), History(attempt=1, moved=True), {}, "refocus", None),
    (verdict(20.0, blank=0.6), History(attempt=2, moved=True), {}, "alarm", None),
    (verdict(20.0, blank=0.6), History(1, True, run_retries=10), {}, "alarm", None),
    (verdict(20.0, blank=0.6), History(attempt=1), {}, "skip", None),  # re-snapped, not moved
]


@pytest.mark.parametrize(("v", "history", "changes", "action", "move"), CASES)
def test_decide(
    v: Verdict, history: History, changes: dict[str, object], action: str, move: float | None
) -> None:
    decision = decide(v, POLICY.model_copy(update=changes), history)
    assert isinstance(decision, Decision)
    assert (decision.action, decision.z_move_um) == (action, move), decision.reason
    assert decision.reason  # every decision says why


def test_only_a_search_after_a_lost_structure_returns_z_first() -> None:
    lost = decide(verdict(20.0, blank=0.6), POLICY, History(attempt=1, moved=True))
    assert lost.undo and "back to the first z" in lost.reason
    assert not decide(verdict(3.0, above=0.6), POLICY, History(attempt=1, moved=True)).undo
    spent = decide(verdict(20.0, blank=0.6), POLICY, History(attempt=2, moved=True))
    assert "focus may be lost" in spent.reason and "2 refocus attempts" in spent.reason


def test_a_refocused_tile_still_out_says_why_and_which_setting_to_raise() -> None:
    """Thick specimens read high at best focus: the alarm names the bar or the flat reading."""
    stuck = decide(verdict(0.9), POLICY, History(attempt=2, moved=True))
    assert stuck.action == "alarm"
    assert "under the 1.00 um threshold, not under the 0.80 um" in stuck.reason
    assert "raise policy.threshold_dof above 2.2 (or policy.hysteresis)" in stuck.reason
    flat = decide(verdict(1.3), POLICY, History(attempt=2, moved=True, previous_defocus_um=1.4))
    assert flat.action == "alarm" and "did not lower the reading (1.40 um before it)" in flat.reason
    assert "threshold_dof above 3.2" in flat.reason  # 1.3 um = 2.6 DOF, over 0.8 hysteresis
    assert flat.pass_from_um == pytest.approx(1.3 / 0.8)
    lowered = decide(verdict(3.0), POLICY, History(attempt=2, moved=True, previous_defocus_um=9.0))
    assert lowered.action == "alarm" and "threshold_dof" not in lowered.reason
    # A blank field misread far out is not lowered either, but no threshold is the fix there.
    misread = decide(verdict(5.0), POLICY, History(attempt=2, moved=True, previous_defocus_um=5.2))
    assert "threshold_dof" not in misread.reason and misread.pass_from_um is None
    assert "threshold_dof" not in decide(verdict(3.0), POLICY, History(attempt=2)).reason
    in_um = POLICY.model_copy(update={"threshold_um": 1.0})
    assert (
        "raise policy.threshold_um above 1.62"
        in decide(
            verdict(1.3), in_um, History(attempt=2, moved=True, previous_defocus_um=1.4)
        ).reason
    )
