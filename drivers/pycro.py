"""QC inside a pycromanager ``Acquisition`` (Java backend on a lab PC, Python backend here).

The image processor judges each frame. A frame that must be redone is dropped and its event
is queued again with a corrected ``z``; the engine itself moves z when it runs that event, so
no hardware is touched from the processor's thread (which would race the next tile). Kept
frames carry the QC verdict in their metadata under ``"focusqc"``, so it is saved with the data
set. The daemon, not a ``with`` block, calls ``mark_finished()``: only once every planned frame
has a final image and no re-acquisition is pending.

Moves follow the model's signed defocus (one side first when it cannot tell). A re-acquired
frame that came out further from focus than the best one so far means the move went the wrong
way: the next goes as far the other way from the best z.
"""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np
    from numpy.typing import NDArray

    from focusqc.config.settings import Safety
    from focusqc.drivers.scanner import ScannerClient

    #: (header, image) -> verdict, as ``TileJudge.verdict`` gives it.
    Judge = Callable[[dict[str, Any], NDArray[np.generic]], dict[str, Any]]


def _key(axes: dict[str, Any]) -> str:
    return json.dumps(axes, sort_keys=True, default=str)


class PycroQC:
    """The image-processor hook, and the bookkeeping that decides when the run is over."""

    def __init__(
        self, judge: Judge, safety: Safety, pixel_size_um: float, max_attempts: int = 2
    ) -> None:
        self.judge = judge
        self.safety = safety
        self.pixel_size_um = pixel_size_um
        self.max_attempts = max_attempts
        self.events: dict[str, dict[str, Any]] = {}
        self.attempts: dict[str, int] = {}
        self.best: dict[str, tuple[float, float]] = {}  # (z, |defocus|) of each event's best
        self.kept = 0
        self.reacquired = 0
        self.verdicts: list[dict[str, Any]] = []
        self.checked: set[str] = set()
        self._lock = threading.Lock()

    def plan(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Remember the events (to re-queue them) and which to check; returns them.

        Every event is checked except the planes of a z stack other than its middle one,
        which are meant to be out of focus.
        """
        stacks: dict[str, list[tuple[Any, str]]] = {}
        for event in events:
            axes = event["axes"]
            key = _key(axes)
            self.events[key] = dict(event)
            if "z" in axes:
                rest = _key({k: v for k, v in axes.items() if k != "z"})
                stacks.setdefault(rest, []).append((axes["z"], key))
            else:
                self.checked.add(key)
        for planes in stacks.values():
            planes.sort()
            self.checked.add(planes[(len(planes) - 1) // 2][1])
        return events

    def image_process(
        self, image: NDArray[np.generic], metadata: dict[str, Any], event_queue: Any
    ) -> tuple[NDArray[np.generic], dict[str, Any]] | None:
        """Pycromanager's ``image_process_fn``: keep the frame, or drop it and queue a redo."""
        axes = dict(metadata.get("Axes", {}))
        key = _key(axes)
        if key not in self.checked:
            metadata["focusqc"] = {"action": "unchecked", "reason": "a z-stack plane off centre"}
            with self._lock:
                self.kept += 1
            return image, metadata
        with self._lock:
            attempt = self.attempts.get(key, 0)
        z = float(metadata.get("ZPosition_um_Intended", metadata.get("ZPosition_um", 0.0)))
        verdict = self.judge(
            {
                "tile_id": key,
                "pixel_size_um": self.pixel_size_um,
                "attempt": attempt,
                "z_um": z,
                "x_um": float(metadata.get("XPosition_um_Intended", 0.0)),
                "y_um": float(metadata.get("YPosition_um_Intended", 0.0)),
                "row": axes["position"] if isinstance(axes.get("position"), int) else 0,
            },
            image,
        )
        redo = verdict["action"] in ("refocus", "reacquire") and attempt < self.max_attempts
        if redo:
            defocus = float(verdict["defocus_um"] or 0.0)
            with self._lock:
                best_z, best_d = self.best.get(key, (z, defocus))
                if defocus <= best_d:
                    best_z, best_d = z, defocus
                self.best[key] = (best_z, best_d)
            if defocus > best_d:  # the last move went the wrong way: mirror it about the best
                target = 2 * best_z - z
            else:
                move = verdict.get("suggested_z_move_um")
                target = z + (defocus if move is None else float(move))
            step = self.safety.max_step_um
            target = z + min(max(target - z, -step), step)  # never more than one step...
            target = min(max(target, self.safety.z_min_um), self.safety.z_max_um)  # ...or out
            with self._lock:
                self.attempts[key] = attempt + 1
                self.reacquired += 1
            event_queue.put({**self.events.get(key, {"axes": axes}), "z": target})
            return None
        metadata["focusqc"] = {**verdict, "attempt": attempt}
        with self._lock:
            self.kept += 1
            self.verdicts.append(metadata["focusqc"])
        return image, metadata

    def wait_until_done(self, timeout_s: float) -> bool:
        """True once every planned event has a kept frame; False at the timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if self.kept >= len(self.events):
                    return True
            time.sleep(0.05)
        return False


def remote_judge(client: ScannerClient) -> Judge:
    """A ``Judge`` that asks a remote ``focusqc serve`` (the GPU box) instead of a local model.

    This is the thin agent for the microscope PC: pycromanager and this module, numpy and pyzmq;
    no onnxruntime. ``PycroQC(remote_judge(client), ...)`` is the whole agent.
    """

    def judge(header: dict[str, Any], image: NDArray[np.generic]) -> dict[str, Any]:
        return client.submit(
            str(header["tile_id"]),
            image,
            pixel_size_um=header.get("pixel_size_um"),
            stage_um=(header.get("x_um", 0.0), header.get("y_um", 0.0), header.get("z_um", 0.0)),
            attempt=int(header.get("attempt", 0)),
        )

    return judge


def start_python_backend() -> None:
    """Start pycromanager's Python backend on Micro-Manager's demo devices (no Java)."""
    import mm_test_adapters
    from pycromanager import start_headless

    start_headless(mm_test_adapters.device_adapter_path(), "MMConfig_demo.cfg", python_backend=True)


def stage_rectangle(
    corner_um: tuple[float, float],
    opposite_um: tuple[float, float],
    field_um: float,
    overlap: float = 0.1,
) -> list[list[float]]:
    """Tile centres (x, y) covering a stage rectangle, rows in snake order (no long returns).

    Feed them to ``pycromanager.multi_d_acquisition_events(xy_positions=...)``.
    """
    if field_um <= 0 or not 0 <= overlap < 1:
        raise ValueError(
            f"field {field_um} um, overlap {overlap}: need field > 0, 0 <= overlap < 1"
        )
    step = field_um * (1 - overlap)
    (x0, y0), (x1, y1) = corner_um, opposite_um
    xs = [min(x0, x1) + i * step for i in range(int(abs(x1 - x0) // step) + 1)]
    ys = [min(y0, y1) + j * step for j in range(int(abs(y1 - y0) // step) + 1)]
    return [[x, y] for j, y in enumerate(ys) for x in (xs if j % 2 == 0 else xs[::-1])]
