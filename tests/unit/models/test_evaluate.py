"""Evaluation arithmetic: AUC, F1 and the per-set metrics on hand-made scores."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from focusqc.models.breakdown import error_breakdown
from focusqc.models.evaluate import (
    SETS,
    TARGET_SET,
    Scored,
    auc,
    calibration_tiles,
    f1_out,
    held_out_set,
    metrics,
    specs,
)


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


def test_error_breakdown_splits_the_counted_error_by_specimen_brightness_thickness() -> None:
    scored = Scored(
        truth_um=np.array([0.0, 1.0, 0.5, 9.0, 0.0]),  # 9 um lies outside the 20x set's 5 um
        dof_um=np.full(5, 0.7),
        structure=np.array([True, True, True, True, False]),
        side_visible=np.zeros(5, bool),
        pred_um=np.array([1.0, 1.0, 3.5, 0.0, 4.0]),
        certainty=np.array([0.5, 0.3, 0.05, 0.5, 0.5]),
        side_above=np.full(5, 0.5),
        blank_prob=np.array([0.1, 0.6, 0.1, 0.1, 0.9]),
        specimen=np.array(["nuclei", "nuclei", "puncta", "puncta", "empty"]),
        peak_photons=np.array([50.0, 1000.0, 50.0, 50.0, 50.0]),
        thickness_um=np.array([6.0, 8.0, 1.0, 1.0, 0.0]),
    )
    rows = {r["group"]: r for r in error_breakdown(scored, held_out_set(TARGET_SET), gate=0.1)}
    # Counted: the three tiles with structure within 5 um; errors 1, 0, 3 (sum 4).
    assert set(rows) == {
        "specimen: nuclei",
        "specimen: puncta",
        "brightest structure 0-100 photons",
        "brightest structure from 500 photons",
        "specimen thickness 0-1.5 um",
        "specimen thickness from 4 um",
    }
    nuclei, puncta = rows["specimen: nuclei"], rows["specimen: puncta"]
    assert nuclei["tiles"] == 2 and nuclei["MAE um"] == pytest.approx(0.5)
    assert nuclei["share of error"] == pytest.approx(0.25)
    assert nuclei["acted on"] == 0.5  # the second is flagged blank
    assert puncta["tiles"] == 1 and puncta["share of error"] == pytest.approx(0.75)
    assert puncta["acted on"] == 0.0  # under the gate
    dim = rows["brightest structure 0-100 photons"]
    assert dim["tiles"] == 2 and dim["median error um"] == pytest.approx(2.0)
    thick = rows["specimen thickness from 4 um"]
    assert thick["tiles"] == 2 and thick["share of error"] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="no specimen kinds"):
        error_breakdown(replace(scored, specimen=None), held_out_set(TARGET_SET))


def test_held_out_sets_never_reuse_a_seed() -> None:
    seeds = [s.seed for s in SETS]
    assert len(set(seeds)) == len(seeds) and min(seeds) > 10000
    with pytest.raises(KeyError, match="choose one of"):
        held_out_set("nope")


def test_calibration_tiles_keep_only_structure_within_the_range() -> None:
    kept = calibration_tiles(20001, 40, (1.0, 5.0))
    assert kept, "40 tiles of the 20x set hold some with structure 1-5 um out"
    everything = specs(replace(held_out_set(TARGET_SET), seed=20001), range(40))
    assert len(kept) < len(everything)
    for spec, (image, labels) in kept:
        assert 1.0 <= abs(spec.defocus_um) <= 5.0
        assert labels["structure_present"]
        assert image.ndim == 2
    # The same seed gives the same tiles, in the order they were drawn.
    assert [s for s, _ in calibration_tiles(20001, 40, (1.0, 5.0))] == [s for s, _ in kept]
