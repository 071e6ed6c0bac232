"""Does fidelity predict utility? Spearman's ρ between each fidelity metric of a sample set and
the segmentation gain it gave, one ρ per strategy.

A fidelity value belongs to a *sample set*, a generator at a count: every method trained on it
shares it. A point is therefore one sample set, and the methods that differ in what was done
with the samples (strategy, augmentation, segmenter; together the ``strategy`` and
``segmenter`` columns) are not pooled: each such *arm* gets its own ρ over its sample sets, with
x the fidelity metric of the (generator, count) and y the mean primary-metric gain over the
baseline on one test set. Pooling two strategies would put every x in twice, with nearly the
same y (the two methods share their samples), and ρ's p-value would fall below 0.05 in about a
quarter of runs where fidelity says nothing (``tests/report/test_correlation.py`` simulates it).

ρ is rank-based, so it asks only "did better-scoring sample sets help more", and its 95% interval
is a percentile bootstrap over the sample sets (resamples in which one side is constant have no ρ
and are left out; ``scipy.stats.bootstrap`` would make the whole interval NaN). FID-like metrics
are lower-is-better: a useful one shows a *negative* ρ.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

REFERENCE_SUFFIXES = ("_floor", "_real")
SAMPLE_SET = ["generator", "count"]  # what a fidelity value belongs to
ARM = ["strategy", "segmenter"]  # one ρ each (the strategy key names its augmentation)
COLUMNS = ["metric", "test_set", *ARM, "points", "spearman", "p_value", "ci_low", "ci_high"]


def spearman_interval(x, y, resamples: int = 1000, seed: int = 0, level: float = 0.95
                      ) -> tuple[float, float, float, float]:
    """(ρ, p-value, low, high); the interval is NaN below 4 points or when undefined."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return np.nan, np.nan, np.nan, np.nan
    result = stats.spearmanr(x, y)
    low = high = np.nan
    if len(x) >= 4 and resamples > 0:
        picks = np.random.default_rng(seed).integers(0, len(x), size=(resamples, len(x)))
        boot = _row_spearman(x[picks], y[picks])
        tail = (1 - level) / 2 * 100
        low, high = np.nanpercentile(boot, [tail, 100 - tail])
    return float(result.statistic), float(result.pvalue), float(low), float(high)


def _row_spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's ρ of each row pair (``scipy.stats.spearmanr`` per row: Pearson's r of the
    average ranks), vectorised over a bootstrap's rows; NaN where a row is constant."""
    rx, ry = (stats.rankdata(v, axis=1) for v in (x, y))
    rx, ry = rx - rx.mean(axis=1, keepdims=True), ry - ry.mean(axis=1, keepdims=True)
    denominator = np.sqrt((rx ** 2).sum(axis=1) * (ry ** 2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (rx * ry).sum(axis=1) / denominator, np.nan)


def utility_points(board: pd.DataFrame, primary: str, baseline: str | None) -> pd.DataFrame:
    """One row per (synthetic method, test set): its sample set and arm, its gain over the
    baseline and every ``fidelity:`` metric of its sample set (not the real data's reference
    values)."""
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
                     **{c: row[c] for c in SAMPLE_SET + ARM}, "gain": row[column] - base[column]}
            point |= {c.split(":", 1)[1]: pd.to_numeric(row[c], errors="coerce")
                      for c in fidelity}
            rows.append(point)
    return pd.DataFrame(rows)


def fidelity_utility(points: pd.DataFrame, resamples: int = 1000, seed: int = 0
                     ) -> pd.DataFrame:
    """Per (fidelity metric, test set, strategy, segmenter): the number of sample sets, ρ, its
    p-value and 95% bootstrap interval over the sample sets."""
    if points.empty:
        return pd.DataFrame(columns=COLUMNS)
    keys = {"method", "test_set", "gain", *SAMPLE_SET, *ARM}
    metrics = [c for c in points.columns if c not in keys]
    rows = []
    for metric in metrics:
        for (test_set, *arm), part in points.groupby(["test_set", *ARM], sort=False, dropna=False):
            part = part.dropna(subset=[metric, "gain"])
            # one point per sample set; within an arm a sample set is one method, so the mean
            # only guards against a board that lists it twice
            sets = part.groupby(SAMPLE_SET, sort=False)[[metric, "gain"]].mean()
            rho, p, low, high = spearman_interval(sets[metric], sets.gain, resamples, seed)
            rows.append({"metric": metric, "test_set": test_set, **dict(zip(ARM, arm, strict=True)),
                         "points": len(sets), "spearman": rho, "p_value": p, "ci_low": low,
                         "ci_high": high})
    return pd.DataFrame(rows, columns=COLUMNS)
