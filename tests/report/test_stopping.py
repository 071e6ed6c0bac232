"""The training-stop record: which cells a plateau stopped and which the step cap stopped while
they still improved (issue 33: such cells are compared at equal steps, not at convergence)."""

import json

import pandas as pd

from bench.report.stopping import stop_summary, stopping, stopping_markdown, with_stop_columns


def _stage(stage, steps, stopped, stale, cap=400, patience=3, best=0.8):
    return {"stage": stage, "steps": steps, "cap": cap, "patience": patience,
            "stopped": stopped, "stale": stale, "best_val_dice": best}


def _cells():
    capped = [_stage("stage0_real", 400, "cap", 1)]
    return pd.DataFrame({
        "method": ["real", "real", "synth>real", "old"],
        "status": ["done"] * 4,
        "training": [json.dumps(capped), json.dumps([_stage("stage0_real", 250, "plateau", 3)]),
                     json.dumps([_stage("stage0_synthetic", 400, "cap", 0),
                                 _stage("stage1_real", 150, "plateau", 3, best=0.7)]),
                     None]})


def test_cells_csv_gets_steps_and_stop_reason_per_stage():
    out = with_stop_columns(_cells())
    assert list(out.steps[:3]) == ["400", "250", "400+150"]
    assert list(out.stopped[:3]) == ["cap", "plateau", "cap+plateau"]
    assert pd.isna(out.steps[3]) and pd.isna(out.stopped[3])  # not recorded: empty, not "cap"


def test_per_method_table_counts_plateau_and_cap_stops():
    table = stopping(_cells()).set_index(["method", "stage"])
    real = table.loc[("real", "stage0_real")]
    assert (real.cells, real.plateau, real.at_cap, real.steps, real.stale_at_cap) == \
        (2, 1, 1, "250–400", "1")
    assert table.loc[("synth>real", "stage1_real")].best_val_dice == 0.7
    assert ("old", "stage0_real") not in table.index


def test_summary_names_the_cells_the_cap_stopped_still_improving_and_the_unrecorded():
    text = stop_summary(_cells())
    # the pre-training stage of synth>real stopped at its cap: that cell did not plateau
    assert "1 of 3 cells reached a validation plateau in every stage" in text
    assert "2 stopped at a step cap before a plateau in at least one stage" in text
    assert "1 of 4 cells have no record" in text
    fixed = _cells().assign(training=json.dumps([_stage("fold0_real", 500, "cap", None,
                                                        patience=0)]))
    assert "4 trained a fixed number of steps (no plateau rule" in stop_summary(fixed)
    unvalidated = _cells().assign(training=json.dumps([_stage("stage0_real", 400, "cap", 0,
                                                              best=None)]))
    assert "before a plateau" not in stop_summary(unvalidated)  # no scores: no plateau rule


def test_a_store_without_training_records_says_so_instead_of_an_empty_table():
    old = _cells().drop(columns="training")
    assert stop_summary(old) == "Not recorded for any of the 4 cells."
    lines = stopping_markdown(stopping(old), stop_summary(old))
    assert lines[-1] == "Not recorded for any of the 4 cells."
    assert with_stop_columns(old).stopped.isna().all()


def test_a_method_without_cap_stops_shows_a_dash_not_nan():
    plateaued = _cells().iloc[[1]]
    lines = stopping_markdown(stopping(plateaued), stop_summary(plateaued))
    assert lines[-1].split(" | ")[-2] == "–" and "nan" not in "\n".join(lines)


def test_a_plugin_record_is_made_plain_json_or_dropped_with_a_log_line(caplog):
    """A third-party segmenter's record with numpy numbers is stored; one the report cannot read
    is dropped with a warning instead of failing the trained cell when the store writes it."""
    import logging

    import numpy as np

    from bench.run.experiment import training_record

    log = logging.getLogger("test.record")
    numpy = {"training": [_stage("stage0_real", np.int64(400), "cap", np.int64(1),
                                 best=np.float32(0.5))]}
    (stage,) = training_record(numpy, log)
    assert stage["steps"] == 400 and type(stage["steps"]) is int
    assert json.loads(json.dumps(stage)) == stage
    for broken in ([{"stage": "s", "steps": 4}], [_stage("s", 4, "stopped early", 0)],
                   [_stage("s", 4.5, "cap", 0)], [{**_stage("s", 4, "cap", 0), "cap": None}],
                   "not a list of stages"):
        with caplog.at_level(logging.WARNING, logger="test.record"):
            assert training_record({"training": broken}, log) is None
        assert "training record dropped" in caplog.text
    assert training_record({}, log) is None
