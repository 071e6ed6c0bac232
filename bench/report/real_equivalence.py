"""The leaderboard's real-data equivalence: learning curves from the store, and per synthetic
method "equivalent to N real training cases" (statistics in :mod:`bench.report.curve_inversion`).

A curve belongs to one (segmenter, augmentation set): its points are that segmenter's real-only
cells on fewer real cases (``train_cases`` in the store) and, as the last point, its full-size
real-only cell. A synthetic method is read off the curve of its own segmenter and augmentation
set, per test set, on the primary metric, to within the report's ROPE. The curve's cells are not
leaderboard rows: they would change every other method's rank; their means are in
``learning_curve.csv`` and the plot.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from bench.report.curve_inversion import monotone_curve, real_equivalent
from bench.report.markup import md
from bench.report.uncertainty import mean_interval

CURVE = ["segmenter", "augment", "strategy"]  # one curve each
EQUIV_COLUMNS = ["real_equiv", "real_equiv_ci_low", "real_equiv_ci_high"]


def split_curve(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the leaderboard's rows, the learning curve's extra cells' rows) of the store's table."""
    extra = table.train_cases.notna()
    return table[~extra].drop(columns="train_cases"), table[extra]


def _per_seed(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """(method, seed, test set, case) → mean over classes, with the method's columns."""
    rows = rows[rows.metric == metric]
    keys = ["method", "count", *CURVE, "train_cases", "seed", "test_set", "case"]
    return rows.groupby(keys, sort=False, dropna=False).value.mean().reset_index()


def _grid(part: pd.DataFrame, cases: list, seeds: list) -> np.ndarray:
    return part.pivot_table(index="case", columns="seed", values="value", aggfunc="mean",
                            dropna=False).reindex(index=cases, columns=seeds).to_numpy()


def equivalence(table: pd.DataFrame, metric: str, full_size: int | None, lower_is_better: bool,
                resamples: int = 1000, seed: int = 0, *, rope: float
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(curve points, per synthetic method and test set its worth in real training cases).

    ``table`` is the store's whole table (curve cells included); ``full_size`` the number of real
    training cases of the full-size cells (None: a store without it, no last point); ``rope``
    how close (in ``metric``'s units) the curve must come to a method's mean."""
    per_seed = _per_seed(table, metric)
    sign = -1.0 if lower_is_better else 1.0
    curve_rows = per_seed[per_seed.train_cases.notna()]
    points, methods = [], []
    for key, curve in curve_rows.groupby(CURVE, sort=False):
        own = (per_seed[CURVE] == pd.Series(key, index=CURVE)).all(axis=1)
        full = per_seed[own & (per_seed["count"] == 0) & per_seed.train_cases.isna()]
        if full_size is not None and len(full):
            curve = pd.concat([curve, full.assign(train_cases=full_size)])
        synthetic = per_seed[(per_seed[CURVE[:2]] == pd.Series(key[:2], index=CURVE[:2]))
                             .all(axis=1) & (per_seed["count"] > 0)]
        for test_set in curve.test_set.unique():
            on_test = curve[curve.test_set == test_set]
            mine = synthetic[synthetic.test_set == test_set]
            cases = sorted(set(on_test.case) | set(mine.case), key=str)
            seeds = sorted(set(on_test.seed) | set(mine.seed))
            sizes = sorted(on_test.train_cases.unique())
            grids = np.stack([_grid(on_test[on_test.train_cases == n], cases, seeds)
                              for n in sizes])
            points += _points(key, test_set, sizes, grids, sign)
            for method, scores in mine.groupby("method", sort=False):
                rng = np.random.default_rng([seed, zlib.crc32(f"{method}\0{test_set}".encode())])
                result = real_equivalent(sizes, sign * grids, sign * _grid(scores, cases, seeds),
                                         rng, resamples, rope=rope)
                methods.append({"method": method, "test_set": test_set,
                                "mean": float(np.nanmean(scores.value)),
                                "real_equiv": result.text,
                                "real_equiv_ci_low": result.describe(result.low),
                                "real_equiv_ci_high": result.describe(result.high),
                                "cases": result.cases, "plateau": result.plateau,
                                "segmenter": key[0], "strategy": key[2]})
    return pd.DataFrame(points), pd.DataFrame(methods)


def _points(key: tuple, test_set: str, sizes: list, grids: np.ndarray, sign: float
            ) -> list[dict]:
    """The curve's points on one test set: observed mean with its 95% interval over seeds and
    cases (:func:`bench.report.uncertainty.mean_interval`), and the fit."""
    rows = []
    means = np.array([np.nanmean(g) for g in grids])
    fitted = sign * monotone_curve(sizes, sign * means)[1] if np.isfinite(means).all() \
        else np.full(len(sizes), np.nan)
    for size, grid, value in zip(sizes, grids, fitted, strict=True):
        interval = mean_interval(grid)
        mean, low, high = interval.mean, interval.low, interval.high
        rows.append({"segmenter": key[0], "augment": key[1], "strategy": key[2],
                     "test_set": test_set, "train_cases": int(size), "mean": mean,
                     "ci_low": low, "ci_high": high, "fitted": value})
    return rows


def add_real_equivalence(board: pd.DataFrame, methods: pd.DataFrame) -> pd.DataFrame:
    """``<test set>:real_equiv`` and its interval bounds (text: ``6.0``, ``<2``, ``>8``,
    ``≥6.0 (plateau)``)."""
    board = board.copy()
    for test_set, part in methods.groupby("test_set", sort=False) if len(methods) else ():
        part = part.set_index("method")
        for column in EQUIV_COLUMNS:
            board[f"{test_set}:{column}"] = board.method.map(part[column])
    return board


def equivalence_text(row: pd.Series, column: str) -> str:
    """``6.0 [4.1, 7.9]`` of a ``<test set>:real_equiv`` board column; ``–`` without one."""
    value = row[column]
    if not isinstance(value, str):
        return "–"
    return f"{value} [{row[column + '_ci_low']}, {row[column + '_ci_high']}]"


def sort_value(text) -> float | None:
    """A number that sorts ``<2`` below 2, ``≥6.0 (plateau)`` just above 6 and ``>8`` above 8."""
    if not isinstance(text, str):
        return None
    text = text.split(" ")[0]
    if text[0] in "<>≥":
        return float(text[1:]) + {">": 0.5, "<": -0.5, "≥": 0.25}[text[0]]
    return float(text)


def equivalence_markdown(points: pd.DataFrame, metric: str) -> list[str]:
    if points.empty:
        return []
    lines = ["", "## Real-data equivalence", "",
             f"*Real cases ≈* says how many real training cases the real-only baseline of the "
             f"same segmenter needs to come within the ROPE of a synthetic method's mean "
             f"{md(metric)}: the baseline's learning curve (below; the last point is the full "
             "training set) is made monotone by isotonic regression and inverted by linear "
             "interpolation in log n, taking the smallest n within the ROPE. ≥n (plateau): the "
             "curve stays within the ROPE of the method from n up to the full training set, so "
             "n is a lower bound. <n and >n lie outside the curve, which is never extrapolated. "
             "Intervals: 95% bootstrap over test cases and seeds, refitting the curve each time; "
             "a resample at the plateau leaves the upper end open.", "",
             "| segmenter · strategy | test set | real cases | mean [95% interval] | fitted |",
             "|---|---|---|---|---|"]
    for r in points.itertuples(index=False):
        lines.append(f"| {md(r.segmenter)} · {md(r.strategy)} | {md(r.test_set)} | "
                     f"{r.train_cases} | {r.mean:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}] | "
                     f"{r.fitted:.3f} |")
    return lines
