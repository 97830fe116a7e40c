"""The simulator's truth for a scan summary: which passed or skipped tiles were out of focus."""

from __future__ import annotations

from focusqc.service.scan import Truth


def test_passed_and_skipped_tiles_are_counted_by_their_true_defocus() -> None:
    truth = Truth(threshold_um=1.7)
    truth.add("in_focus", 0.4, blank=False)
    truth.add("in_focus", -2.6, blank=False)  # passed, but truly out: either side counts
    truth.add("in_focus", 9.0, blank=True)  # a blank field has no focus to miss
    truth.add("skip", 3.0, blank=False)  # skipped with structure, truly out
    truth.add("skip", 0.2, blank=False)
    truth.add("alarm", 5.0, blank=False)  # flagged to the operator: not let through
    truth.add("in_focus", None, blank=False)  # no exposure yet: nothing known
    assert (truth.passed, truth.passed_out, truth.skipped_out) == (2, 1, 1)
    assert truth.worst_passed_um == 2.6
    assert isinstance(truth.passed_out, int) and isinstance(truth.worst_passed_um, float)
