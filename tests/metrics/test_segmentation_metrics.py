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


def test_a_missed_structure_gets_the_worst_case_hd95_and_is_flagged():
    """Metrics Reloaded / BraTS: a structure present in one mask only gets a declared worst-case
    distance (by default the image diagonal in mm), never a missing value a mean would skip."""
    truth = np.zeros((8, 6), np.uint8)
    truth[2:4, 2:4] = 2
    missed = _values(case_metrics(np.zeros_like(truth), truth, LABELS, spacing=(2.0, 1.0)), "b")
    assert missed["hd95"] == pytest.approx(math.hypot(8 * 2.0, 6 * 1.0))
    assert missed["hd95_penalised"] == 1.0
    invented = _values(case_metrics(truth, np.zeros_like(truth), LABELS, worst_distance=374.0),
                       "b")
    assert invented["hd95"] == 374.0 and invented["hd95_penalised"] == 1.0
    found = _values(case_metrics(truth, truth, LABELS), "b")
    assert found["hd95"] == 0.0 and found["hd95_penalised"] == 0.0
    neither = _values(case_metrics(truth, truth, LABELS), "a")
    assert math.isnan(neither["hd95"]) and neither["hd95_penalised"] == 0.0


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
    assert len(table) == 2 * 6  # five metrics and the HD95 penalty flag, per class
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
    """One row is 1 mm: every boundary point is within 1 mm of the other boundary; at 2 mm per
    row, all are within 2 mm."""
    pred, truth = _shifted_squares()
    assert _values(case_metrics(pred, truth, LABELS, (1.0, 1.0), hd95=False, nsd=1.0),
                   "a")["nsd"] == pytest.approx(1.0)
    assert _values(case_metrics(pred, truth, LABELS, (2.0, 1.0), hd95=False, nsd=2.0),
                   "a")["nsd"] == pytest.approx(1.0)


def _contour_mm(rows: int, cols: int, spacing: tuple[float, float]) -> float:
    """Length of the boundary of a rows x cols block of pixels as Nikolov et al. measure it
    (marching squares: through the midpoints between pixel centres, corners cut diagonally)."""
    sx, sy = spacing
    return 2 * (rows - 1) * sx + 2 * (cols - 1) * sy + 4 * math.hypot(sx / 2, sy / 2)


@pytest.mark.parametrize("spacing", [(1.0, 1.0), (1.0, 3.0), (3.0, 1.0)])
def test_nsd_weighs_boundaries_by_surface_area(spacing):
    """Truth: a 4 x 4 block A and a 2 x 20 block B far from it; prediction: A alone. A's
    boundary is shared, B's is far from every predicted point, so NSD = 2|∂A| / (2|∂A| + |∂B|)
    in mm. Counting boundary voxels instead gives 2·12 / (2·12 + 40) = 0.375 whatever the
    spacing."""
    truth = np.zeros((30, 30), np.uint8)
    truth[2:6, 2:6] = 1
    truth[20:22, 5:25] = 1
    pred = np.zeros_like(truth)
    pred[2:6, 2:6] = 1
    a, b = _contour_mm(4, 4, spacing), _contour_mm(2, 20, spacing)
    got = _values(case_metrics(pred, truth, LABELS, spacing, hd95=False, nsd=1.0), "a")["nsd"]
    assert got == pytest.approx(2 * a / (2 * a + b), abs=1e-5)


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
