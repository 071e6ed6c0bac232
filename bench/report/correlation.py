"""Does fidelity predict utility? Spearman's ρ between each fidelity metric of a sample set and
the segmentation gain it gave, across every synthetic method of a run.

A point is one synthetic method (a generator at a count, with a strategy and a segmenter): x is
the fidelity metric of its (generator, count), y its mean primary-metric gain over the baseline on
one test set. ρ is rank-based, so it asks only "did better-scoring sample sets help more", and
its 95% interval is a percentile bootstrap over the points (resamples in which one side is
constant have no ρ and are left out; ``scipy.stats.bootstrap`` would make the whole interval NaN).
FID-like metrics are lower-is-better: a useful one shows a *negative* ρ.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

REFERENCE_SUFFIXES = ("_floor", "_real")


def spearman_interval(x, y, resamples: int = 1000, seed: int = 0, level: float = 0.95
                      ) -> tuple[float, float, float, float]:
    """(ρ, p-value, low, high); the interval is NaN below 4 points or when undefined."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return np.nan, np.nan, np.nan, np.nan
    result = stats.spearmanr(x, y)
    low = high = np.nan
    if len(x) >= 4:
        picks = np.random.default_rng(seed).integers(0, len(x), size=(resamples, len(x)))
        with warnings.catch_warnings():  # a resample with one side constant has no ρ
            warnings.simplefilter("ignore")
            boot = np.array([stats.spearmanr(x[i], y[i]).statistic for i in picks])
        tail = (1 - level) / 2 * 100
        low, high = np.nanpercentile(boot, [tail, 100 - tail])
    return float(result.statistic), float(result.pvalue), float(low), float(high)


def utility_points(board: pd.DataFrame, primary: str, baseline: str | None) -> pd.DataFrame:
    """One row per (synthetic method, test set): its gain over the baseline and every
    ``fidelity:`` metric of its sample set (not the real data's reference values)."""
    if baseline is None or baseline not in set(board.method):
        return pd.DataFrame()
    base = board.set_index("method").loc[baseline]
    # floors and real-vs-real values describe the real data, not the sample set: a ρ with them
    # would only say which generators were measured on which views
    fidelity = [c for c in board.columns if c.startswith("fidelity:")
                and not c.endswith(REFERENCE_SUFFIXES)]
    rows = []
    for column in [c for c in board.columns if c.endswith(f":{primary}_mean")]:
        test_set = column[: -len(f":{primary}_mean")]
        for _, row in board[board["count"] > 0].iterrows():
            point = {"method": row.method, "test_set": test_set,
                     "gain": row[column] - base[column]}
            point |= {c.split(":", 1)[1]: pd.to_numeric(row[c], errors="coerce")
                      for c in fidelity}
            rows.append(point)
    return pd.DataFrame(rows)


def fidelity_utility(points: pd.DataFrame, resamples: int = 1000, seed: int = 0
                     ) -> pd.DataFrame:
    """Per (fidelity metric, test set): points, ρ, its p-value and 95% bootstrap interval."""
    rows = []
    if points.empty:
        return pd.DataFrame(columns=["metric", "test_set", "points", "spearman", "p_value",
                                     "ci_low", "ci_high"])
    metrics = [c for c in points.columns if c not in ("method", "test_set", "gain")]
    for metric in metrics:
        for test_set, part in points.groupby("test_set", sort=False):
            part = part[[metric, "gain"]].dropna()
            rho, p, low, high = spearman_interval(part[metric], part.gain, resamples, seed)
            rows.append({"metric": metric, "test_set": test_set, "points": len(part),
                         "spearman": rho, "p_value": p, "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows)
