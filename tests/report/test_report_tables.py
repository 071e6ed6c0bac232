"""Leaderboard tables beside the main one: per class, nnU-Net style summary.json per cell."""

import json

import numpy as np
import pandas as pd
import pytest

from bench.report.leaderboard import write_report
from bench.run.store import Store
from tests.fake_runs import write_fake_run


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("tables")
    run = write_fake_run(root / "run", {"b-sg": 0.05, "c-sg": -0.03}, seeds=(0, 1), cases=5)
    store = Store(run / "results.sqlite")
    rows = store.case_metrics()
    store.close()
    return write_report(run, root / "board"), rows


def test_summary_json_per_cell_follows_nnunet(report):
    files, rows = report
    cell = rows.cell.iloc[0]
    path = files[f"summaries/{cell}/heldout/summary.json"]
    summary = json.loads(path.read_text())
    assert set(summary) == {"metric_per_case", "mean", "foreground_mean"}
    mine = rows[(rows.cell == cell) & (rows.test_set == "heldout")]
    assert len(summary["metric_per_case"]) == mine.case.nunique() == 5
    first = summary["metric_per_case"][0]
    value = mine[(mine.case == first["reference_file"]) & (mine["class"] == "wm")
                 & (mine.metric == "dice")].value.item()
    assert first["metrics"]["wm"]["Dice"] == pytest.approx(value)
    dice = mine[mine.metric == "dice"]
    assert summary["mean"]["gm"]["Dice"] == pytest.approx(
        dice[dice["class"] == "gm"].value.mean())
    assert summary["foreground_mean"]["Dice"] == pytest.approx(
        dice.groupby("class").value.mean().mean())
    assert summary["mean"]["wm"]["hd95"] == pytest.approx(
        mine[(mine.metric == "hd95") & (mine["class"] == "wm")].value.mean())


def test_per_class_table_averages_seeds_then_cases(report):
    files, rows = report
    table = pd.read_csv(files["per_class.csv"])
    method = rows.method.iloc[0]
    part = rows[(rows.method == method) & (rows.test_set == "siteB") & (rows.metric == "dice")
                & (rows["class"] == "gm")]
    expected = part.groupby("case").value.mean()
    got = table[(table.method == method) & (table.test_set == "siteB")
                & (table.metric == "dice") & (table["class"] == "gm")].iloc[0]
    assert got["mean"] == pytest.approx(expected.mean())
    assert got["sd"] == pytest.approx(expected.std()) and got["cases"] == 5
    assert "## Per class (dice, mean over cases)" in files["leaderboard.md"].read_text()


def test_leaderboard_intervals_contain_their_means(report):
    files, _ = report
    board = pd.read_csv(files["leaderboard.csv"])
    for test_set in ("heldout", "siteB"):
        for metric in ("dice", "hd95"):
            mean, low, high = (board[f"{test_set}:{metric}_{s}"]
                               for s in ("mean", "ci_low", "ci_high"))
            assert ((low <= mean) & (mean <= high) & (low < high)).all()
    assert board.keeps_rank.between(0, 1).all()


def test_a_methods_interval_does_not_depend_on_the_other_methods():
    from bench.report.tables import mean_intervals

    rng = np.random.default_rng(0)
    rows = [{"method": m, "test_set": "t", "case": c, "seed": s, "value": rng.uniform()}
            for m in ("a", "b") for c in range(6) for s in (0, 1)]
    both = mean_intervals(pd.DataFrame(rows))
    alone = mean_intervals(pd.DataFrame([r for r in rows if r["method"] == "b"]))
    assert both.loc[("b", "t")].to_dict() == alone.loc[("b", "t")].to_dict()


def test_the_leaderboard_names_where_each_generator_comes_from(tmp_path):
    """A fitted folder's preset and training data reach generators.csv, the Markdown and the
    page; a run without the record (older stores) writes no such table."""
    run = write_fake_run(tmp_path / "run", {"B-SG": 0.02})
    components = {"generators": [
        {"kind": "generator", "name": "b-sg", "label": "B-SG", "version": "2", "preset": "demo",
         "identity": "abc123", "params": {"preset": "demo", "params": {"steps": 600}, "seed": 0,
                                          "data": "25a7420e5868ae1e"},
         "source": "/somewhere/generators/b-sg", "content": "c0ffee", "fitted": True},
        {"kind": "generator", "name": "phantom-oracle", "label": "phantom-oracle",
         "version": "1", "preset": None, "identity": "def456", "params": {}}]}
    with Store(run / "results.sqlite") as store:
        store.set_manifest({"components": components})
    files = write_report(run, tmp_path / "board")
    table = pd.read_csv(files["generators.csv"])
    assert list(table.generator) == ["B-SG", "phantom-oracle"]
    made = table.set_index("generator").made
    assert "b-sg/" in made["B-SG"] and "25a7420e5868ae1e" in made["B-SG"]
    assert "'steps': 600" in made["B-SG"] and made["phantom-oracle"] == "fitted in this run"
    assert "## Generators" in files["leaderboard.md"].read_text()
    assert "id='generators'" in files["index.html"].read_text()
    bare = write_report(write_fake_run(tmp_path / "old", {"B-SG": 0.02}), tmp_path / "old_board")
    assert "generators.csv" not in bare


def test_a_second_report_into_a_folder_leaves_none_of_the_first_runs_files(tmp_path):
    """The demo's leaderboard folder held the summaries of three brainSPADE fits after two refits:
    files of cells no longer in the run, beside the numbers of the current one. A report
    removes what an earlier report wrote and it did not, and nothing else."""
    from bench.report.leaderboard import write_report
    from tests.fake_runs import write_fake_run

    board = tmp_path / "board"
    first = write_report(write_fake_run(tmp_path / "a", {"b-sg": 0.05, "m-sg": 0.0}), board)
    (board / "RUN.md").write_text("how this folder was made")
    (board / "summaries" / "notes.txt").write_text("a user's file")
    second = write_report(write_fake_run(tmp_path / "b", {"m-sg": 0.0}), board)
    dropped = set(first) - set(second)
    assert any(name.startswith("summaries/") for name in dropped), "b-sg's cells are gone"
    on_disk = {str(p.relative_to(board)) for p in board.rglob("*") if p.is_file()}
    assert not dropped & on_disk
    assert set(second) <= on_disk
    assert on_disk - set(second) == {"RUN.md", ".report-files", "summaries/notes.txt"}
    assert (board / ".report-files").read_text().split() == sorted(second)
