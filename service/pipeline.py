"""The hot path: tile -> validate -> score -> decide -> act -> publish, for each tile of a scan.

``QCLoop.tile()`` acquires one grid position and keeps at it until ``decide()`` says in focus,
skip or alarm: each refocus moves z inside the safety limits and re-acquires. Every decision is
one event on the bus (journaled, then published); every failure is an alarm event, with its
traceback in the log. The acquisition never waits longer than the deadline for a verdict.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

from focusqc.config.events import Alarm, TileQC
from focusqc.models.postprocess import skip_reason
from focusqc.models.preprocess import TileError, check_tile
from focusqc.service.decide import (
    NEAR_FOCUS,
    Decision,
    History,
    Verdict,
    decide,
    threshold_um,
)
from focusqc.service.refocus import Move, refocus, search_structure
from focusqc.service.thumbnail import thumbnail

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from focusqc.config.settings import Settings
    from focusqc.models.scorer import TileScore
    from focusqc.service.deadline import DeadlineScorer, Timed
    from focusqc.service.protocols import Microscope
    from focusqc.service.run_docs import RunDocuments

log = logging.getLogger(__name__)

#: Steps of the lost-focus search, in depths of field. The model reads structure out to some 20
#: depths of field, so steps of 10 cannot pass a focus without one exposure showing it.
SEARCH_STEP_DOF = 10.0


@dataclass
class Tally:
    """What happened to the tiles of a run, for the summary."""

    outcomes: Counter[str] = field(default_factory=Counter)
    exposures: int = 0
    seconds: float = 0.0
    score_ms: list[float] = field(default_factory=list)
    #: Alarms that may be the specimen's best focus: (the reading, the threshold it passes from).
    floor_alarms: list[tuple[float, float]] = field(default_factory=list)


@dataclass(frozen=True)
class Checked:
    """One image's outcome: the decision, the move made, and the score behind them."""

    decision: Decision
    move: Move | None
    score: TileScore | None


class QCLoop:
    """Scores, decides and acts on each tile of one run."""

    def __init__(
        self,
        settings: Settings,
        scope: Microscope,
        scorer: DeadlineScorer,
        run: RunDocuments,
        grid_shape: tuple[int, int],
    ) -> None:
        self.settings = settings
        self.scope = scope
        self.scorer = scorer
        self.run = run
        self.grid_shape = grid_shape
        self.failed: set[tuple[int, int]] = set()
        self.moved: set[tuple[int, int]] = set()  # positions whose z a refocus has moved
        self.z_first: dict[tuple[int, int], float] = {}  # z of each position's first exposure
        self.read_first: dict[tuple[int, int], float | None] = {}  # and its |defocus| reading
        self.read_last: dict[tuple[int, int], float | None] = {}  # the latest exposure's reading
        self.empty_streak = 0  # tiles in a row skipped with nothing to focus on
        self.run_retries = 0
        self.tally = Tally()

    def tile(self, index: int, row: int, col: int, xy_um: tuple[float, float]) -> Decision:
        """QC one grid position until it is in focus, skipped, or alarmed."""
        start = time.perf_counter()
        self.scope.move_xy(*xy_um)
        attempt, refocused = 0, False
        while True:
            decision = self.check(self.scope.snap(), index, row, col, attempt).decision
            if decision.action not in ("refocus", "reacquire"):
                break
            attempt += 1
            self.run_retries += 1
            refocused = refocused or decision.action == "refocus"
        outcome: str = decision.action
        if outcome == "in_focus":
            outcome = "refocused" if refocused else ("reacquired" if attempt else "in focus")
        self.tally.outcomes[outcome] += 1
        self.tally.seconds += time.perf_counter() - start
        return decision

    def check(
        self, image: NDArray[np.generic], index: int, row: int, col: int, attempt: int
    ) -> Checked:
        """Validate, score, decide, act and publish one acquired image.

        ``tile()`` calls this for its own exposures; an acquisition engine that snaps by itself
        (pymmcore-plus's MDA) calls it for each of its frames, then re-acquires when asked.
        """
        self.tally.exposures += 1
        z_um = self.scope.get_z()
        if attempt == 0:  # a new visit: what moved z on an earlier one is history
            self.z_first[(row, col)] = z_um
            self.moved.discard((row, col))
        timed = self._score(image, index)  # validate + score, within the deadline
        history = self._history(attempt, row, col)  # with the reading before this one
        reading = self._reading(timed.score)
        if attempt == 0:
            self.read_first[(row, col)] = reading
        self.read_last[(row, col)] = reading
        decision = decide(self._verdict(timed), self.settings.policy, history)
        # Refocus within the limits (a search after a lost structure starts from the first z).
        z_first = self.z_first.get((row, col), z_um)
        move, failure = self._act(decision, timed, z_um, z_first, attempt)
        if timed.score is not None and self._streak_ends_here(decision):
            dof_um = timed.score.depth_of_field_um
            decision, move, failure = self._search_lost_focus(decision, dof_um, index, row, col)
        if move is not None:
            self.moved.add((row, col))
        if failure is not None:  # a failing stage or autofocus: stop trying, say why
            decision = Decision("alarm", f"refocus failed: {failure}")
        keep = self._nearer_than_found(row, col, timed.score) if decision.action == "alarm" else ""
        if keep:
            decision = replace(decision, reason=f"{decision.reason}; {keep}")
        self._publish(index, row, col, attempt, z_um, image, timed, decision, move)
        if decision.action == "alarm":
            self.failed.add((row, col))
            if decision.pass_from_um is not None and timed.score is not None:
                self.tally.floor_alarms.append((timed.score.defocus_um, decision.pass_from_um))
            self._alarm("error", index, decision.reason, failure)
            if not keep:
                self._restore_z(index, row, col)
        self._count_empty(index, decision, timed)
        return Checked(decision, move, timed.score)

    def _probe(self, image: NDArray[np.generic]) -> TileScore | None:
        """Score an exposure a refocus or a search made for itself (it counts in the tally)."""
        self.tally.exposures += 1
        return self.scorer.score(image, pixel_size_um=self.scope.pixel_size_um).score

    def _reading(self, score: TileScore | None) -> float | None:
        """A score's |defocus|, where it shows structure to act on; else None."""
        gate = self.settings.policy.certainty_gate
        if score is None or skip_reason(score.certainty, score.blank_prob, gate):
            return None
        return score.defocus_um

    def _nearer_than_found(self, row: int, col: int, score: TileScore | None) -> str:
        """Why z stays where a tile was given up on, if it does; empty: z goes back.

        It stays when the last image reads near focus (within ``NEAR_FOCUS`` x the threshold)
        and nearer than the tile's first image did: the refocus got most of the way, and the
        first z was the worse one (a focus lost far out). A blank field the model misreads
        seldom reads that near (its texture reads some 6 um out at 20x), so the rule that one
        bad tile cannot drag the focus away still holds for it.
        """
        now, first = self._reading(score), self.read_first.get((row, col))
        if now is None or first is None or score is None or now >= first:
            return ""
        if now > NEAR_FOCUS * threshold_um(self.settings.policy, score.depth_of_field_um):
            return ""
        return f"z stays: it reads {now:.2f} um, nearer focus than the {first:.2f} um found"

    def _restore_z(self, index: int, row: int, col: int) -> None:
        """Giving up on a tile: put z back where the tile found it.

        So one bad tile (a blank field the model misread, a bubble) cannot drag the focus away
        from the next ones, in the QC loop's own scan and in an MDA alike.
        """
        z_start = self.z_first[(row, col)]  # noted at the tile's first exposure
        if self.scope.get_z() == z_start:
            return
        try:
            self.scope.set_z(z_start)
        except Exception as exc:  # a failing stage: say so, and let the scan go on
            self._alarm("error", index, f"could not put z back to {z_start:.2f} um: {exc}", exc)

    def _streak_ends_here(self, decision: Decision) -> bool:
        """Whether a scored image ends a streak of empty tiles, with a search at one."""
        policy = self.settings.policy
        return (
            decision.action == "skip"
            and policy.lost_focus_search_um > 0
            and self.empty_streak + 1 == policy.empty_streak_warning
        )

    def _search_lost_focus(
        self, decision: Decision, dof_um: float, index: int, row: int, col: int
    ) -> tuple[Decision, Move | None, Exception | None]:
        """Look above and below for structure; where it shows, re-acquire the tile there.

        A streak of empty tiles is either empty slide or a focus lost so far that every field
        reads empty. The search tells them apart for a few exposures, once per streak.
        """
        policy = self.settings.policy

        def reading(image: NDArray[np.generic]) -> float | None:
            return self._reading(self._probe(image))

        step = SEARCH_STEP_DOF * dof_um
        try:
            move = search_structure(
                self.scope,
                self.settings.safety,
                policy.lost_focus_search_um,
                step,
                reading,
                accept_um=NEAR_FOCUS * threshold_um(policy, dof_um),
            )
        except Exception as exc:  # a failing stage: the alarm path says why
            return decision, None, exc
        lost = f"{self.empty_streak + 1} tiles in a row show nothing to focus on"
        if move.error:
            message = f"{lost}, and {move.error}: empty slide, or the focus is lost farther out"
            self._alarm("warning", index, message, None)
            return Decision("skip", f"{decision.reason}; {message}"), move, None
        self.z_first[(row, col)] = move.z_to_um  # the z the tile starts again from
        self.read_first[(row, col)] = None
        message = (
            f"{lost}, but a focus shows {move.z_move_um:+.1f} um away (z {move.z_to_um:.2f} "
            "um): the focus was lost. The tile is acquired again there"
        )
        self._alarm("warning", index, message, None)
        return Decision("refocus", message), move, None

    def _count_empty(self, index: int, decision: Decision, timed: Timed) -> None:
        """Warn once per streak of tiles that show nothing to focus on.

        Far out of focus (beyond some 20 depths of field at 20x) the model reads a field as
        empty, so a lost focus looks like a run of blank tiles and would pass silently. With a
        lost-focus search the search says it instead (``_search_lost_focus``).
        """
        if timed.score is None:  # no verdict: says nothing either way
            return
        if decision.action != "skip":
            self.empty_streak = 0
            return
        self.empty_streak += 1
        policy = self.settings.policy
        if self.empty_streak == policy.empty_streak_warning and not policy.lost_focus_search_um:
            self._alarm(
                "warning",
                index,
                f"{self.empty_streak} tiles in a row show nothing to focus on: if the sample "
                "is there, the focus may be lost (far out of focus a field looks empty)",
                None,
            )

    def _score(self, image: NDArray[np.generic], index: int) -> Timed:
        from focusqc.service.deadline import Timed

        try:
            check_tile(image)
        except TileError as exc:
            self._alarm("error", index, f"malformed tile: {exc}", exc)
            return Timed(None, 0.0, error=exc)
        timed = self.scorer.score(image, pixel_size_um=self.scope.pixel_size_um)
        if timed.error is not None:
            self._alarm("error", index, f"scoring failed: {timed.error}", timed.error)
        elif timed.score is not None:
            self.tally.score_ms.append(timed.latency_ms)
        return timed

    def _verdict(self, timed: Timed) -> Verdict:
        s = timed.score
        if s is None:
            return Verdict(None, 0.0, 0.5, 1.0)
        return Verdict(
            s.defocus_um, s.certainty, s.side_above_prob, s.depth_of_field_um, s.blank_prob
        )

    def _history(self, attempt: int, row: int, col: int) -> History:
        near = sum(
            (row + dr, col + dc) in self.failed
            for dr in (-1, 0, 1)
            for dc in (-1, 0, 1)
            if (dr, dc) != (0, 0)
        )
        return History(
            attempt=attempt,
            moved=(row, col) in self.moved,
            run_retries=self.run_retries,
            failed_neighbours=near,
            previous_defocus_um=self.read_last.get((row, col)),
        )

    def _act(
        self, decision: Decision, timed: Timed, z_from: float, z_first: float, attempt: int
    ) -> tuple[Move | None, Exception | None]:
        """Refocus from ``z_from`` (where this image was taken) when the decision says so."""
        if decision.action != "refocus" or timed.score is None:
            return None, None

        def measure(image: NDArray[np.generic]) -> float | None:
            probe = self._probe(image)
            return probe.defocus_um if probe else None

        try:
            if decision.undo:
                self.scope.set_z(z_first)  # where the tile was first acquired: inside the limits
            move = refocus(
                self.settings.policy.strategies,
                self.scope,
                self.settings.safety,
                timed.score.defocus_um,
                decision.z_move_um,
                measure,
                attempt,
                self.settings.policy.sweep_exposures,
                self.settings.policy.autofocus_offset_um,
            )
        except Exception as exc:
            return None, exc
        move = replace(move, z_from_um=z_from)
        if move.error:
            self._alarm("warning", None, move.error, None)
        return move, None

    def _publish(
        self,
        index: int,
        row: int,
        col: int,
        attempt: int,
        z_um: float,
        image: NDArray[np.generic],
        timed: Timed,
        decision: Decision,
        move: Move | None,
    ) -> None:
        s = timed.score
        reason = decision.reason + (f"; {move.limited}" if move and move.limited else "")
        x_um, y_um = self.scope.get_xy()
        qc = TileQC(
            tile=index,
            row=row,
            col=col,
            attempt=attempt,
            x_um=x_um,
            y_um=y_um,
            z_um=z_um,
            defocus_um=s.defocus_um if s else None,
            defocus_dof=s.defocus_dof if s else None,
            certainty=min(max(s.certainty, 0.0), 1.0) if s else 0.0,
            side_above_prob=s.side_above_prob if s else 0.5,
            action=decision.action,
            reason=reason,
            z_move_um=move.z_move_um if move else None,
            strategy=move.strategy if move else None,
            latency_ms=timed.latency_ms,
            deadline_missed=timed.deadline_missed,
            model_version=self.scorer.scorer.version,
            provider=self.scorer.scorer.provider,
        )
        self.run.tile(qc, thumbnail(image))

    def _alarm(
        self,
        severity: Literal["warning", "error"],
        tile: int | None,
        message: str,
        error: BaseException | None,
    ) -> None:
        if error is not None:
            log.error("tile %s: %s", tile, message, exc_info=error)
        self.run.alarm(
            Alarm(
                severity=severity,
                tile=tile,
                message=message,
                error_type=type(error).__name__ if error else None,
            )
        )
