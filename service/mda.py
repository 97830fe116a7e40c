"""QC for a pymmcore-plus MDA: a useq ``MDASequence`` run by the ``QCEngine``.

Each checked frame goes through the same ``QCLoop.check`` as the QC loop's own tiles (score,
decide, refocus within the safety limits, publish); the engine re-acquires when asked and
emits only the final frame, with the QC result in its metadata.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from focusqc.drivers.mda import QCEngine
from focusqc.drivers.mmcore import MMCoreScope
from focusqc.service.pipeline import QCLoop
from focusqc.service.run_docs import RunDocuments

if TYPE_CHECKING:
    import numpy as np
    import useq
    from numpy.typing import NDArray
    from pymmcore_plus import CMMCorePlus

    from focusqc.config.settings import Settings
    from focusqc.service.bus import EventBus
    from focusqc.service.deadline import DeadlineScorer


@dataclass
class MDAResult:
    """What the acquisition emitted, and what the QC did."""

    run_uid: str
    frames: list[dict[str, Any]] = field(default_factory=list)  # each frame's focusqc metadata
    reacquired: int = 0
    loop: QCLoop | None = None


def run_mda(
    settings: Settings,
    core: CMMCorePlus,
    sequence: useq.MDASequence,
    scorer: DeadlineScorer,
    bus: EventBus,
) -> MDAResult:
    """Run ``sequence`` on ``core`` with QC on every checked frame; blocks until done."""
    pixel = settings.optics.pixel_size_um
    scope = MMCoreScope(core, None if pixel == "driver" else float(pixel))
    shape = (max(sequence.sizes.get("p", 1), 1), max(sequence.sizes.get("g", 1), 1))
    run = RunDocuments(bus, shape, {"plan_name": "focusqc_mda", "sequence_uid": str(sequence.uid)})
    loop = QCLoop(settings, scope, scorer, run, shape)
    counter = itertools.count()

    def check(
        image: NDArray[np.generic], event: useq.MDAEvent, attempt: int
    ) -> tuple[str, dict[str, Any]]:
        row, col = event.index.get("p", 0), event.index.get("g", 0)
        checked = loop.check(image, next(counter), row, col, attempt)
        s = checked.score
        return checked.decision.action, {
            "action": checked.decision.action,
            "reason": checked.decision.reason,
            "defocus_um": s.defocus_um if s else None,
            "certainty": s.certainty if s else None,
            "z_move_um": checked.move.z_move_um if checked.move else None,
            "model_version": scorer.scorer.version,
        }

    engine = QCEngine(core, check, max_attempts=settings.policy.max_retries_per_tile)
    result = MDAResult(run.uid, loop=loop)

    def on_frame(image: Any, event: useq.MDAEvent, meta: dict[str, Any]) -> None:
        result.frames.append({"index": dict(event.index), **meta.get("focusqc", {})})

    core.mda.set_engine(engine)
    core.mda.events.frameReady.connect(on_frame)
    status, reason = "success", ""
    try:
        core.mda.run(sequence)
    except Exception as exc:
        status, reason = "fail", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        core.mda.events.frameReady.disconnect(on_frame)
        run.stop(status, reason)
    result.reacquired = engine.reacquired
    return result
