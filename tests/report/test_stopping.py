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
    assert "2 of 3 cells reached a validation plateau" in text  # last stages: cap, plateau, plateau
    assert "1 stopped at their step cap still improving" in text
    assert "1 of 4 cells have no record" in text
    fixed = _cells().assign(training=json.dumps([_stage("fold0_real", 500, "cap", None,
                                                        patience=0)]))
    assert "4 trained a fixed number of steps (no plateau rule" in stop_summary(fixed)
    unvalidated = _cells().assign(training=json.dumps([_stage("stage0_real", 400, "cap", 0,
                                                              best=None)]))
    assert "still improving" not in stop_summary(unvalidated)  # no scores: no plateau to reach


def test_a_store_without_training_records_says_so_instead_of_an_empty_table():
    old = _cells().drop(columns="training")
    assert stop_summary(old) == "Not recorded for any of the 4 cells."
    lines = stopping_markdown(stopping(old), stop_summary(old))
    assert lines[-1] == "Not recorded for any of the 4 cells."
    assert with_stop_columns(old).stopped.isna().all()
