"""Bootstrap intervals, Cliff's delta and the Bayesian signed-rank test against hand-computed
references and the properties their papers state."""

import itertools

import numpy as np
import pytest

from bench.report.uncertainty import (
    bayesian_signed_rank,
    bootstrap_mean_interval,
    cliffs_delta,
    cliffs_magnitude,
)


def test_bootstrap_interval_of_two_cases_spans_them():
    """Two cases a < b: the resampled mean is a, (a+b)/2 or b with probabilities 1/4, 1/2, 1/4,
    so the 2.5% and 97.5% percentiles are exactly a and b (enumerated by hand)."""
    mean, low, high = bootstrap_mean_interval(np.array([0.2, 0.6]), np.random.default_rng(0))
    assert (mean, low, high) == pytest.approx((0.4, 0.2, 0.6))


def test_bootstrap_interval_matches_the_exact_bootstrap_distribution():
    """Three cases: all 27 equally likely resamples enumerated give the exact percentiles."""
    values = np.array([0.1, 0.5, 0.9])
    exact = np.array([values[list(i)].mean() for i in itertools.product(range(3), repeat=3)])
    _, low, high = bootstrap_mean_interval(values, np.random.default_rng(1), resamples=20000)
    # the exact distribution has atoms (0.1 has probability 1/27 > 2.5%): its quantiles are
    # the inverse of its CDF
    assert low == pytest.approx(np.percentile(exact, 2.5, method="inverted_cdf"))
    assert high == pytest.approx(np.percentile(exact, 97.5, method="inverted_cdf"))


def test_bootstrap_resamples_seeds_too():
    """Identical cases but seeds that disagree: a case-only bootstrap has zero width, the
    two-way bootstrap does not."""
    values = np.tile([0.5, 0.7, 0.9], (6, 1))  # 6 cases x 3 seeds
    _, low, high = bootstrap_mean_interval(values, np.random.default_rng(0))
    assert low < 0.65 and high > 0.75
    _, low1, high1 = bootstrap_mean_interval(values[:, :1], np.random.default_rng(0))
    assert low1 == high1 == pytest.approx(0.5)


def test_bootstrap_interval_is_near_the_normal_one_for_many_cases():
    rng = np.random.default_rng(3)
    values = rng.normal(0.8, 0.05, size=400)
    mean, low, high = bootstrap_mean_interval(values, np.random.default_rng(0), resamples=4000)
    half = 1.96 * values.std(ddof=1) / np.sqrt(len(values))
    assert low == pytest.approx(mean - half, abs=half * 0.1)
    assert high == pytest.approx(mean + half, abs=half * 0.1)


def test_bootstrap_interval_leaves_missing_values_out():
    values = np.array([[0.2, np.nan], [0.6, np.nan]])
    assert bootstrap_mean_interval(values, np.random.default_rng(0)) == pytest.approx(
        (0.4, 0.2, 0.6))


def test_cliffs_delta_by_hand():
    # pairs (x, y): of 9, x > y in 1 (3 > 2), x < y in 6, ties 2 -> (1 - 6) / 9
    assert cliffs_delta([1.0, 2.0, 3.0], [2.0, 3.0, 4.0]) == pytest.approx(-5 / 9)
    assert cliffs_delta([5, 6], [1, 2]) == 1.0 and cliffs_delta([1, 2], [1, 2]) == 0.0
    assert np.isnan(cliffs_delta([], [1.0]))


@pytest.mark.parametrize("delta, name", [(0.0, "negligible"), (0.146, "negligible"),
                                         (0.147, "small"), (-0.33, "medium"), (0.474, "large"),
                                         (np.nan, "n/a")])
def test_cliffs_magnitude_follows_romano_2006(delta, name):
    assert cliffs_magnitude(delta) == name


def test_bayesian_signed_rank_sees_a_clear_gain():
    """Benavoli et al. (2017), JMLR 18(77), Sec. 4: differences all well outside the ROPE on
    one side put the posterior mass on that side."""
    base = np.linspace(0.6, 0.8, 20)
    result = bayesian_signed_rank(base + 0.05, base, rope=0.01)
    assert result.better > 0.99 and result.verdict == "better"
    result = bayesian_signed_rank(base - 0.05, base, rope=0.01)
    assert result.worse > 0.99 and result.verdict == "worse"


def test_bayesian_signed_rank_tells_equivalence_from_no_difference():
    """Differences inside the ROPE: practically equivalent; the same differences with a ROPE
    of zero cannot be called equivalent."""
    rng = np.random.default_rng(0)
    base = rng.uniform(0.6, 0.8, 30)
    method = base + rng.uniform(-0.004, 0.004, 30)
    result = bayesian_signed_rank(method, base, rope=0.01)
    assert result.equivalent > 0.95 and result.verdict == "equivalent"
    strict = bayesian_signed_rank(method, base, rope=0.0)
    assert strict.equivalent == 0.0 and strict.verdict != "equivalent"


def test_bayesian_signed_rank_is_reproducible_from_its_seed():
    rng = np.random.default_rng(1)
    base, method = rng.uniform(size=15), rng.uniform(size=15)
    assert bayesian_signed_rank(method, base, 0.05, seed=3) == \
        bayesian_signed_rank(method, base, 0.05, seed=3)
