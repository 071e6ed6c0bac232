"""Segmentation metrics against hand-computed values and the documented empty-mask rules."""

import math

import numpy as np
import pytest

from bench.api.case import Case, CaseSet
from metrics.segmentation import case_metrics, evaluate

LABELS = {0: "background", 1: "a", 2: "b"}


def _values(rows, cls):
    return {r["metric"]: r["value"] for r in rows if r["class"] == cls}


def test_hand_computed_counts():
    truth = np.zeros((10, 10), np.uint8)
    truth[0:4, 0:5] = 1  # 20 voxels
    pred = np.zeros_like(truth)
    pred[0:4, 0:3] = 1  # 12 voxels, all correct
    pred[5, 0:4] = 1  # 4 false positives
    got = _values(case_metrics(pred, truth, LABELS, hd95=False), "a")
    assert got["dice"] == pytest.approx(2 * 12 / (16 + 20))
    assert got["precision"] == pytest.approx(12 / 16)
    assert got["recall"] == pytest.approx(12 / 20)
    assert got["accuracy"] == pytest.approx((100 - 4 - 8) / 100)


def test_both_empty_is_perfect_and_hd95_missing():
    truth = np.zeros((8, 8), np.uint8)
    got = _values(case_metrics(truth, truth, LABELS), "b")
    assert got["dice"] == 1.0 and got["precision"] == 1.0 and got["recall"] == 1.0
    assert math.isnan(got["hd95"])


def test_empty_prediction_of_a_present_class_scores_zero():
    truth = np.zeros((8, 8), np.uint8)
    truth[2:4, 2:4] = 2
    got = _values(case_metrics(np.zeros_like(truth), truth, LABELS), "b")
    assert got["dice"] == 0.0 and got["recall"] == 0.0
    assert math.isnan(got["hd95"])


def test_hd95_uses_the_voxel_spacing():
    truth = np.zeros((20, 20, 3), np.uint8)
    truth[5:10, 5:10, :] = 1
    pred = np.roll(truth, 2, axis=0)
    iso = _values(case_metrics(pred, truth, LABELS, spacing=(1, 1, 1)), "a")["hd95"]
    wide = _values(case_metrics(pred, truth, LABELS, spacing=(3, 1, 1)), "a")["hd95"]
    assert iso == pytest.approx(2.0)
    assert wide == pytest.approx(6.0)


def test_evaluate_gives_the_long_table():
    label = np.zeros((6, 6, 2), np.uint8)
    label[1:3, 1:3] = 1
    cases = CaseSet([Case("c0", np.zeros((1, 6, 6, 2)), label, (1, 1, 1))], LABELS, ["T1"], 3)
    table = evaluate(cases, [label], test_set="siteA")
    assert list(table.columns) == ["test_set", "case", "class", "metric", "value"]
    assert len(table) == 2 * 5
    dice = table[(table["class"] == "a") & (table.metric == "dice")].value.item()
    assert dice == 1.0


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="shape"):
        case_metrics(np.zeros((4, 4), np.uint8), np.zeros((4, 5), np.uint8), LABELS)


def _shifted_squares():
    """A 10 x 10 square and the same square one row lower: 36 boundary pixels each, 18 of
    each boundary on the other (counted by hand: the two side columns, 8 + 8, and 2 corners)."""
    truth = np.zeros((20, 20), np.uint8)
    truth[5:15, 5:15] = 1
    return np.roll(truth, 1, axis=0), truth


def test_nsd_by_hand_at_zero_tolerance():
    pred, truth = _shifted_squares()
    got = _values(case_metrics(pred, truth, LABELS, hd95=False, nsd=0.0), "a")
    assert got["nsd"] == pytest.approx(36 / 72)


def test_nsd_is_spacing_aware():
    """One row is 1 mm: every boundary pixel is within 1 mm of the other boundary. One row is
    2 mm: of each boundary, the 16 side pixels, the 2 shared corners and the 2 pixels next to
    them (1 mm across) are within 1 mm, i.e. 20 of 36 (by hand); all are within 2 mm."""
    pred, truth = _shifted_squares()
    assert _values(case_metrics(pred, truth, LABELS, (1.0, 1.0), hd95=False, nsd=1.0),
                   "a")["nsd"] == pytest.approx(1.0)
    assert _values(case_metrics(pred, truth, LABELS, (2.0, 1.0), hd95=False, nsd=1.0),
                   "a")["nsd"] == pytest.approx(40 / 72)
    assert _values(case_metrics(pred, truth, LABELS, (2.0, 1.0), hd95=False, nsd=2.0),
                   "a")["nsd"] == pytest.approx(1.0)


def test_nsd_tolerance_per_class_and_empty_masks():
    pred, truth = _shifted_squares()
    pred, truth = pred * 2, truth.copy()  # class b predicted where class a is true
    truth[0:2, 0:2] = 2
    rows = case_metrics(pred, truth, LABELS, hd95=False, nsd={"a": 0.0, "b": 5.0})
    assert _values(rows, "a")["nsd"] == 0.0  # present in truth only
    assert _values(rows, "b")["nsd"] < 1.0
    both_empty = case_metrics(np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8), LABELS,
                              hd95=False, nsd=1.0)
    assert {r["value"] for r in both_empty if r["metric"] == "nsd"} == {1.0}
