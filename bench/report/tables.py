"""The leaderboard's numbers: scores per seed and case, means with intervals, ranks,
statistics per test set and against the baseline."""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from bench.report import stats
from bench.report.ranking import RankStability, rank_stability
from bench.report.uncertainty import (
    bayesian_signed_rank,
    bootstrap_mean_interval,
    cliffs_delta,
    cliffs_magnitude,
)

LOWER_IS_BETTER = {"hd95"}


METHOD_COLUMNS = ["method", "method_id", "generator", "count", "strategy", "augment",
                  "segmenter"]


def seed_scores(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """(method, seed, test_set, case) → score: the mean over classes."""
    rows = table[table.metric == metric]
    return rows.groupby([*METHOD_COLUMNS, "seed", "test_set", "case"], sort=False).value \
        .mean().reset_index()


def case_scores(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """(method, test_set, case) → score: mean over classes, then over seeds."""
    per_seed = seed_scores(table, metric)
    return per_seed.groupby([*METHOD_COLUMNS, "test_set", "case"], sort=False).value.mean() \
        .reset_index()


def mean_intervals(per_seed: pd.DataFrame, resamples: int, seed: int) -> pd.DataFrame:
    """(method, test_set) → mean, 95% interval (bootstrap over cases and seeds) and sd over
    cases of the seed-averaged scores."""
    rows = []
    for (method, test_set), part in per_seed.groupby(["method", "test_set"], sort=False):
        # a stream per (method, test set): adding a method leaves the others' intervals as they were
        rng = np.random.default_rng([seed, zlib.crc32(f"{method}\0{test_set}".encode())])
        grid = part.pivot_table(index="case", columns="seed", values="value", aggfunc="mean",
                                dropna=False)
        mean, low, high = bootstrap_mean_interval(grid.to_numpy(), rng, resamples)
        sd = grid.mean(axis=1).std()
        rows.append({"method": method, "test_set": test_set, "mean": mean, "ci_low": low,
                     "ci_high": high, "sd": sd})
    return pd.DataFrame(rows).set_index(["method", "test_set"])


def leaderboard(table: pd.DataFrame, seed_scores_by_metric: dict[str, pd.DataFrame],
                primary: str, resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per method: per test set and metric the mean, its 95% interval and the sd over
    cases; the overall rank and how often bootstrap resamples of the cases keep it.

    ``seed_scores_by_metric`` holds :func:`seed_scores` per metric, the primary one included.
    """
    methods = table[[*METHOD_COLUMNS, "seed"]].drop_duplicates()
    board = methods.groupby(METHOD_COLUMNS, sort=False).seed.nunique().rename("seeds") \
        .reset_index()
    for metric, per_seed in seed_scores_by_metric.items():
        if per_seed.empty:
            continue
        summary = mean_intervals(per_seed, resamples, seed)
        for test_set in per_seed.test_set.unique():
            part = summary.xs(test_set, level="test_set")
            for stat in ("mean", "ci_low", "ci_high", "sd"):
                board[f"{test_set}:{metric}_{stat}"] = board.method.map(part[stat])
    scores = seed_mean(seed_scores_by_metric[primary])
    stability = overall_stability(scores, primary, resamples, seed)
    if stability is None:
        board.insert(0, "rank", np.nan)
    else:
        summary = stability.summary()
        board.insert(0, "rank", board.method.map(summary["mean_rank"]).round(3))
        board.insert(1, "keeps_rank", board.method.map(summary["keeps_rank"]))
        board.insert(2, "rank_range", board.method.map(
            {m: f"{r.rank_low:g}–{r.rank_high:g}" for m, r in summary.iterrows()}))
    return board.sort_values("rank", kind="stable").reset_index(drop=True)


def seed_mean(per_seed: pd.DataFrame) -> pd.DataFrame:
    return per_seed.groupby([*METHOD_COLUMNS, "test_set", "case"], sort=False).value.mean() \
        .reset_index()


def overall_wide(scores: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Blocks = every (test set, case), higher is better."""
    scores = scores.assign(block=scores.test_set + "/" + scores.case.astype(str))
    wide = stats.wide_scores(scores, "method", "block", "value")
    return -wide if metric in LOWER_IS_BETTER else wide


def overall_ranks(scores: pd.DataFrame, metric: str) -> pd.Series:
    """Mean rank over every (test set, case) block; blocks missing a method are dropped."""
    wide = overall_wide(scores, metric)
    complete, _ = stats.complete_blocks(wide)
    if complete.empty:
        return pd.Series(np.nan, index=wide.columns)
    return stats.mean_ranks(complete)


def overall_stability(scores: pd.DataFrame, metric: str, resamples: int, seed: int
                      ) -> RankStability | None:
    """The overall ranking (mean rank over every block) and its bootstrap over blocks."""
    wide = overall_wide(scores, metric)
    if stats.complete_blocks(wide)[0].empty:
        return None
    return rank_stability(wide, resamples, seed)


def test_set_statistics(scores: pd.DataFrame, metric: str, baseline: str | None, alpha: float,
                        rope: float = 0.01, resamples: int = 1000, seed: int = 0
                        ) -> dict[str, dict]:
    """Per test set of :func:`case_scores`: Friedman, Nemenyi, sign table, rank stability, and
    against the baseline paired tests, Cliff's delta and the Bayesian signed-rank test."""
    out = {}
    for test_set, part in scores.groupby("test_set", sort=False):
        wide = stats.wide_scores(part, "method", "case", "value")
        if metric in LOWER_IS_BETTER:
            wide = -wide
        result: dict = {}
        if wide.shape[1] >= 3 and len(stats.complete_blocks(wide)[0]) >= 2:
            result["friedman"] = stats.friedman(wide, alpha)
            result["nemenyi"] = stats.nemenyi(wide)
            result["signs"] = stats.sign_table(wide, result["nemenyi"], alpha)
        if wide.shape[1] >= 2 and len(stats.complete_blocks(wide)[0]) >= 1:
            result["stability"] = rank_stability(wide, resamples, seed)
        if baseline in wide.columns:
            result["paired"] = against_baseline(wide, baseline, rope, seed)
        out[str(test_set)] = result
    return out


def against_baseline(wide: pd.DataFrame, baseline: str, rope: float, seed: int
                     ) -> pd.DataFrame:
    """Paired tests, Cliff's delta and P(worse / equivalent / better) per method (higher is
    better in ``wide``, so lower-is-better metrics arrive negated and the signs still read
    "better than the baseline")."""
    table = stats.paired_tests(wide, baseline)
    extra = []
    for method in table.method:
        pair = wide[[method, baseline]].dropna()
        delta = cliffs_delta(pair[method], pair[baseline])
        row = {"cliffs_delta": delta, "effect": cliffs_magnitude(delta)}
        if len(pair):
            eq = bayesian_signed_rank(pair[method], pair[baseline], rope, seed)
            row |= {"p_worse": eq.worse, "p_equivalent": eq.equivalent, "p_better": eq.better,
                    "verdict": eq.verdict}
        extra.append(row)
    extra = pd.DataFrame(extra, columns=["cliffs_delta", "effect", "p_worse", "p_equivalent",
                                         "p_better", "verdict"])
    return pd.concat([table.reset_index(drop=True), extra], axis=1).assign(rope=rope)


def default_baseline(table: pd.DataFrame) -> str | None:
    real = table[table["count"] == 0].method.drop_duplicates()
    return real.iloc[0] if len(real) else None


def per_class(table: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """(method, test set, metric, class): mean and sd over cases of the seed-averaged scores."""
    rows = table[table.metric.isin(metrics)]
    per_case = rows.groupby(["method", "test_set", "metric", "class", "case"], sort=False) \
        .value.mean()
    return per_case.groupby(["method", "test_set", "metric", "class"], sort=False) \
        .agg(["mean", "std", "count"]).rename(columns={"std": "sd", "count": "cases"}) \
        .reset_index()
