"""A verdict per comparison with the baseline, and how it was reached.

Every method is compared with the baseline on every test set: the difference is taken per case
and seed (seed *s* of the method against seed *s* of the baseline, which share the split and the
segmenter's initialisation), and its mean gets the interval of
:func:`bench.report.uncertainty.mean_interval`, valid at the seed count used. Its t test's p-values
are Holm-adjusted over the whole family (every method on every test set), and the verdict reads:

- **better** / **worse**: the adjusted p is below alpha *and* the difference is at least the
  design's minimum detectable effect (MDE). A difference smaller than the MDE is never called a
  difference, even when its p-value is small: the design could not have found it reliably.
- **equivalent**: not a difference, and the whole 95% interval lies inside ±ROPE.
- **inconclusive**: anything else; the design cannot decide.

The MDE is that of a two-sided t test at power 0.8, from the observed case and seed variance of
the differences, at alpha / m (m comparisons, the strictest step of Holm's procedure), so it is
the effect this design finds with 80% probability whatever its place in Holm's order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from bench.report.uncertainty import Interval

POWER = 0.8
VERDICTS = ("better", "worse", "equivalent", "inconclusive")


def holm(p_values) -> np.ndarray:
    """Holm-adjusted p-values; NaN (no test possible) stays NaN and is not counted in m."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    finite = np.isfinite(p)
    if finite.any():
        out[finite] = multipletests(p[finite], method="holm")[1]
    return out


def decide(difference: float, low: float, high: float, p_adjusted: float, mde: float,
           alpha: float, rope: float) -> tuple[str, str]:
    """(verdict, the reason in words), ``difference`` oriented so that positive is better."""
    if not np.isfinite(difference) or not np.isfinite(low):
        return "inconclusive", "too few cases or seeds for an interval"
    detectable = f"MDE {mde:.3g}"
    if np.isfinite(p_adjusted) and p_adjusted < alpha:
        if abs(difference) >= mde:
            word = "better" if difference > 0 else "worse"
            return word, f"Holm p {p_adjusted:.3g} < {alpha:g} and |Δ| {abs(difference):.3g} " \
                         f"≥ {detectable}"
        reason = f"Holm p {p_adjusted:.3g} < {alpha:g} but |Δ| {abs(difference):.3g} < " \
                 f"{detectable}"
    else:
        reason = f"Holm p {p_adjusted:.3g} ≥ {alpha:g}"
    if -rope <= low and high <= rope:
        return "equivalent", f"{reason}; interval [{low:.3g}, {high:.3g}] inside ±{rope:g}"
    return "inconclusive", f"{reason}; interval [{low:.3g}, {high:.3g}] not inside ±{rope:g}"


def add_verdicts(paired: pd.DataFrame, intervals: list[Interval], alpha: float, rope: float
                 ) -> pd.DataFrame:
    """Holm-adjusted p-values over every row, the MDE and the verdict of each comparison.

    ``paired`` holds one row per comparison with ``difference``, ``ci_low``, ``ci_high`` and
    ``p`` oriented so that positive is better (from ``intervals``, one per row), and the raw
    case-level ``t_test_p`` / ``wilcoxon_p``.
    """
    paired = paired.copy()
    for column in ("p", "t_test_p", "wilcoxon_p"):
        if column in paired:
            paired[f"{column}_holm"] = holm(paired[column])
    m = max(int(np.isfinite(paired.p.to_numpy(dtype=float)).sum()), 1)
    paired["mde"] = [interval.detectable(alpha / m, POWER) for interval in intervals]
    decided = [decide(r.difference, r.ci_low, r.ci_high, r.p_holm, r.mde, alpha, rope)
               for r in paired.itertuples()]
    paired["verdict"] = [v for v, _ in decided]
    paired["verdict_reason"] = [why for _, why in decided]
    paired["family"] = m
    return paired
