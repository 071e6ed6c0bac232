"""REPLICATION.md is written from the committed leaderboards and the papers' claims alone, and
each claim's fate follows the verdict rule."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from bench.replicate.published import case_table
from bench.replicate.replication import load_claims, replication, write_replication
from bench.report.leaderboard import write_report
from bench.run.store import Store
from tests.conftest import call_cli
from tests.fake_runs import write_fake_run

ROOT = Path(__file__).resolve().parents[2]
LEADERBOARDS = ROOT / "leaderboards"


def test_replication_md_is_what_the_committed_leaderboards_give(tmp_path):
    """Regenerating it from the committed CSVs and summaries changes nothing: no number in it
    can outlive the leaderboard it came from."""
    fresh = write_replication(LEADERBOARDS, tmp_path / "REPLICATION.md").read_text()
    assert fresh == (LEADERBOARDS / "REPLICATION.md").read_text()


def test_every_claim_names_arms_its_leaderboard_holds():
    for claim in load_claims():
        methods = set(case_table(LEADERBOARDS / claim["leaderboard"]).method)
        assert {claim["arm"]["method"], claim["reference"]["method"]} <= methods, claim["id"]


@pytest.mark.parametrize("verdict, paper, mde, fate", [
    ("better", 0.02, 0.01, "reproduced"),
    ("worse", -0.02, 0.01, "reproduced"),
    ("worse", 0.02, 0.01, "contradicted"),
    ("equivalent", 0.05, 0.01, "not reproduced"),
    ("equivalent", 0.005, 0.01, "reproduced"),
    ("inconclusive", 0.05, 0.10, "not decidable by this design"),
    ("inconclusive", 0.05, 0.02, "not reproduced"),
    ("inconclusive", 0.05, np.nan, "not decidable by this design"),
])
def test_a_claims_fate_follows_the_verdict_and_the_design(verdict, paper, mde, fate):
    assert replication(verdict, paper, mde) == fate


def test_a_leaderboard_reads_back_as_the_stores_rows(tmp_path):
    run = write_fake_run(tmp_path / "run", {"G": 0.05})
    write_report(run, tmp_path / "board")
    with Store(run / "results.sqlite") as store:
        rows = store.case_metrics()
    back = case_table(tmp_path / "board")
    keys = ["method", "seed", "test_set", "case", "class", "metric"]
    merged = rows[rows.metric == "dice"].merge(back, on=keys, suffixes=("", "_back"))
    assert len(merged) == (rows.metric == "dice").sum()
    assert merged.value.to_numpy() == pytest.approx(merged.value_back.to_numpy())


def test_replicate_check_names_a_stale_file(tmp_path, capsys):
    boards = tmp_path / "leaderboards"
    shutil.copytree(LEADERBOARDS, boards)
    assert call_cli(capsys, "replicate", "--leaderboards", str(boards), "--check").returncode == 0
    text = (boards / "REPLICATION.md").read_text()
    (boards / "REPLICATION.md").write_text(text.replace("reproduced", "replicated", 1))
    result = call_cli(capsys, "replicate", "--leaderboards", str(boards), "--check")
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "stale" in result.stderr
    assert result.stderr.count("\n") == 1
    assert call_cli(capsys, "replicate", "--leaderboards", str(boards)).returncode == 0
    assert (boards / "REPLICATION.md").read_text() == text
