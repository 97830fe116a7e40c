"""``focusqc watch DIR``: for scanners that write tiles to disk instead of sending them.

New image files in the folder are scored once they stop growing, and each verdict is appended
to ``DIR/focusqc-verdicts.jsonl`` (flushed and fsynced) and published as a QC event. The
verdict file is also the memory: a restarted watcher skips files it has already judged. A file
that cannot be read gets a verdict line with its error and an alarm event, and is not retried.
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING, Any

from focusqc.config.events import Alarm
from focusqc.models.imageio import read_image
from focusqc.models.preprocess import check_tile

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable
    from pathlib import Path

    from focusqc.service.serve import TileJudge

VERDICTS = "focusqc-verdicts.jsonl"
PATTERNS = ("*.tif", "*.tiff", "*.png", "*.jpg", "*.jpeg")


def judged(folder: Path) -> set[str]:
    """Names already in the folder's verdict file."""
    path = folder / VERDICTS
    if not path.is_file():
        return set()
    names = set()
    for line in path.read_text().splitlines():
        try:
            names.add(json.loads(line)["file"])
        except (ValueError, KeyError, TypeError):
            continue  # a line cut by a crash: that file is judged again
    return names


class FolderWatch:
    """Scores each new, complete image in one folder, once."""

    def __init__(self, folder: Path, judge: TileJudge, pixel_size_um: float) -> None:
        self.folder = folder
        self.judge = judge
        self.pixel_size_um = pixel_size_um
        self.done = judged(folder)
        self._sizes: dict[str, int] = {}

    def _complete(self, path: Path) -> bool:
        """True once a file has the same size at two looks (the writer has finished)."""
        size = path.stat().st_size
        previous = self._sizes.get(path.name)
        self._sizes[path.name] = size
        return previous == size and size > 0

    def _record(self, row: dict[str, Any]) -> None:
        with (self.folder / VERDICTS).open("a") as out:
            out.write(json.dumps(row) + "\n")
            out.flush()
            os.fsync(out.fileno())
        self.done.add(row["file"])

    def poll(self, settle: bool = True) -> list[dict[str, Any]]:
        """Judge every new complete file now; returns their verdict lines."""
        new = sorted({p for pattern in PATTERNS for p in self.folder.glob(pattern)})
        rows = []
        for path in new:
            if path.name in self.done or (settle and not self._complete(path)):
                continue
            try:
                image = read_image(path)
                check_tile(image)
                verdict = self.judge.verdict(
                    {"tile_id": path.name, "pixel_size_um": self.pixel_size_um}, image
                )
                row = {"file": path.name, **verdict}
            except (OSError, ValueError) as exc:
                row = {"file": path.name, "error": str(exc)}
                self.judge.run.alarm(
                    Alarm(
                        severity="error",
                        tile=None,
                        message=f"{path.name}: {exc}",
                        error_type=type(exc).__name__,
                    )
                )
            self._record(row)
            rows.append(row)
        return rows

    def run(
        self,
        stop: threading.Event,
        interval_s: float = 0.5,
        on_verdict: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        """Poll until ``stop`` is set."""
        while not stop.is_set():
            for row in self.poll():
                if on_verdict:
                    on_verdict(row)
            time.sleep(interval_s)
