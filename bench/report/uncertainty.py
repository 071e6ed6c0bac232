"""How sure a leaderboard number is: bootstrap intervals, effect sizes, Bayesian equivalence.

- **Intervals.** A method's mean over a test set comes from a (cases × seeds) table. The interval
  resamples cases *and* seeds with replacement, independently (a two-way bootstrap), and takes the
  2.5 and 97.5 percentiles of the resampled means: it widens when seeds disagree as well as when
  cases do. With one seed it is the ordinary percentile bootstrap over cases.
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

import warnings
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95


def bootstrap_mean_interval(values: np.ndarray, rng: np.random.Generator,
                            resamples: int = 1000, level: float = LEVEL
                            ) -> tuple[float, float, float]:
    """(mean, low, high) of a (cases × seeds) table; missing values (NaN) are left out."""
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    n, s = values.shape
    mean = float(np.nanmean(values)) if np.isfinite(values).any() else np.nan
    if n == 0 or not np.isfinite(mean):
        return mean, np.nan, np.nan
    rows = rng.integers(0, n, size=(resamples, n))
    cols = rng.integers(0, s, size=(resamples, s))
    resampled = values[rows[:, :, None], cols[:, None, :]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample of missing values only
        means = np.nanmean(resampled.reshape(resamples, -1), axis=1)
    means = means[np.isfinite(means)]
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return mean, float(low), float(high)


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
