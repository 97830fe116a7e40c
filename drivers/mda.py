"""QC inside pymmcore-plus's MDA engine: every frame is checked before it is emitted.

``QCEngine`` wraps ``exec_single_event``: the frame is acquired as usual, handed to the QC
check (which may refocus, on this engine thread, between exposures), and re-acquired when the
check asks, so only the final frame of each event reaches ``frameReady`` and the writers, with
the QC result in its metadata under ``"focusqc"``. A refocus also updates the engine's z
correction for that stage position, so later time points and z stacks there keep it.

Which frames are checked: events without a z index, and the middle plane of a z stack (the
other planes are meant to be out of focus). Hardware-sequenced events pass through unchecked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pymmcore_plus.mda import MDAEngine

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import numpy as np
    import useq
    from numpy.typing import NDArray
    from pymmcore_plus import CMMCorePlus

    #: (image, event, attempt) -> (action, QC metadata); may move z through the core.
    Check = Callable[[NDArray[np.generic], useq.MDAEvent, int], tuple[str, dict[str, Any]]]


class QCEngine(MDAEngine):
    """An ``MDAEngine`` that checks, refocuses and re-acquires before a frame is emitted."""

    def __init__(self, mmcore: CMMCorePlus, check: Check, max_attempts: int = 3) -> None:
        super().__init__(mmcore)
        self._check = check
        self._max_attempts = max_attempts
        self._qc_z: int | None = None
        self.reacquired = 0

    def setup_sequence(self, sequence: useq.MDASequence) -> Any:
        """Note which z plane of a stack is the one to check."""
        n_z = sequence.sizes.get("z", 0)
        self._qc_z = (n_z - 1) // 2 if n_z else None
        return super().setup_sequence(sequence)

    def _checked(self, event: useq.MDAEvent) -> bool:
        z = event.index.get("z")
        return z is None or z == self._qc_z

    def exec_single_event(self, event: useq.MDAEvent) -> Iterator[Any]:
        """Acquire, check, and re-acquire as the check says; emit only the final frame."""
        if not self._checked(event):
            yield from super().exec_single_event(event)
            return
        for attempt in range(self._max_attempts + 1):
            z_before = self.mmcore.getZPosition()
            frames = [f for f in super().exec_single_event(event) if f is not None]
            if not frames:
                return
            action, info = self._check(frames[-1][0], event, attempt)
            moved = self.mmcore.getZPosition() - z_before
            if moved:
                position = event.index.get("p")
                self._z_correction[position] = self._z_correction.get(position, 0.0) + moved
            if action not in ("refocus", "reacquire") or attempt == self._max_attempts:
                for image, ev, meta in frames:
                    yield image, ev, {**meta, "focusqc": {**info, "attempt": attempt}}
                return
            self.reacquired += 1
