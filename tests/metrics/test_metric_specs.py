"""One spec per metric (direction, unit, range, empty case), read by rankings, tables and page."""

import numpy as np
import pandas as pd

from bench.fidelity.catalogue import METRICS as FIDELITY_METRICS
from bench.report.html import _board_spec
from bench.report.tables import overall_wide, spec_of
from metrics.segmentation import METRICS, SPECS


def test_every_segmentation_metric_has_a_spec_with_a_direction():
    assert set(SPECS) == set(METRICS)
    assert {m: SPECS[m].higher_is_better for m in METRICS} == {
        "dice": True, "precision": True, "recall": True, "accuracy": True, "hd95": False,
        "nsd": True}
    assert SPECS["hd95"].unit == "mm" and "worst-case" in SPECS["hd95"].empty


def test_every_fidelity_metric_has_a_spec():
    for name in FIDELITY_METRICS:
        assert spec_of(name).name == name and spec_of(name).legend == FIDELITY_METRICS[name]
    assert spec_of("fid").lower_is_better and spec_of("coverage_inception").better == "high"
    assert spec_of("fid_floor").better is None and spec_of("nn_ratio").better is None


def test_a_metric_without_a_spec_is_not_assumed_higher_is_better():
    assert spec_of("someones_metric").better is None


def test_rankings_negate_lower_is_better_metrics_from_the_spec():
    scores = pd.DataFrame({"method": ["a", "b"], "test_set": "t", "case": "c0",
                           "value": [1.0, 2.0]})
    assert list(overall_wide(scores, "hd95").iloc[0]) == [-1.0, -2.0]
    assert list(overall_wide(scores, "dice").iloc[0]) == [1.0, 2.0]


def test_the_page_marks_the_lowest_fid_as_best():
    """Fidelity columns had no direction on the page: no best value was marked."""
    board = pd.DataFrame({"rank": [1.0, 2.0], "method": ["a", "b"], "generator": ["g1", "g2"],
                          "count": [10, 10], "strategy": ["s", "s"], "augment": [False, False],
                          "segmenter": ["u", "u"], "seeds": [1, 1],
                          "t:dice_mean": [0.8, 0.7], "t:dice_ci_low": [np.nan] * 2,
                          "t:dice_ci_high": [np.nan] * 2,
                          "fidelity:fid": [30.0, 12.0], "fidelity:coverage_inception": [0.4, 0.6]})
    spec = _board_spec("b0", board, "t", {}, "dice")
    labels = [c["label"] for c in spec["columns"]]
    best = {labels[i]: [r["best"][i] for r in spec["rows"]] for i in range(len(labels))}
    assert best["fid"] == [False, True] and best["coverage_inception"] == [False, True]
    assert best["dice"] == [True, False]
