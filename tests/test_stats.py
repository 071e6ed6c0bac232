"""Leaderboard statistics against hand-computed values."""

import numpy as np
import pandas as pd
import pytest

from bench import stats
from bench.errors import DataError


def _ordered(n=4):
    """A always beats B, which always beats C."""
    return pd.DataFrame({"A": np.linspace(0.9, 0.95, n), "B": np.linspace(0.8, 0.85, n),
                         "C": np.linspace(0.7, 0.75, n)})


def test_friedman_matches_the_textbook_formula():
    # ranks 1, 2, 3 in all 4 blocks: chi2 = 12/(n k (k+1)) sum R_j^2 - 3 n (k+1) = 56 - 48
    result = stats.friedman(_ordered())
    assert result.statistic == pytest.approx(8.0)
    assert result.p_value == pytest.approx(np.exp(-4.0))  # chi2 with 2 d.o.f.
    assert list(result.mean_ranks.index) == ["A", "B", "C"]
    assert list(result.mean_ranks) == [1.0, 2.0, 3.0]


def test_critical_difference_matches_demsar_table():
    # Demšar (2006), Table 5(a): q_0.05 = 2.343 for k = 3
    assert stats.critical_difference(3, 4) == pytest.approx(2.343 * np.sqrt(12 / 24), abs=1e-3)
    assert stats.critical_difference(5, 10, alpha=0.10) == pytest.approx(
        2.459 * np.sqrt(30 / 60), abs=1e-3)


def test_ties_use_average_ranks_and_give_no_difference():
    tied = pd.DataFrame({"A": [0.5, 0.6, 0.7], "B": [0.5, 0.6, 0.7], "C": [0.5, 0.6, 0.7]})
    result = stats.friedman(tied)
    assert result.p_value == 1.0 and list(result.mean_ranks) == [2.0, 2.0, 2.0]


def test_incomplete_blocks_are_dropped_and_counted():
    wide = _ordered(6)
    wide.loc[2, "B"] = np.nan
    result = stats.friedman(wide)
    assert result.blocks == 5 and result.dropped_blocks == 1


def test_sign_table_marks_significant_pairs_and_scores_them():
    wide = _ordered(12)
    wide["D"] = wide["C"] + 0.001  # always just above C: adjacent in rank
    p = stats.nemenyi(wide)
    table = stats.sign_table(wide, p, alpha=0.05)
    assert table.loc["A", "D"] == "+" and table.loc["D", "A"] == "-"
    assert table.loc["C", "D"] == "0"  # adjacent ranks: not significant with 12 cases
    assert table.loc["A", "score"] == (table.loc["A"] == "+").sum()
    assert list(table.index)[0] == "A"
    assert table.loc["A", "score"] - table.loc["C", "score"] > 0


def test_nemenyi_is_symmetric_with_unit_diagonal():
    p = stats.nemenyi(_ordered(8))
    np.testing.assert_allclose(p.to_numpy(), p.to_numpy().T)
    np.testing.assert_allclose(np.diag(p.to_numpy()), 1.0)
    assert p.loc["A", "C"] < p.loc["A", "B"]


def test_paired_tests_against_the_baseline():
    wide = pd.DataFrame({"base": [0.5, 0.6, 0.7, 0.8], "up": [0.6, 0.65, 0.8, 0.82],
                         "same": [0.5, 0.6, 0.7, 0.8]})
    table = stats.paired_tests(wide, "base").set_index("method")
    diff = np.array([0.1, 0.05, 0.1, 0.02])
    t = diff.mean() / (diff.std(ddof=1) / 2)
    from scipy.stats import t as student
    assert table.loc["up", "t_test_p"] == pytest.approx(2 * student.sf(t, 3))
    assert table.loc["up", "mean_difference"] == pytest.approx(0.0675)
    assert np.isnan(table.loc["same", "t_test_p"]) and np.isnan(table.loc["same", "wilcoxon_p"])


def test_unknown_baseline_and_too_few_methods_are_data_errors():
    with pytest.raises(DataError, match="baseline 'nope'"):
        stats.paired_tests(_ordered(), "nope")
    with pytest.raises(DataError, match="at least 3 methods"):
        stats.friedman(_ordered()[["A", "B"]])


def test_wide_scores_names_a_missing_column():
    long = pd.DataFrame({"m": ["a"], "c": [1], "s": [0.5]})
    with pytest.raises(DataError, match="column 'score' is missing"):
        stats.wide_scores(long, "m", "c", "score")


def test_stats_command_on_a_users_own_table(tmp_path, capsys):
    from tests.conftest import call_cli

    rng = np.random.default_rng(0)
    rows = [{"model": m, "patient": c, "dsc": base + rng.normal(0, 0.01)}
            for m, base in (("nnunet", 0.9), ("unet", 0.85), ("gan-aug", 0.8))
            for c in range(10)]
    path = tmp_path / "scores.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    result = call_cli(capsys, "stats", str(path), "--method-col", "model", "--case-col",
                      "patient", "--score-col", "dsc", "--baseline", "unet", "--out",
                      str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "10 cases, 3 methods" in result.stdout
    ranks = pd.read_csv(tmp_path / "out" / "ranks.csv", index_col=0)["mean_rank"]
    assert list(ranks.index) == ["nnunet", "unet", "gan-aug"] and ranks["nnunet"] == 1.0
    signs = pd.read_csv(tmp_path / "out" / "signs.csv", index_col=0, dtype=str)
    assert signs.loc["nnunet", "gan-aug"] == "+"
    paired = pd.read_csv(tmp_path / "out" / "paired.csv").set_index("method")
    assert paired.loc["nnunet", "mean_difference"] > 0.04


def test_stats_command_names_a_missing_column(tmp_path, capsys):
    from tests.conftest import call_cli
    from tests.test_bad_inputs import _assert_one_line_error

    path = tmp_path / "scores.csv"
    pd.DataFrame({"method": ["a"], "case": [1], "dice": [0.5]}).to_csv(path, index=False)
    _assert_one_line_error(call_cli(capsys, "stats", str(path)), "column 'score' is missing")
