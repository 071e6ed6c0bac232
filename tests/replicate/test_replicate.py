"""REPLICATION.md is written from the committed leaderboards and the papers' claims alone, and
each claim's fate follows the verdict rule."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bench.replicate.replication as replication_module
from bench.api.errors import DataError
from bench.replicate.published import case_table
from bench.replicate.replication import load_claims, measure, replication, write_replication
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
        oracle = claim.get("oracle", {})
        named = {claim["arm"]["method"], claim["reference"]["method"],
                 *(oracle[side] for side in ("arm", "reference") if side in oracle)}
        assert named <= methods, claim["id"]


@pytest.mark.parametrize("verdict, paper, mde, fate", [
    ("better", 0.02, 0.01, "reproduced"),
    ("worse", -0.02, 0.01, "reproduced"),
    ("worse", 0.02, 0.01, "contradicted"),
    ("equivalent", 0.05, 0.01, "not reproduced"),
    ("equivalent", 0.005, 0.01, "reproduced"),
    # the paper's difference is negligible (within the ROPE): a clear one is not its pattern,
    # even in its sign (E2-2 against E2-1 for UNet3D on ADNI: -0.001)
    ("worse", -0.001, 0.01, "not reproduced"),
    ("better", 0.003, 0.01, "not reproduced"),
    ("equivalent", 0.010000000000000009, 0.01, "reproduced"),  # 0.904 - 0.894: within the ROPE
])
def test_a_claims_fate_follows_the_verdict_and_the_design(verdict, paper, mde, fate):
    assert replication(verdict, paper, mde) == fate


@pytest.mark.parametrize("half_width, fate", [
    (0.066, "not decidable by this design"),  # E2-2 at 3 seeds: too wide to show equivalence
    (0.005, "not reproduced"),  # narrow enough to fit inside the ROPE, and it did not
])
def test_an_undecided_claim_of_no_difference_is_judged_by_the_interval_not_the_mde(half_width,
                                                                                  fate):
    """For a paper effect within the ROPE, MDE > |effect| holds for almost any design, so the
    MDE rule would call every such claim undecidable; what decides is whether the interval
    could fit inside the ROPE."""
    assert replication("inconclusive", -0.001, 0.002, half_width) == fate


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



def _board(gains: dict[str, float], cases: int = 12, seeds=(0, 1, 2)) -> pd.DataFrame:
    """A leaderboard's case table: real only and one method per gain, per case and seed (the
    method "noisy" with a case noise five times the others', "exact" real only's own values
    give or take 0.001)."""
    rng = np.random.default_rng(0)
    base = rng.uniform(0.6, 0.8, cases)
    real = {(seed, c): rng.normal(0, 0.01) for seed in seeds for c in range(cases)}

    def noise(label: str, seed: int, case: int) -> float:
        if label in ("real only", "exact"):
            return real[seed, case] + (rng.normal(0, 0.001) if label == "exact" else 0.0)
        return rng.normal(0, 0.05 if label == "noisy" else 0.01)

    rows = [(f"{label} n=10", seed, "heldout", f"case{c}", "wm", "dice",
             base[c] + gain + noise(label, seed, c))
            for label, gain in {"real only": 0.0, **gains}.items()
            for seed in seeds for c in range(cases)]
    return pd.DataFrame(rows, columns=["method", "seed", "test_set", "case", "class", "metric",
                                       "value"])


def _claim(paper: list, role: str, oracle: str) -> dict:
    return {"id": "c", "paper": "P", "claim": "G against real", "leaderboard": "fake",
            "test_set": "heldout", "class": None,
            "arm": {"paper": "S", "method": "G n=10", "values": [paper[0]]},
            "reference": {"paper": "R", "method": "real only n=10", "values": [paper[1]]},
            "significant": True,
            "oracle": {"role": role, "arm": f"{oracle} n=10", "reference": "real only n=10"}}


@pytest.mark.parametrize("role, paper, oracle, shown, fate", [
    ("positive", [0.8, 0.7], "up", "the oracle shows the pattern: reproducible by this design",
     "reproduced"),
    ("positive", [0.8, 0.7], "flat", "the oracle does not show it: not reproducible",
     "reproduced; the oracle does not show it"),
    ("ceiling", [0.7, 0.8], "down", "perfect samples fall short too",
     "reproduced, but the oracle falls short too"),
    ("ceiling", [0.7, 0.8], "up", "perfect samples do not fall short", "reproduced"),
    # the oracle against real undecided, but the arm far below it: the deficit is the generator's
    ("ceiling", [0.7, 0.8], "noisy", "the arm falls short of perfect samples by -0.1",
     "reproduced"),
    # a claim of no practical difference (paper within the ROPE): the oracle shows it by
    # matching real data, not by moving in the sign of the paper's tiny effect
    ("positive", [0.803, 0.8], "exact", "the oracle shows the pattern: reproducible by this design",
     "not reproduced"),
    ("positive", [0.803, 0.8], "up", "the oracle does not show it: not reproducible",
     "not reproduced; the oracle does not show it"),
])
def test_the_oracle_control_is_measured_and_read_by_its_role(monkeypatch, role, paper, oracle,
                                                             shown, fate):
    """The oracle control is the oracle's own difference, interval and verdict, not a note: a
    pattern perfect samples do not show is never 'reproducible by this design'."""
    gains = {"G": 0.1 if paper[0] > paper[1] else -0.1, "up": 0.1, "flat": 0.0, "down": -0.1,
             "noisy": 0.0, "exact": 0.0}
    monkeypatch.setattr(replication_module, "case_table", lambda folder: _board(gains))
    (outcome,) = measure([_claim(paper, role, oracle)], Path("boards"))
    assert shown in outcome.oracle
    assert outcome.replication == fate
    measured = float(outcome.oracle.split("oracle Δ ")[1].split(" ")[0])
    assert measured == pytest.approx(gains[oracle], abs=0.01)
    assert "MDE" in outcome.oracle and "p (Holm)" in outcome.oracle


def test_an_oracle_control_without_a_known_role_is_refused(monkeypatch):
    monkeypatch.setattr(replication_module, "case_table", lambda folder: _board({"G": 0.1}))
    with pytest.raises(DataError, match="oracle.role must be one of positive, ceiling"):
        measure([_claim([0.8, 0.7], "control", "G")], Path("boards"))


def test_a_ceiling_oracle_on_a_claim_of_no_difference_is_refused(monkeypatch):
    """'Perfect samples fall short too' means nothing where the paper finds no difference."""
    monkeypatch.setattr(replication_module, "case_table", lambda folder: _board({"G": 0.1}))
    with pytest.raises(DataError, match="its oracle control is 'positive'"):
        measure([_claim([0.825, 0.826], "ceiling", "G")], Path("boards"))
