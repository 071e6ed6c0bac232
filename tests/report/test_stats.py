"""Leaderboard statistics against hand-computed values."""

import numpy as np
import pandas as pd
import pytest

from bench.api.errors import DataError
from bench.report import stats


def _ordered(n=4):
    """A always beats B, which always beats C."""
    return pd.DataFrame({"A": np.linspace(0.9, 0.95, n), "B": np.linspace(0.8, 0.85, n),
                         "C": np.linspace(0.7, 0.75, n)})


def test_friedman_matches_the_textbook_formula():
    # ranks 1, 2, 3 in all 4 blocks: chi2 = 12/(n k (k+1)) sum R_j^2 - 3 n (k+1) = 56 - 48
    result = stats.friedman(_ordered())
    assert result.statistic == pytest.approx(8.0)
    assert result.p_value == pytest.approx(np.exp(-4.0))  # chi2 with 2 d.o.f.
    assert np.isinf(result.iman_davenport) and result.iman_davenport_p == 0.0  # full agreement
    assert list(result.mean_ranks.index) == ["A", "B", "C"]
    assert list(result.mean_ranks) == [1.0, 2.0, 3.0]


# Demšar (2006), "Statistical comparisons of classifiers over multiple data sets", JMLR 7:1-30,
# Table 6: AUC of C4.5 with and without curtailment (m) and confidence (cf) tuning, 14 data sets.
# The table prints 0.975 twice for "voting", but ranks them 2 and 3 (from unrounded AUCs); the
# mean ranks and chi2_F of the text follow those ranks, so 0.9749 breaks the tie the same way.
DEMSAR_TABLE_6 = pd.DataFrame(
    [[0.763, 0.768, 0.771, 0.798], [0.599, 0.591, 0.590, 0.569], [0.954, 0.971, 0.968, 0.967],
     [0.628, 0.661, 0.654, 0.657], [0.882, 0.888, 0.886, 0.898], [0.936, 0.931, 0.916, 0.931],
     [0.661, 0.668, 0.609, 0.685], [0.583, 0.583, 0.563, 0.625], [0.775, 0.838, 0.866, 0.875],
     [1.000, 1.000, 1.000, 1.000], [0.940, 0.962, 0.965, 0.962], [0.619, 0.666, 0.614, 0.669],
     [0.972, 0.981, 0.975, 0.9749], [0.957, 0.978, 0.946, 0.970]],
    columns=["C4.5", "C4.5+m", "C4.5+cf", "C4.5+m+cf"])


def test_friedman_reproduces_demsar_2006_worked_example():
    """Section 3.2.2 of Demšar (2006): mean ranks 3.143, 2.000, 2.893, 1.964, chi2_F = 9.28 and
    F_F = 3.69 (the paper's numbers are the uncorrected ones: they use mean ranks alone)."""
    result = stats.friedman(DEMSAR_TABLE_6)
    ranks = result.mean_ranks[DEMSAR_TABLE_6.columns]
    np.testing.assert_allclose(ranks, [3.143, 2.000, 2.893, 1.964], atol=5e-4)
    assert result.statistic_uncorrected == pytest.approx(9.28, abs=5e-3)
    assert result.iman_davenport_uncorrected == pytest.approx(3.69, abs=5e-3)
    # F(3, 39) critical value at 0.05 is 2.85 (Demšar): F_F = 3.69 rejects, so p < 0.05
    assert result.iman_davenport_p_uncorrected < 0.05
    assert result.p_value_uncorrected == pytest.approx(stats.stats.chi2.sf(9.28, 3), rel=2e-3)
    # the table has ties (mushroom: all four 1.000, and others): the correction raises chi2_F
    assert result.ties and result.statistic > result.statistic_uncorrected


def test_tie_corrected_friedman_equals_scipy():
    from scipy.stats import friedmanchisquare

    reference = friedmanchisquare(*[DEMSAR_TABLE_6[c] for c in DEMSAR_TABLE_6.columns])
    result = stats.friedman(DEMSAR_TABLE_6)
    assert result.statistic == pytest.approx(reference.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-12)
    assert result.iman_davenport == pytest.approx(
        13 * reference.statistic / (14 * 3 - reference.statistic), rel=1e-12)


def test_friedman_without_ties_has_one_value():
    wide = pd.DataFrame({"A": [0.9, 0.8, 0.7, 0.9], "B": [0.8, 0.9, 0.6, 0.7],
                         "C": [0.7, 0.6, 0.8, 0.8]})
    result = stats.friedman(wide)
    # rank sums 6, 9, 9 (hand-ranked): 12/(4*3*4) * (36 + 81 + 81) - 3*4*4 = 1.5
    assert result.statistic == pytest.approx(1.5)
    assert not result.ties
    assert result.statistic == result.statistic_uncorrected
    assert result.iman_davenport == result.iman_davenport_uncorrected
    assert "no ties" in result.describe()


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
    assert "10 cases and 3 methods" in result.stdout and "Iman–Davenport" in result.stdout
    friedman = pd.read_csv(tmp_path / "out" / "friedman.csv").iloc[0]
    # the three methods keep their order in all 10 cases: chi2_F = N (k - 1), F_F infinite
    assert friedman["chi2_F"] == pytest.approx(20.0) and np.isinf(friedman["F_F"])
    ranks = pd.read_csv(tmp_path / "out" / "ranks.csv", index_col=0)["mean_rank"]
    assert list(ranks.index) == ["nnunet", "unet", "gan-aug"] and ranks["nnunet"] == 1.0
    signs = pd.read_csv(tmp_path / "out" / "signs.csv", index_col=0, dtype=str)
    assert signs.loc["nnunet", "gan-aug"] == "+"
    paired = pd.read_csv(tmp_path / "out" / "paired.csv").set_index("method")
    assert paired.loc["nnunet", "mean_difference"] > 0.04


def test_stats_command_names_a_missing_column(tmp_path, capsys):
    from tests.conftest import call_cli
    from tests.suites.test_bad_inputs import _assert_one_line_error

    path = tmp_path / "scores.csv"
    pd.DataFrame({"method": ["a"], "case": [1], "dice": [0.5]}).to_csv(path, index=False)
    _assert_one_line_error(call_cli(capsys, "stats", str(path)), "column 'score' is missing")


def test_stats_command_keeps_the_sign_of_a_lower_is_better_difference(tmp_path, capsys):
    """HD95-like scores are negated for ranking; the paired difference stays in the score's
    units (method − baseline), so a method 2 mm closer reads −2, not +2."""
    from tests.conftest import call_cli

    rng = np.random.default_rng(1)
    rows = [{"method": m, "case": c, "score": base + rng.normal(0, 0.1)}
            for m, base in (("close", 3.0), ("base", 5.0), ("far", 8.0)) for c in range(8)]
    path = tmp_path / "hd95.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    result = call_cli(capsys, "stats", str(path), "--lower-is-better", "--baseline", "base",
                      "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    paired = pd.read_csv(tmp_path / "out" / "paired.csv").set_index("method")
    assert paired.loc["close", "mean_difference"] == pytest.approx(-2.0, abs=0.2)
    assert paired.loc["far", "mean_difference"] == pytest.approx(3.0, abs=0.2)
    ranks = pd.read_csv(tmp_path / "out" / "ranks.csv", index_col=0)["mean_rank"]
    assert ranks.idxmin() == "close"
