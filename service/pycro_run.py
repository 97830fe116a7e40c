"""A pycromanager acquisition with focus QC: events in, QC'd and saved data set out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from focusqc.drivers.pycro import PycroQC
from focusqc.service.run_docs import RunDocuments
from focusqc.service.serve import TileJudge

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import numpy as np
    from numpy.typing import NDArray

    from focusqc.config.settings import Settings
    from focusqc.service.bus import EventBus
    from focusqc.service.deadline import DeadlineScorer

    Camera = Callable[[NDArray[np.generic], dict[str, Any]], NDArray[np.generic]]


def run_acquisition(
    settings: Settings,
    events: list[dict[str, Any]],
    directory: Path,
    name: str,
    scorer: DeadlineScorer,
    bus: EventBus,
    pixel_size_um: float,
    camera: Camera | None = None,
    timeout_s: float = 300.0,
) -> tuple[PycroQC, Any]:
    """Acquire ``events`` with QC; returns the hook (its counts and verdicts) and the data set.

    ``camera``, when given, replaces each frame's pixels before the QC sees them (for a
    simulated specimen on the demo devices, whose camera does not blur with z).
    """
    from pycromanager import Acquisition

    run = RunDocuments(bus, None, {"plan_name": "focusqc_pycromanager", "acquisition": name})
    qc = PycroQC(
        TileJudge(settings, scorer, run).verdict,
        settings.safety,
        pixel_size_um,
        settings.policy.max_retries_per_tile,
    )

    def process(image: Any, metadata: dict[str, Any], event_queue: Any) -> Any:
        pixels = camera(image, metadata) if camera else image
        return qc.image_process(pixels, metadata, event_queue)

    acq = Acquisition(
        directory=str(directory), name=name, image_process_fn=process, show_display=False
    )
    done = False
    try:
        acq.acquire(qc.plan(events))
        done = qc.wait_until_done(timeout_s)
    finally:
        acq.mark_finished()
        acq.await_completion()
        run.stop("success" if done else "fail", "" if done else f"not done in {timeout_s} s")
    return qc, acq.get_dataset()
