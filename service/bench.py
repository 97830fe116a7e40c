"""``focusqc bench refocus``: how many extra exposures each strategy needs to regain focus.

On the simulated scope, each trial puts one field 1-10 um out of focus (random side), and the QC
loop detects it, refocuses with one strategy and re-acquires until the tile is verified in focus
(or the retries are spent). Extra exposures are those after the first; "landed" is the tile's
true |defocus| where the loop left it (the simulator knows it); compute time is the
loop's time without the simulator's rendering (a real camera's exposure time is its own).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from focusqc.config.settings import Endpoints
from focusqc.service.bus import EventBus
from focusqc.service.pipeline import QCLoop
from focusqc.service.run_docs import RunDocuments

if TYPE_CHECKING:
    from collections.abc import Callable

    from focusqc.config.settings import Settings
    from focusqc.drivers.simulated import SimulatedScope
    from focusqc.service.deadline import DeadlineScorer


@dataclass
class Trials:
    """One strategy's results, one entry per trial."""

    strategy: str
    jumps_um: list[float] = field(default_factory=list)
    extra_exposures: list[int] = field(default_factory=list)
    compute_s: list[float] = field(default_factory=list)
    regained: list[bool] = field(default_factory=list)
    landed_um: list[float] = field(default_factory=list)  # |defocus| where the tile ended

    def row(self) -> dict[str, Any]:
        """Median and spread, for the table."""
        extra = np.asarray(self.extra_exposures)
        return {
            "strategy": self.strategy,
            "trials": len(extra),
            "regained focus": f"{np.mean(self.regained):.0%}",
            "landed um, median": float(np.median(self.landed_um)),
            "landed um, 90th pct": float(np.percentile(self.landed_um, 90)),
            "extra exposures, median": float(np.median(extra)),
            "extra exposures, 90th pct": float(np.percentile(extra, 90)),
            "compute ms, median": 1000 * float(np.median(self.compute_s)),
        }


class _TimedScope:
    """The scope, with its rendering time counted apart."""

    def __init__(self, scope: SimulatedScope) -> None:
        self._scope = scope
        self.render_s = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._scope, name)

    def snap(self) -> Any:
        start = time.perf_counter()
        image = self._scope.snap()
        self.render_s += time.perf_counter() - start
        return image


def bench_refocus(
    settings: Settings,
    scope: SimulatedScope,
    scorer: DeadlineScorer,
    strategies: tuple[str, ...],
    trials: int,
    seed: int,
    progress: Callable[[str], None] | None = None,
) -> list[Trials]:
    """Run ``trials`` random focus jumps per strategy (the same jumps for each)."""
    rng = np.random.default_rng(seed)
    cells = [
        (r, c)
        for r in range(scope.slide.rows)
        for c in range(scope.slide.cols)
        if (r, c) not in scope.blank
    ]
    plan = [
        (cells[int(rng.integers(len(cells)))], float(rng.uniform(1, 10) * rng.choice([-1, 1])))
        for _ in range(trials)
    ]
    timed = _TimedScope(scope)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        endpoints = Endpoints(publish="inproc://bench-pub", snapshot="inproc://bench-snap")
        bus = EventBus("bench", endpoints, Path(tmp) / "bench.sqlite", fsync="off")
        try:
            for name in strategies:
                policy = settings.policy.model_copy(
                    update={
                        "strategies": (name,),
                        "max_retries_per_run": 10**9,
                        "neighbour_failures_for_alarm": 8,  # trials are independent
                    }
                )
                run = RunDocuments(bus, (scope.slide.rows, scope.slide.cols), {"bench": name})
                loop = QCLoop(
                    settings.model_copy(update={"policy": policy}),
                    timed,
                    scorer,
                    run,
                    (scope.slide.rows, scope.slide.cols),
                )
                out = Trials(name)
                for i, ((row, col), jump) in enumerate(plan):
                    scope.set_z(scope.best_focus_um(row, col) + jump)
                    before, render0, start = (
                        loop.tally.exposures,
                        timed.render_s,
                        time.perf_counter(),
                    )
                    loop.tile(i, row, col, scope.grid_xy(row, col))
                    elapsed = time.perf_counter() - start - (timed.render_s - render0)
                    final = abs(scope.get_z() - scope.best_focus_um(row, col))
                    out.jumps_um.append(jump)
                    out.extra_exposures.append(loop.tally.exposures - before - 1)
                    out.compute_s.append(elapsed)
                    out.landed_um.append(final)
                    dof = scope.optics.depth_of_field_um
                    out.regained.append(final <= settings.policy.threshold_dof * dof)
                    if progress:
                        progress(name)
                run.stop()
                results.append(out)
        finally:
            bus.close()
    return results


def plot(results: list[Trials], path: Path) -> None:
    """Extra exposures against the size of the focus jump, one colour per strategy."""
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for k, r in enumerate(results):
        jitter = (k - (len(results) - 1) / 2) * 0.12
        ax.scatter(
            np.abs(r.jumps_um),
            np.asarray(r.extra_exposures) + jitter,
            s=12,
            label=f"{r.strategy} (median {np.median(r.extra_exposures):g})",
        )
    ax.set(xlabel="focus jump (um)", ylabel="extra exposures to regain focus")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
