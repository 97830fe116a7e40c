"""A scan: one run over the slide's grid (snake order), every tile through the QC loop."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from focusqc.service.pipeline import QCLoop, Tally
from focusqc.service.run_docs import RunDocuments

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from focusqc.config.settings import Settings
    from focusqc.service.bus import EventBus
    from focusqc.service.deadline import DeadlineScorer
    from focusqc.service.protocols import Microscope


@dataclass
class Truth:
    """How a scan did against the truth a simulated slide knows and the model does not.

    Per tile, the last exposure's true defocus: a tile passed (in focus, perhaps after a
    refocus) beyond the threshold is one the QC let through; a tile skipped beyond it had no QC.
    Blank fields have no focus and are not counted.
    """

    threshold_um: float
    passed: int = 0
    passed_out: int = 0
    worst_passed_um: float = 0.0
    skipped_out: int = 0

    def add(self, action: str, defocus_um: float | None, blank: bool) -> None:
        """Count one tile by its final action and its last exposure's true defocus."""
        if defocus_um is None or blank:
            return
        off = abs(defocus_um)
        out = int(off > self.threshold_um)
        if action == "in_focus":
            self.passed += 1
            self.passed_out += out
            self.worst_passed_um = max(self.worst_passed_um, off)
        elif action == "skip":
            self.skipped_out += out


def snake(rows: int, cols: int) -> Iterator[tuple[int, int]]:
    """Grid positions row by row, every other row reversed (no long stage returns)."""
    for r in range(rows):
        for c in range(cols) if r % 2 == 0 else range(cols - 1, -1, -1):
            yield r, c


def scan(
    settings: Settings,
    scope: Microscope,
    scorer: DeadlineScorer,
    bus: EventBus,
    grid_xy: Callable[[int, int], tuple[float, float]],
    max_tiles: int | None = None,
    on_tile: Callable[[int, int, str], None] | None = None,
) -> tuple[Tally, str]:
    """QC every tile of the grid once; returns the tally and the run's uid."""
    shape = (settings.slide.rows, settings.slide.cols)
    run = RunDocuments(
        bus,
        shape,
        {
            "microscope": scope.name,
            "model_version": scorer.scorer.version,
            "provider": scorer.scorer.provider,
            "threshold_dof": settings.policy.threshold_dof,
            "certainty_gate": settings.policy.certainty_gate,
        },
    )
    loop = QCLoop(settings, scope, scorer, run, shape)
    status, reason = "success", ""
    start = time.perf_counter()
    try:
        for index, (row, col) in enumerate(snake(*shape)):
            if max_tiles is not None and index >= max_tiles:
                break
            decision = loop.tile(index, row, col, grid_xy(row, col))
            if on_tile:
                on_tile(index, loop.tally.exposures, decision.action)
    except KeyboardInterrupt:
        status, reason = "abort", "interrupted by the operator"
        raise
    except Exception as exc:
        status, reason = "fail", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        run.stop(status, reason)
        loop.tally.seconds = time.perf_counter() - start
    return loop.tally, run.uid
