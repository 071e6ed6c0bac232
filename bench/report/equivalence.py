"""How many real training cases a synthetic method is worth: a learning curve, inverted.

- **Curve.** The real-only baseline trained on n_1 < … < n_k real cases (the last one the full
  training set) has mean scores y_1 … y_k on a test set. Isotonic regression (the pool adjacent
  violators algorithm, :func:`scipy.optimize.isotonic_regression`) makes them non-decreasing in n,
  since a dip in a learning curve is noise, not a finding. The curve is the linear interpolation
  between the fitted points.
- **Inversion.** A method with mean score v is *equivalent to N real training cases* where the
  curve reaches v: on a flat stretch, the fewest cases that reach it. Below the first point the
  answer is "< n_1", above the last "> n_k": the curve is never extrapolated.
- **Interval.** A two-way bootstrap like that of :mod:`bench.report.uncertainty`: resample the
  test cases and the seeds with replacement, one draw shared by every curve point and the
  method (they are scored on the same cases with the same seeds), refit, invert; the 2.5 and
  97.5 percentiles of the N's (order statistics, so a "< n_1" or "> n_k" resample is a bound
  below or above every number, never a number).

Scores are higher-is-better here; a caller negates lower-is-better metrics (HD95) first.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import isotonic_regression

from bench.report.uncertainty import LEVEL


def monotone_curve(sizes, scores) -> tuple[np.ndarray, np.ndarray]:
    """(unique sizes ascending, fitted non-decreasing scores); points at one size are averaged
    (weighted by how many there are) before the fit."""
    sizes, scores = np.asarray(sizes, dtype=float), np.asarray(scores, dtype=float)
    x, index, counts = np.unique(sizes, return_inverse=True, return_counts=True)
    means = np.bincount(index, weights=scores) / counts
    return x, isotonic_regression(means, weights=counts).x


def invert(x: np.ndarray, y: np.ndarray, value: float) -> float:
    """The smallest size at which the piecewise-linear curve (x, y) reaches ``value``; ``-inf``
    below the first point, ``+inf`` above the last, NaN for a missing value."""
    if not np.isfinite(value):
        return np.nan
    reached = np.flatnonzero(y >= value)
    if not len(reached):
        return np.inf
    i = reached[0]
    if i == 0:
        return float(x[0]) if value == y[0] else -np.inf
    # y[i - 1] < value <= y[i], so the segment rises
    return float(x[i - 1] + (value - y[i - 1]) / (y[i] - y[i - 1]) * (x[i] - x[i - 1]))


@dataclass(frozen=True)
class RealEquivalent:
    """N real training cases with its 95% interval; ±inf mean outside the curve's range."""

    cases: float
    low: float
    high: float
    smallest: int
    largest: int

    def describe(self, value: float) -> str:
        """``6.0``, ``<2`` or ``>8``; ``–`` when there is no value."""
        if np.isnan(value):
            return "–"
        if value == -np.inf:
            return f"<{self.smallest}"
        if value == np.inf:
            return f">{self.largest}"
        return f"{value:.1f}"

    @property
    def text(self) -> str:
        return self.describe(self.cases)

    @property
    def interval(self) -> str:
        return f"[{self.describe(self.low)}, {self.describe(self.high)}]"


def real_equivalent(sizes, curve: np.ndarray, method: np.ndarray, rng: np.random.Generator,
                    resamples: int = 1000, level: float = LEVEL) -> RealEquivalent:
    """A method's worth in real training cases.

    ``curve``: (points, cases, seeds) scores of the real-only baseline at ``sizes`` (one point
    per size; the largest is the full training set); ``method``: (cases, seeds) scores of the
    method on the same cases and seeds. NaN marks a missing score.
    """
    curve, method = np.asarray(curve, dtype=float), np.asarray(method, dtype=float)
    sizes = np.asarray(sizes, dtype=float)
    smallest, largest = int(sizes.min()), int(sizes.max())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-missing means are NaN
        means = np.nanmean(curve, axis=(1, 2))
        if not np.isfinite(means).all():  # a point without any score: no curve
            return RealEquivalent(np.nan, np.nan, np.nan, smallest, largest)
        point = invert(*monotone_curve(sizes, means), float(np.nanmean(method)))
        n, s = method.shape
        rows = rng.integers(0, n, size=(resamples, n))
        cols = rng.integers(0, s, size=(resamples, s))
        curves = np.nanmean(curve[:, rows[:, :, None], cols[:, None, :]], axis=(2, 3))
        values = np.nanmean(method[rows[:, :, None], cols[:, None, :]], axis=(1, 2))
    draws = []
    for r in range(resamples):
        if np.isfinite(curves[:, r]).all():
            draws.append(invert(*monotone_curve(sizes, curves[:, r]), values[r]))
    draws = np.asarray([d for d in draws if not np.isnan(d)])
    if not len(draws) or np.isnan(point):
        return RealEquivalent(point, np.nan, np.nan, smallest, largest)
    tail = (1 - level) / 2
    low, high = np.quantile(draws, [tail, 1 - tail], method="inverted_cdf")
    return RealEquivalent(point, float(low), float(high), smallest, largest)
