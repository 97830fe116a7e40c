"""``decide()``: what to do with a scored tile.

A pure function of the score, the policy, and what has already happened to this tile and this
run; no I/O, no clock.

Actions:

- ``in_focus``: keep the tile.
- ``skip``: no verdict is possible (no structure, certainty below the gate, or no score in
  time with fail-open);
  keep the tile, act on nothing. Not after a refocus: a tile that showed structure until z
  moved, and shows none now, may have been moved the wrong way (far out of focus, the model
  reads a blurred field as empty). Its z goes back, the next strategy tries, then an alarm.
- ``refocus``: move z (by the model, a sweep or the hardware autofocus), then re-acquire.
- ``reacquire``: snap again where it is (no score in time with fail-closed).
- ``alarm``: stop trying; a person must look (retries spent, or failures cluster).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from focusqc.models.postprocess import skip_reason

if TYPE_CHECKING:
    from focusqc.config.settings import Policy

Action = Literal["in_focus", "skip", "refocus", "reacquire", "alarm"]

#: |2 P(above) - 1| from which the model's side is trusted for a one-move refocus.
SIDE_CONFIDENCE = 0.5


@dataclass(frozen=True)
class Verdict:
    """What the scorer said about one tile (None fields: it said nothing in time)."""

    defocus_um: float | None
    certainty: float
    side_above_prob: float
    depth_of_field_um: float
    blank_prob: float = 0.0  # P(no structure anywhere in the tile)


@dataclass(frozen=True)
class History:
    """What has already happened: to this tile, in this run, and around it on the grid."""

    attempt: int = 0  # 0 for the first acquisition of the tile
    moved: bool = False  # z has moved for this tile (a refocus) since its first acquisition
    run_retries: int = 0
    failed_neighbours: int = 0
    #: The reading of the tile's exposure before this one, where it showed structure.
    previous_defocus_um: float | None = None


@dataclass(frozen=True)
class Decision:
    """The action, why, and for a refocus the signed z move the model suggests (None: search)."""

    action: Action
    reason: str
    z_move_um: float | None = None
    undo: bool = False  # first return z to where the tile's first acquisition was
    #: For an alarm on a reading that may be the specimen's best focus (thick specimens read
    #: high there): the threshold, um, from which that reading would pass after a refocus.
    pass_from_um: float | None = None


#: Near focus, in multiples of the in-focus threshold. A specimen's best focus reads within it
#: (10 um thick nuclei: 0.9-1.2 at 20x); a blank field the model misreads seldom does (its
#: texture reads some 6 um out at 20x, 3.5 thresholds). So a reading within it that no refocus
#: lowers may be best focus, and a tile given up on there keeps its z; the lost-focus search
#: stops once a reading is within it.
NEAR_FOCUS = 2.0


def threshold_um(policy: Policy, depth_of_field_um: float) -> float:
    """The in-focus threshold in micrometres for these optics."""
    return policy.threshold_um or policy.threshold_dof * depth_of_field_um


def decide(verdict: Verdict, policy: Policy, history: History = History()) -> Decision:
    """Decide one tile; see the module docstring."""
    if verdict.defocus_um is None:
        if policy.fail_mode == "closed" and history.attempt < policy.max_retries_per_tile:
            return Decision("reacquire", "no verdict: scoring late or failed (fail-closed)")
        return Decision("skip", "no verdict: scoring late or failed (fail-open)")
    reason = skip_reason(verdict.certainty, verdict.blank_prob, policy.certainty_gate)
    if reason and not history.moved:
        return Decision("skip", reason)
    if reason:
        spent = _retries_spent(policy, history)
        if spent:
            return Decision("alarm", f"{reason} after refocusing: the focus may be lost ({spent})")
        return Decision(
            "refocus",
            f"{reason} after refocusing: back to the first z, then the next strategy",
            undo=True,
        )
    limit = threshold_um(policy, verdict.depth_of_field_um)
    # A tile already refocused must come back clearly in focus, not just across the line.
    if history.attempt > 0:
        limit *= policy.hysteresis
    if verdict.defocus_um <= limit:
        return Decision("in_focus", f"|defocus| {verdict.defocus_um:.2f} um <= {limit:.2f} um")
    if history.failed_neighbours >= policy.neighbour_failures_for_alarm:
        return Decision(
            "alarm",
            f"{history.failed_neighbours} neighbouring tiles also failed: check the slide, "
            "the stage or the illumination",
        )
    spent = _retries_spent(policy, history)
    if spent:
        why, pass_from_um = _why_still_out(policy, history, verdict)
        return Decision(
            "alarm",
            f"still {verdict.defocus_um:.2f} um out ({spent}){why}",
            pass_from_um=pass_from_um,
        )
    side = 2 * verdict.side_above_prob - 1
    move = -verdict.defocus_um if side > 0 else verdict.defocus_um
    return Decision(
        "refocus",
        f"|defocus| {verdict.defocus_um:.2f} um > {limit:.2f} um",
        z_move_um=move if abs(side) >= SIDE_CONFIDENCE else None,
    )


#: A refocus that leaves the reading above this share of the one before it did not lower it.
NOT_LOWERED = 0.85


def _why_still_out(policy: Policy, history: History, verdict: Verdict) -> tuple[str, float | None]:
    """Why a refocused tile still fails, in words, and the threshold it would pass at (um).

    The threshold is given where the reading may be the specimen's best focus; ("", None):
    the reading says nothing more.
    """
    now, before = verdict.defocus_um, history.previous_defocus_um
    if history.attempt == 0 or now is None:
        return "", None
    full = threshold_um(policy, verdict.depth_of_field_um)
    # The threshold under which this reading would pass after a refocus.
    needed_um = now / policy.hysteresis
    fix = (
        f"raise policy.threshold_um above {needed_um:.2f}"
        if policy.threshold_um
        else f"raise policy.threshold_dof above {needed_um / verdict.depth_of_field_um:.1f}"
    ) + " (or policy.hysteresis)"
    if now <= full:
        return (
            f": under the {full:.2f} um threshold, not under the {full * policy.hysteresis:.2f} "
            "um a refocused tile must reach. Thick specimens read this high at their best "
            f"focus; if every refocus ends so, {fix}"
        ), needed_um
    if before is not None and NOT_LOWERED * before <= now <= NEAR_FOCUS * full:
        return (
            f": the last refocus did not lower the reading ({before:.2f} um before it). Either z "
            "does not move the focus, or this is the specimen's best focus: thick specimens read "
            f"this high there; if every refocus ends so, {fix}"
        ), needed_um
    return "", None


def _retries_spent(policy: Policy, history: History) -> str:
    """Which retry budget is spent, in words; empty while both last."""
    if history.attempt >= policy.max_retries_per_tile:
        return f"{history.attempt} refocus attempts made"
    if history.run_retries >= policy.max_retries_per_run:
        return f"the run's {policy.max_retries_per_run} retries are spent"
    return ""
