"""One run's Bluesky documents, composed by ``event-model`` so they always validate.

A run is a slide or an acquisition: ``start`` (with the plan's grid, for live grid plots),
a descriptor for the ``tiles`` and ``alarms`` streams, one event per decision, and ``stop``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import event_model

from focusqc.config.events import STREAMS, Alarm, TileQC, data_keys

if TYPE_CHECKING:
    from focusqc.service.bus import EventBus


class RunDocuments:
    """Compose and emit the documents of one run through the bus."""

    def __init__(
        self, bus: EventBus, shape: tuple[int, int] | None, metadata: dict[str, Any]
    ) -> None:
        """``shape``: the grid (rows, cols), or None when tiles come without one (scanners)."""
        self.bus = bus
        grid: dict[str, Any] = (
            {
                "shape": list(shape),
                "extents": [[0, shape[0] - 1], [0, shape[1] - 1]],
                "hints": {
                    "gridding": "rectilinear",
                    "dimensions": [[["row"], "tiles"], [["col"], "tiles"]],
                },
            }
            if shape
            else {}
        )
        self._run = event_model.compose_run(
            metadata={"plan_name": "focusqc_scan", "scope": bus.scope, **grid, **metadata}
        )
        self.uid: str = self._run.start_doc["uid"]
        bus.run_uid = self.uid
        bus.emit("start", dict(self._run.start_doc), self.uid)
        self._streams = {}
        for name, model in STREAMS.items():
            bundle = self._run.compose_descriptor(name=name, data_keys=data_keys(model))
            bus.emit("descriptor", dict(bundle.descriptor_doc), self.uid)
            self._streams[name] = bundle
        self.closed = False

    def _event(self, stream: str, data: dict[str, Any], thumbnail: bytes | None) -> int:
        now = time.time()
        doc = self._streams[stream].compose_event(data=data, timestamps=dict.fromkeys(data, now))
        return self.bus.emit("event", dict(doc), self.uid, thumbnail)

    def tile(self, qc: TileQC, thumbnail: bytes | None = None) -> int:
        """One decision on one tile."""
        self.bus.tiles_done += 1
        return self._event("tiles", qc.model_dump(), thumbnail)

    def alarm(self, alarm: Alarm) -> int:
        """Something a person must see."""
        return self._event("alarms", alarm.model_dump(), None)

    def stop(self, exit_status: str = "success", reason: str = "") -> None:
        """Close the run (once)."""
        if self.closed:
            return
        self.closed = True
        doc = self._run.compose_stop(exit_status=exit_status, reason=reason)  # type: ignore[arg-type]
        self.bus.emit("stop", dict(doc), self.uid)
