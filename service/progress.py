"""Progress for long commands: a live bar on a terminal, a line per tenth in a log file."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import Progress, TaskID

if TYPE_CHECKING:
    from collections.abc import Iterator


class Meter:
    """Tasks with a count each; drawn live on a terminal, logged every 10% otherwise."""

    def __init__(self, console: Console, bar: Progress | None) -> None:
        self.console = console
        self.bar = bar
        self._tasks: dict[TaskID, list[float]] = {}  # done, total, last logged tenth, start
        self._names: dict[TaskID, str] = {}

    def add(self, description: str, total: float | None) -> TaskID:
        """Start a task; ``total`` None while unknown."""
        if self.bar is not None:
            return self.bar.add_task(description, total=total)
        task = TaskID(len(self._tasks))
        self._tasks[task] = [0.0, float(total or 0), -1.0, time.perf_counter()]
        self._names[task] = description
        return task

    def update(
        self,
        task: TaskID,
        *,
        advance: float = 0,
        completed: float | None = None,
        total: float | None = None,
        description: str | None = None,
    ) -> None:
        """Move a task on, and log it at each new tenth when there is no terminal."""
        if self.bar is not None:
            self.bar.update(
                task, advance=advance, completed=completed, total=total, description=description
            )
            return
        state = self._tasks[task]
        state[0] = completed if completed is not None else state[0] + advance
        state[1] = total if total is not None else state[1]
        self._names[task] = description or self._names[task]
        tenth = float(int(10 * state[0] / state[1])) if state[1] else 0.0
        if tenth > state[2]:
            state[2] = tenth
            elapsed = time.perf_counter() - state[3]
            self.console.print(
                f"{self._names[task]}: {state[0]:.0f}/{state[1]:.0f} ({elapsed:.0f} s)",
                highlight=False,
            )


@contextmanager
def meter(console: Console | None = None) -> Iterator[Meter]:
    """A ``Meter`` on stderr (or ``console``)."""
    console = console or Console(stderr=True)
    if console.is_terminal:
        with Progress(console=console) as bar:
            yield Meter(console, bar)
    else:
        yield Meter(console, None)
