"""How many real training cases a synthetic method is worth: a learning curve, inverted.

- **Curve.** The real-only baseline trained on n_1 < … < n_k real cases (the last one the full
  training set) has mean scores y_1 … y_k on a test set. Isotonic regression (the pool adjacent
  violators algorithm, :func:`scipy.optimize.isotonic_regression`) makes them non-decreasing in n,
  since a dip in a learning curve is noise, not a finding. The curve is the linear interpolation
  between the fitted points in log n, the scale learning curves are drawn and fitted on
  (performance grows about linearly in log n over the range a benchmark measures).
- **Inversion.** A method with mean score v is *equivalent to N real training cases*, N the
  smallest n at which the fitted curve comes within the ROPE of v (reaches v − ROPE): any
  larger n on a flat stretch would be as good an answer, so the smallest is the one the data
  support, and an answer must not move much when v moves by less than the ROPE. Where the curve
  stays within the ROPE of v from N up to the largest size (f(n_k) ≤ v + ROPE: the method
  matches the full training set) the curve is flat there at the ROPE's resolution and cannot
  say whether more real cases would do better: the answer is "≥ N (plateau)", a lower bound.
  When even the first point is above v + ROPE the answer is "< n_1", when the last is below
  v − ROPE "> n_k": the curve is never extrapolated.
- **Interval.** A two-way bootstrap like that of :mod:`bench.report.uncertainty`: resample the
  test cases and the seeds with replacement, one draw shared by every curve point and the
  method (they are scored on the same cases with the same seeds), refit, invert; the 2.5
  percentile of the N's and the 97.5 percentile of their upper ends, a resample at the plateau
  counting as open above (order statistics, so a "< n_1" or "> n_k" resample is a bound below
  or above every number, never a number).

Scores are higher-is-better here; a caller negates lower-is-better metrics (HD95) first; the
ROPE is in the metric's units (the report's ``rope``).
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


def invert(x: np.ndarray, y: np.ndarray, value: float, rope: float = 0.0) -> float:
    """The smallest size at which the curve (x, y), piecewise linear in log x, comes within
    ``rope`` of ``value`` (reaches ``value - rope``); ``-inf`` when the first point is above
    ``value + rope``, ``+inf`` when the last is below ``value - rope``, NaN for a missing
    value."""
    if not np.isfinite(value):
        return np.nan
    target = value - rope
    if y[0] > value + rope:
        return -np.inf
    reached = np.flatnonzero(y >= target)
    if not len(reached):
        return np.inf
    i = reached[0]
    if i == 0:
        return float(x[0])
    # y[i - 1] < target <= y[i], so the segment rises
    share = (target - y[i - 1]) / (y[i] - y[i - 1])
    return float(np.exp(np.log(x[i - 1]) + share * (np.log(x[i]) - np.log(x[i - 1]))))


def at_plateau(y: np.ndarray, value: float, rope: float = 0.0) -> bool:
    """Whether a finite inversion of ``value`` is only a lower bound: the curve stays within
    ``rope`` of it up to the largest size (the method matches the full training set)."""
    return bool(np.isfinite(value) and value - rope <= y[-1] <= value + rope)


@dataclass(frozen=True)
class RealEquivalent:
    """N real training cases with its 95% interval; ±inf mean outside the curve's range;
    ``plateau``: N is a lower bound (the curve is flat from N on, within the ROPE)."""

    cases: float
    low: float
    high: float
    smallest: int
    largest: int
    plateau: bool = False

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
        """``6.0``, ``<2``, ``>8``, or ``≥6.0 (plateau)``."""
        if self.plateau and np.isfinite(self.cases):
            return f"≥{self.cases:.1f} (plateau)"
        return self.describe(self.cases)

    @property
    def interval(self) -> str:
        return f"[{self.describe(self.low)}, {self.describe(self.high)}]"


def real_equivalent(sizes, curve: np.ndarray, method: np.ndarray, rng: np.random.Generator,
                    resamples: int = 1000, level: float = LEVEL, rope: float = 0.0
                    ) -> RealEquivalent:
    """A method's worth in real training cases.

    ``curve``: (points, cases, seeds) scores of the real-only baseline at ``sizes`` (one point
    per size; the largest is the full training set); ``method``: (cases, seeds) scores of the
    method on the same cases and seeds. NaN marks a missing score. ``rope``: how close to the
    method's mean the curve must come (the metric's units).
    """
    curve, method = np.asarray(curve, dtype=float), np.asarray(method, dtype=float)
    sizes = np.asarray(sizes, dtype=float)
    smallest, largest = int(sizes.min()), int(sizes.max())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-missing means are NaN
        means = np.nanmean(curve, axis=(1, 2))
        if not np.isfinite(means).all():  # a point without any score: no curve
            return RealEquivalent(np.nan, np.nan, np.nan, smallest, largest)
        x, y = monotone_curve(sizes, means)
        value = float(np.nanmean(method))
        point = invert(x, y, value, rope)
        plateau = bool(np.isfinite(point)) and at_plateau(y, value, rope)
        n, s = method.shape
        rows = rng.integers(0, n, size=(resamples, n))
        cols = rng.integers(0, s, size=(resamples, s))
        curves = np.nanmean(curve[:, rows[:, :, None], cols[:, None, :]], axis=(2, 3))
        values = np.nanmean(method[rows[:, :, None], cols[:, None, :]], axis=(1, 2))
    lows, highs = [], []
    for r in range(resamples):
        if np.isfinite(curves[:, r]).all():
            x, y = monotone_curve(sizes, curves[:, r])
            draw = invert(x, y, values[r], rope)
            if not np.isnan(draw):
                lows.append(draw)  # at the plateau a lower bound: open above
                highs.append(np.inf if np.isfinite(draw) and at_plateau(y, values[r], rope)
                             else draw)
    if not len(lows) or np.isnan(point):
        return RealEquivalent(point, np.nan, np.nan, smallest, largest, plateau)
    tail = (1 - level) / 2
    low = np.quantile(lows, tail, method="inverted_cdf")
    high = np.quantile(highs, 1 - tail, method="inverted_cdf")
    return RealEquivalent(point, float(low), float(high), smallest, largest, plateau)
