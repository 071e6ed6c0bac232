"""Intervals over seeds and cases, Cliff's delta and the Bayesian signed-rank test against
hand-computed references and the properties their papers state."""

import numpy as np
import pytest
from scipy import stats

from bench.report.uncertainty import (
    bayesian_signed_rank,
    cliffs_delta,
    cliffs_magnitude,
    mean_interval,
)


def test_interval_of_two_cases_by_hand():
    """One seed: mean ± t(0.975, 1) · sd / √2; for {0.2, 0.6}: sd = 0.2828, SE = 0.2."""
    interval = mean_interval(np.array([0.2, 0.6]))
    half = stats.t.ppf(0.975, 1) * 0.2
    assert (interval.mean, interval.low, interval.high) == pytest.approx(
        (0.4, 0.4 - half, 0.4 + half))
    assert interval.basis == "cases only"


def test_interval_over_seeds_and_cases_by_hand():
    """2 cases × 3 seeds. MS_case = 3·Σ(case mean − grand)² / 1, MS_seed = 2·Σ(seed mean −
    grand)² / 2; SE² = (MS_case + MS_seed) / 6 with Satterthwaite's df, and never narrower than
    the t interval over the 3 seed means (df 2)."""
    values = np.array([[0.5, 0.7, 0.9], [0.6, 0.8, 1.0]])
    grand, ms_case, ms_seed = 0.75, 3 * 2 * 0.05 ** 2, 2 * (0.2 ** 2 * 2) / 2
    se = np.sqrt((ms_case + ms_seed) / 6)
    df = (ms_case + ms_seed) ** 2 / (ms_case ** 2 / 1 + ms_seed ** 2 / 2)
    half = max(stats.t.ppf(0.975, df) * se, stats.t.ppf(0.975, 2) * np.sqrt(ms_seed / 6))
    interval = mean_interval(values)
    assert (interval.mean, interval.low, interval.high) == pytest.approx(
        (grand, grand - half, grand + half))
    assert interval.basis == "seeds and cases"


def test_seeds_that_disagree_widen_the_interval():
    """Identical cases but seeds that disagree: over cases only the interval has zero width,
    over seeds and cases it does not."""
    values = np.tile([0.5, 0.7, 0.9], (6, 1))  # 6 cases x 3 seeds
    interval = mean_interval(values)
    assert interval.low < 0.5 and interval.high > 0.9
    one = mean_interval(values[:, :1])
    assert one.low == one.high == pytest.approx(0.5)


def test_interval_is_the_normal_one_for_many_cases():
    rng = np.random.default_rng(3)
    values = rng.normal(0.8, 0.05, size=400)
    interval = mean_interval(values)
    half = 1.96 * values.std(ddof=1) / np.sqrt(len(values))
    assert interval.low == pytest.approx(interval.mean - half, abs=half * 0.01)


def test_interval_leaves_a_seed_without_values_out():
    interval = mean_interval(np.array([[0.2, np.nan], [0.6, np.nan]]))
    assert interval.seeds == 1 and interval.mean == pytest.approx(0.4)
    assert interval.high - interval.low == pytest.approx(2 * stats.t.ppf(0.975, 1) * 0.2)


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
