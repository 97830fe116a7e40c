"""Long commands report progress in a log file too, not only on a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from focusqc.service.progress import meter


def test_without_a_terminal_progress_is_logged_once_per_tenth() -> None:
    out = io.StringIO()
    with meter(Console(file=out, force_terminal=False, width=200)) as bar:
        task = bar.add("scoring", total=50)
        for _ in range(50):
            bar.update(task, advance=1)
    lines = out.getvalue().splitlines()
    assert len(lines) == 11, lines  # 0%, 10%, ..., 100%
    assert lines[0].startswith("scoring: 1/50") and lines[-1].startswith("scoring: 50/50")


def test_a_task_with_a_late_total_and_a_new_description_is_logged() -> None:
    out = io.StringIO()
    with meter(Console(file=out, force_terminal=False, width=200)) as bar:
        task = bar.add("training", total=None)
        bar.update(task, completed=5, total=10, description="training loss 0.5")
    assert "training loss 0.5: 5/10" in out.getvalue()
