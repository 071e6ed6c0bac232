"""How sure a leaderboard number is: intervals, effect sizes, Bayesian equivalence.

- **Intervals.** A method's mean over a test set comes from a (cases × seeds) table, and seeds are
  the top level of the design: each refits the generator, resamples and reinitialises the
  segmenter, and there are only a few of them. A bootstrap that resamples 3 observed seeds as if
  they were many covers ~77% where it claims 95%. :func:`mean_interval` instead treats cases and
  seeds as crossed random effects: the variance of the grand mean is estimated from the two-way
  ANOVA mean squares, (MS_seed + MS_case) / (cases · seeds), and the interval is a t
  interval with Satterthwaite's degrees of freedom, so with 3 seeds and a large seed effect it
  has close to 2 degrees of freedom and is as wide as that demands. With one seed it is the t
  interval over cases, and says so: it cannot speak about refits.
- **Effect size.** Cliff's delta (Cliff 1993): P(method > baseline) − P(method < baseline) over
  every pair of a method's and the baseline's per-case scores, in [−1, 1]; magnitudes after Romano
  et al. (2006): |δ| < 0.147 negligible, < 0.33 small, < 0.474 medium, else large. It needs no
  normality, which per-case Dice rarely has.
- **Equivalence.** The Bayesian signed-rank test (Benavoli et al. 2014, 2017, via ``baycomp``) with
  a region of practical equivalence (ROPE): P(worse), P(equivalent), P(better) than the baseline,
  each the posterior probability that its region is the most probable one (baycomp's ``probs``).
  "No significant difference" says the data cannot tell; P(equivalent) high says they are the same
  for practical purposes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

LEVEL = 0.95
SEEDS_AND_CASES = "seeds and cases"
CASES_ONLY = "cases only"


@dataclass(frozen=True)
class Interval:
    """A mean with its interval and what the interval is over (``seeds and cases``, or ``cases
    only`` with one seed). ``errors`` are the (standard error, degrees of freedom) pairs of the
    t intervals it is the widest of; tests and the detectable effect follow the same rule, so a
    test rejects exactly when the matching interval leaves out zero."""

    mean: float
    low: float
    high: float
    basis: str
    cases: int
    seeds: int
    errors: tuple[tuple[float, float], ...] = ()

    @property
    def se(self) -> float:
        """The standard error of the mean (of the first, two-factor, term)."""
        return self.errors[0][0] if self.errors else np.nan

    @property
    def df(self) -> float:
        return self.errors[0][1] if self.errors else np.nan

    def t_test(self) -> float:
        """Two-sided p-value of mean = 0 (for a table of paired differences)."""
        if not self.errors or not np.isfinite(self.mean):
            return np.nan
        return max(_p_value(self.mean, se, df) for se, df in self.errors)

    def detectable(self, alpha: float, power: float = 0.8) -> float:
        """The minimum detectable effect: the smallest true mean that this design's two-sided
        t test at ``alpha`` finds with probability ``power``, taking the observed SE for the
        true one (noncentral t, so a test with 2 degrees of freedom gets the wide MDE it has)."""
        if not self.errors or not all(np.isfinite(df) or se == 0 for se, df in self.errors):
            return np.nan
        return max(0.0 if se == 0 else _noncentrality(df, alpha, power) * se
                   for se, df in self.errors)


def _noncentrality(df: float, alpha: float, power: float) -> float:
    """The noncentrality at which a two-sided t test (``df`` degrees of freedom) rejects at
    ``alpha`` with probability ``power``."""
    critical = stats.t.ppf(1 - alpha / 2, df)

    def shortfall(delta: float) -> float:
        wrong_side = np.nan_to_num(stats.nct.cdf(-critical, df, delta))  # NaN where ~1e-16
        return stats.nct.sf(critical, df, delta) + wrong_side - power

    high = critical + 1.0
    while shortfall(high) < 0:  # power rises with the noncentrality: widen until it is reached
        high *= 2
    return float(optimize.brentq(shortfall, 0.0, high))


def _p_value(mean: float, se: float, df: float) -> float:
    if se == 0:
        return 1.0 if mean == 0 else 0.0
    return float(2 * stats.t.sf(abs(mean) / se, df))


def mean_interval(values: np.ndarray, level: float = LEVEL) -> Interval:
    """The mean of a (cases × seeds) table and its interval, valid at small seed counts.

    Seeds without any value are left out; the variance comes from the cases that have a value in
    every remaining seed (the mean from every value).
    """
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    values = values[:, np.isfinite(values).any(axis=0)]
    mean = float(np.nanmean(values)) if np.isfinite(values).any() else np.nan
    grid = values[np.isfinite(values).all(axis=1)]
    n, s = grid.shape
    basis = SEEDS_AND_CASES if s >= 2 else CASES_ONLY
    if n < 2:
        return Interval(mean, np.nan, np.nan, basis, n, s)
    errors = ((float(np.sqrt(grid[:, 0].var(ddof=1) / n)), n - 1.0),) if s == 1 \
        else _crossed_errors(grid)
    half = max(0.0 if se == 0 else float(stats.t.ppf(0.5 + level / 2, df)) * se
               for se, df in errors)
    return Interval(mean, mean - half, mean + half, basis, n, s, errors)


def _crossed_errors(grid: np.ndarray) -> tuple[tuple[float, float], ...]:
    """The (SE, df) pairs of the grand mean of a complete cases × seeds table with crossed
    random effects.

    Var(grand mean) = σ²_seed / seeds + σ²_case / cases + σ²_error / (cases · seeds), estimated by
    (MS_seed + MS_case) / (cases · seeds) (larger than the unbiased estimate by
    σ²_error / (cases · seeds)) with Satterthwaite's degrees of freedom. At 3 seeds that alone is
    liberal (92% coverage of a nominal 95% with a large seed effect: when the seed term happens
    to come out small, the estimated degrees of freedom rise too), so the second pair is the t
    interval over the seed means, exact for the seed term, and the interval is the wider of the
    two."""
    n, s = grid.shape
    grand = grid.mean()
    ms_case = s * np.sum((grid.mean(axis=1) - grand) ** 2) / (n - 1)
    ms_seed = n * np.sum((grid.mean(axis=0) - grand) ** 2) / (s - 1)
    combined = ms_seed + ms_case
    if combined <= 0:
        return ((0.0, np.nan),)
    df = combined ** 2 / (ms_seed ** 2 / (s - 1) + ms_case ** 2 / (n - 1))
    return ((float(np.sqrt(combined / (n * s))), float(df)),
            (float(np.sqrt(ms_seed / (n * s))), s - 1.0))


def cliffs_delta(method: np.ndarray, baseline: np.ndarray) -> float:
    """P(x > y) − P(x < y) over all pairs; NaN when either side is empty."""
    x = np.asarray(method, dtype=float)
    y = np.asarray(baseline, dtype=float)
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    if not len(x) or not len(y):
        return np.nan
    return float(np.sign(x[:, None] - y[None, :]).mean())


def cliffs_magnitude(delta: float) -> str:
    """Romano et al. (2006) thresholds."""
    if not np.isfinite(delta):
        return "n/a"
    size = abs(delta)
    for bound, name in ((0.147, "negligible"), (0.33, "small"), (0.474, "medium")):
        if size < bound:
            return name
    return "large"


@dataclass(frozen=True)
class Equivalence:
    worse: float
    equivalent: float
    better: float

    @property
    def verdict(self) -> str:
        """The most probable of the three, when it has at least 95% of the posterior."""
        probs = {"worse": self.worse, "equivalent": self.equivalent, "better": self.better}
        best = max(probs, key=probs.get)
        return best if probs[best] >= 0.95 else "undecided"


def bayesian_signed_rank(method: np.ndarray, baseline: np.ndarray, rope: float, seed: int = 0,
                         samples: int = 5000) -> Equivalence:
    """Posterior probabilities that ``method`` is worse than, equivalent to (|difference| within
    ``rope``) or better than ``baseline``, paired by case (higher is better)."""
    from baycomp import SignedRankTest
    from baycomp.multiple import Posterior

    x = np.asarray(baseline, dtype=float)
    y = np.asarray(method, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    # baycomp works on y - x: "left" is x (the baseline) better, "right" is y (the method) better
    posterior = SignedRankTest.sample(x[keep], y[keep], rope, nsamples=samples,
                                      random_state=seed)
    if rope > 0:
        worse, equivalent, better = Posterior(posterior).probs(with_rope=True)
    else:  # without a ROPE baycomp samples only the two sides
        worse, better = Posterior(posterior).probs(with_rope=False)
        equivalent = 0.0
    return Equivalence(float(worse), float(equivalent), float(better))
