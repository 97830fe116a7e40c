"""Evaluation arithmetic: AUC, F1 and the per-set metrics on hand-made scores."""

from __future__ import annotations

import numpy as np
import pytest

from focusqc.models.evaluate import SETS, TARGET_SET, Scored, auc, f1_out, held_out_set, metrics


def test_auc_is_one_for_perfect_separation_half_for_ties_zero_reversed() -> None:
    is_out = np.array([False, False, True, True])
    assert auc(np.array([0.1, 0.2, 0.8, 0.9]), is_out) == 1.0
    assert auc(np.array([0.9, 0.8, 0.2, 0.1]), is_out) == 0.0
    assert auc(np.ones(4), is_out) == 0.5
    assert np.isnan(auc(np.ones(2), np.array([True, True])))


def test_f1_counts_misses_and_false_alarms() -> None:
    truth = np.array([True, True, False, False])
    assert f1_out(truth, truth) == 1.0
    assert f1_out(np.array([True, False, True, False]), truth) == pytest.approx(0.5)


def test_metrics_of_a_hand_made_set() -> None:
    dof = np.full(6, 0.5)
    scored = Scored(
        truth_um=np.array([0.2, -0.4, 2.0, -3.0, 0.0, 0.0]),
        dof_um=dof,
        structure=np.array([True, True, True, True, False, False]),
        side_visible=np.array([True, True, True, True, True, True]),
        pred_um=np.array([0.3, 0.4, 2.5, 3.0, 0.0, 0.0]),
        certainty=np.array([0.9, 0.9, 0.9, 0.9, 0.05, 0.5]),
        side_above=np.array([0.5, 0.5, 0.9, 0.8, 0.5, 0.5]),
        blank_prob=np.array([0.0, 0.0, 0.0, 0.0, 0.9, 0.1]),
        classical={"Brenner": np.array([4.0, 3.0, 2.0, 1.0, 0.0, 0.0])},
    )
    m = metrics(scored, held_out_set(TARGET_SET), threshold_dof=2.0, gate=0.2)
    assert m["MAE um"] == pytest.approx((0.1 + 0.0 + 0.5 + 0.0) / 4)
    assert m["F1"] == 1.0 and m["AUC model"] == 1.0 and m["AUC Brenner"] == 1.0
    # Side from 1.5 um on the 20x set: +2.0 called above (right), -3.0 called above (wrong).
    assert m["side tiles"] == 2 and m["side accuracy"] == 0.5
    assert m["blank tiles"] == 2 and m["blank below gate"] == 0.5
    assert m["blank skipped"] == 0.5 and m["structure acted on"] == 1.0


def test_held_out_sets_never_reuse_a_seed() -> None:
    seeds = [s.seed for s in SETS]
    assert len(set(seeds)) == len(seeds) and min(seeds) > 10000
    with pytest.raises(KeyError, match="choose one of"):
        held_out_set("nope")
