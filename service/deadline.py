"""Scoring within a deadline: the acquisition never waits longer than ``deadline_ms`` for a verdict.

The model runs on one worker thread. A tile whose score is not back in time gets no verdict (the
policy's fail-open or fail-closed rule decides what happens); the late score is discarded. While
the worker is still busy with a late tile, the next tile is not queued behind it: it gets no
verdict at once. So at most one scoring is ever in flight, and the queue is bounded at one.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from focusqc.models.scorer import FocusScorer, TileScore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timed:
    """A score (or why there is none) and how long the tile waited for it."""

    score: TileScore | None
    latency_ms: float
    deadline_missed: bool = False
    error: BaseException | None = None


class DeadlineScorer:
    """Wrap a ``FocusScorer`` so that no call blocks past the deadline."""

    def __init__(self, scorer: FocusScorer, deadline_ms: float, **optics: Any) -> None:
        self.scorer = scorer
        self.deadline_s = deadline_ms / 1000
        self.optics = optics
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="focusqc-score")
        self._busy: Future[TileScore] | None = None

    def score(self, image: NDArray[np.generic], **optics: Any) -> Timed:
        """Score one tile, or say why not, within the deadline."""
        start = time.perf_counter()
        if self._busy is not None and not self._busy.done():
            return Timed(None, 0.0, deadline_missed=True)
        future = self._pool.submit(self.scorer.score, image, **{**self.optics, **optics})
        self._busy = future
        try:
            result = future.result(timeout=self.deadline_s)
        except FutureTimeout:
            return Timed(None, (time.perf_counter() - start) * 1000, deadline_missed=True)
        except Exception as exc:
            log.exception("scoring failed")
            return Timed(None, (time.perf_counter() - start) * 1000, error=exc)
        return Timed(result, (time.perf_counter() - start) * 1000)

    def close(self) -> None:
        """Stop the worker (a late scoring finishes in the background)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
