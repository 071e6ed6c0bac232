"""Rank stability (challengeR's bootstrap rankings) against exact enumeration."""

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from bench.report.ranking import rank_stability


def test_a_method_that_wins_every_case_always_keeps_its_rank():
    wide = pd.DataFrame({"A": np.linspace(0.9, 0.95, 8), "B": np.linspace(0.8, 0.85, 8),
                         "C": np.linspace(0.7, 0.75, 8)})
    result = rank_stability(wide, resamples=200)
    summary = result.summary()
    assert list(summary["rank"]) == [1.0, 2.0, 3.0]
    assert (summary.keeps_rank == 1.0).all()
    assert np.all(result.tau == 1.0)
    assert result.rank_frequencies().loc["B", 2] == 1.0


def test_keep_rank_frequency_matches_exact_enumeration():
    """Wiesenfarth et al. (2021) bootstrap the cases; with 4 cases all 4**4 resamples can be
    enumerated, giving the exact probability that each method keeps its full-data rank."""
    wide = pd.DataFrame({"A": [0.9, 0.9, 0.5, 0.8], "B": [0.8, 0.7, 0.9, 0.7],
                         "C": [0.7, 0.8, 0.6, 0.9]})
    case_ranks = wide.rank(axis=1, ascending=False).to_numpy()
    full = scipy_stats.rankdata(case_ranks.mean(axis=0))
    exact = np.zeros(3)
    for picks in itertools.product(range(4), repeat=4):
        exact += scipy_stats.rankdata(case_ranks[list(picks)].mean(axis=0)) == full
    exact /= 4 ** 4
    result = rank_stability(wide, resamples=4000, seed=1)
    np.testing.assert_allclose(result.summary().keeps_rank.to_numpy(), exact, atol=0.03)
    assert 0 < exact.min() < 1  # the example is not trivially stable


def test_kendall_tau_is_computed_against_the_full_ranking():
    wide = pd.DataFrame({"A": [0.9, 0.1], "B": [0.5, 0.5], "C": [0.1, 0.9]})
    result = rank_stability(wide, resamples=400, seed=0)
    # full ranking: all tied at 2; resamples (0,0) and (1,1) give 1,2,3 / 3,2,1; tau vs a
    # fully tied ranking is undefined
    assert np.isnan(result.tau).all()
    # by hand: case ranks (A, B, C) are (1, 2, 3) and (2, 3, 1); full ranking (1, 3, 2). A
    # resample of both cases gives the full ranking (tau 1, probability 1/2); one of case 0 or
    # of case 1 twice flips one of three pairs (tau 1/3, probability 1/4 each)
    wide["A"] = [0.9, 0.6]
    result = rank_stability(wide, resamples=4000, seed=0)
    assert list(result.full) == [1.0, 3.0, 2.0]
    assert set(np.round(result.tau, 9)) == {1.0, round(1 / 3, 9)}
    assert np.mean(result.tau == 1.0) == pytest.approx(0.5, abs=0.03)


def test_incomplete_cases_are_dropped():
    wide = pd.DataFrame({"A": [0.9, np.nan, 0.8], "B": [0.5, 0.6, 0.4], "C": [0.1, 0.2, 0.3]})
    assert len(rank_stability(wide, resamples=10).case_ranks) == 2


def test_vectorised_kendall_tau_equals_scipy():
    from bench.report.ranking import kendall_tau_b

    rng = np.random.default_rng(0)
    rankings = rng.integers(1, 4, size=(50, 5)).astype(float)  # many ties
    reference = np.array([1.0, 2.5, 2.5, 4.0, 5.0])
    expected = [scipy_stats.kendalltau(r, reference).statistic for r in rankings]
    np.testing.assert_allclose(kendall_tau_b(rankings, reference), expected)


def test_rank_frequencies_do_not_round_tied_ranks_to_even():
    """Two methods tied for places 2 and 3 share mean rank 2.5, and round-half-to-even put both
    at 2 (two methods at rank 2 in every resample, none at 3), while a tie at 1.5 went to 2 and
    one at 3.5 to 4. A tie shares its places: each of t tied methods counts 1/t at each."""
    wide = pd.DataFrame({"A": np.linspace(0.9, 0.95, 8), "B": np.linspace(0.8, 0.85, 8),
                         "C": np.linspace(0.8, 0.85, 8), "D": np.linspace(0.5, 0.55, 8)})
    freq = rank_stability(wide, resamples=100).rank_frequencies()
    assert freq.loc["B"].tolist() == freq.loc["C"].tolist() == [0.0, 0.5, 0.5, 0.0]
    assert freq.loc["A", 1] == freq.loc["D", 4] == 1.0
    np.testing.assert_allclose(freq.sum(axis=0), 1.0)  # every place is held once per resample
    top = rank_stability(wide.assign(B=wide.A), resamples=100).rank_frequencies()
    assert top.loc["A"].tolist() == top.loc["B"].tolist() == [0.5, 0.5, 0.0, 0.0]
