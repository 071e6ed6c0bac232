"""The leaderboard's numbers: scores per seed and case, means with intervals, ranks,
statistics per test set and verdicts against the baseline.

HD95 arrives with a worst-case distance where a structure was missed or invented (see
:mod:`metrics.segmentation`) and NaN where it is absent from both masks; the class mean leaves
out only the latter, and every table counts both (``hd95_penalised``, ``hd95_excluded``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.fidelity.catalogue import SPECS as FIDELITY
from bench.report import stats
from bench.report.ranking import RankStability, rank_stability
from bench.report.uncertainty import (
    CASES_ONLY,
    SEEDS_AND_CASES,
    Interval,
    bayesian_signed_rank,
    cliffs_delta,
    cliffs_magnitude,
    mean_interval,
)
from bench.report.verdicts import add_verdicts
from metrics.segmentation import SPECS as SEGMENTATION
from metrics.spec import MetricSpec, unknown


def spec_of(metric: str) -> MetricSpec:
    """The metric's spec: a segmentation or fidelity metric's own, else one without a
    direction (a third party's metric is never assumed to be higher-is-better)."""
    return SEGMENTATION.get(metric) or FIDELITY.get(metric) or unknown(metric)


def _sign(metric: str) -> float:
    """Scores are ranked higher-is-better: a lower-is-better metric is negated."""
    return -1.0 if spec_of(metric).lower_is_better else 1.0

PENALTY_SUFFIX = "_penalised"  # companion rows that flag worst-case values: counts, not scores


def scored(metrics) -> list[str]:
    """The metrics that are scores (not the companion rows that count penalised values)."""
    return [m for m in metrics if not str(m).endswith(PENALTY_SUFFIX)]


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


def mean_intervals(per_seed: pd.DataFrame) -> pd.DataFrame:
    """(method, test_set) → mean, 95% interval over seeds and cases (over cases only with one
    seed: the board's ``interval`` column says which) and sd over cases of the seed-averaged
    scores."""
    rows = []
    for (method, test_set), part in per_seed.groupby(["method", "test_set"], sort=False):
        grid = _grid(part)
        interval = mean_interval(grid.to_numpy())
        rows.append({"method": method, "test_set": test_set, "mean": interval.mean,
                     "ci_low": interval.low, "ci_high": interval.high,
                     "sd": grid.mean(axis=1).std()})
    return pd.DataFrame(rows).set_index(["method", "test_set"])


def _grid(part: pd.DataFrame) -> pd.DataFrame:
    """case × seed scores of one method on one test set."""
    return part.pivot_table(index="case", columns="seed", values="value", aggfunc="mean",
                            dropna=False)


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
        summary = mean_intervals(per_seed)
        for test_set in per_seed.test_set.unique():
            part = summary.xs(test_set, level="test_set")
            for stat in ("mean", "ci_low", "ci_high", "sd"):
                board[f"{test_set}:{metric}_{stat}"] = board.method.map(part[stat])
    board.insert(board.columns.get_loc("seeds") + 1, "interval", [
        CASES_ONLY if s < 2 else SEEDS_AND_CASES for s in board.seeds])
    board = _add_distance_counts(board, table)
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


def _add_distance_counts(board: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Per test set, how many HD95 values were penalised (a worst-case distance) and how many
    excluded (the structure absent from both masks); penalised is NaN for a store written
    before penalties were recorded."""
    hd95 = table[table.metric == "hd95"]
    if hd95.empty:
        return board
    flags = table[table.metric == "hd95" + PENALTY_SUFFIX]
    for test_set in hd95.test_set.unique():
        part = hd95[hd95.test_set == test_set]
        excluded = part.value.isna().groupby(part.method).sum()
        board[f"{test_set}:hd95_excluded"] = board.method.map(excluded)
        penalised = flags[flags.test_set == test_set].groupby("method").value.sum()
        board[f"{test_set}:hd95_penalised"] = board.method.map(penalised)
    return board


def seed_mean(per_seed: pd.DataFrame) -> pd.DataFrame:
    return per_seed.groupby([*METHOD_COLUMNS, "test_set", "case"], sort=False).value.mean() \
        .reset_index()


def overall_wide(scores: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Blocks = every (test set, case), higher is better."""
    scores = scores.assign(block=scores.test_set + "/" + scores.case.astype(str))
    wide = stats.wide_scores(scores, "method", "block", "value")
    return wide * _sign(metric)


def overall_stability(scores: pd.DataFrame, metric: str, resamples: int, seed: int
                      ) -> RankStability | None:
    """The overall ranking (mean rank over every block) and its bootstrap over blocks."""
    wide = overall_wide(scores, metric)
    if stats.complete_blocks(wide)[0].empty:
        return None
    return rank_stability(wide, resamples, seed)


def test_set_statistics(per_seed: pd.DataFrame, metric: str, baseline: str | None,
                        alpha: float, rope: float = 0.01, resamples: int = 1000, seed: int = 0
                        ) -> dict[str, dict]:
    """Per test set of :func:`seed_scores`: Friedman, Nemenyi, sign table and rank stability
    over the seed-averaged case scores, and against the baseline the verdicts of
    :mod:`bench.report.verdicts` (Holm over every method and test set), paired tests, Cliff's
    delta and the Bayesian signed-rank test."""
    sign = _sign(metric)
    scores = seed_mean(per_seed)
    out = {}
    for test_set, part in scores.groupby("test_set", sort=False):
        wide = stats.wide_scores(part, "method", "case", "value") * sign
        result: dict = {}
        if wide.shape[1] >= 3 and len(stats.complete_blocks(wide)[0]) >= 2:
            result["friedman"] = stats.friedman(wide, alpha)
            result["nemenyi"] = stats.nemenyi(wide)
            result["signs"] = stats.sign_table(wide, result["nemenyi"], alpha)
        if wide.shape[1] >= 2 and len(stats.complete_blocks(wide)[0]) >= 1:
            result["stability"] = rank_stability(wide, resamples, seed)
        if baseline in wide.columns:
            seeds = per_seed[per_seed.test_set == test_set]
            result["paired"] = against_baseline(wide, seeds, baseline, rope, seed, sign)
        out[str(test_set)] = result
    _decide(out, alpha, rope, sign)
    return out


INTERVAL = "_interval"  # the Interval object of a comparison, until its verdict is reached


def _decide(per_test: dict[str, dict], alpha: float, rope: float, sign: float) -> None:
    """Verdicts with Holm's adjustment over the whole family: every method on every test set."""
    parts = [(name, r["paired"]) for name, r in per_test.items() if "paired" in r]
    if not parts:
        return
    joined = pd.concat([p.assign(test_set=n) for n, p in parts], ignore_index=True)
    family = add_verdicts(joined.drop(columns=INTERVAL), list(joined[INTERVAL]), alpha, rope)
    for name, _ in parts:
        decided = family[family.test_set == name].drop(columns="test_set")
        # the table shows differences in the metric's own units (HD95: negative is better)
        for column in ("difference", "ci_low", "ci_high"):
            decided[column] = decided[column] * sign
        if sign < 0:
            decided[["ci_low", "ci_high"]] = decided[["ci_high", "ci_low"]].to_numpy()
        per_test[name]["paired"] = decided.reset_index(drop=True)


def against_baseline(wide: pd.DataFrame, per_seed: pd.DataFrame, baseline: str, rope: float,
                     seed: int, sign: float = 1.0) -> pd.DataFrame:
    """Each method against the baseline on one test set: the mean difference per case and seed
    with its interval (``difference``, ``ci_low``, ``ci_high``, ``se``, ``df``, ``p``; higher
    is better, as in ``wide``), the case-level paired t and Wilcoxon tests of the seed means,
    Cliff's delta and P(worse / equivalent / better)."""
    table = stats.paired_tests(wide, baseline, adjusted=False)  # Holm: over the family
    base = _grid(per_seed[per_seed.method == baseline]) * sign
    extra = []
    for method in table.method:
        pair = wide[[method, baseline]].dropna()
        interval = paired_interval(_grid(per_seed[per_seed.method == method]) * sign, base)
        delta = cliffs_delta(pair[method], pair[baseline])
        row = {INTERVAL: interval, "difference": interval.mean, "ci_low": interval.low,
               "ci_high": interval.high, "se": interval.se, "df": interval.df,
               "p": interval.t_test(), "interval": interval.basis, "seeds": interval.seeds,
               "cliffs_delta": delta, "effect": cliffs_magnitude(delta)}
        if len(pair):
            eq = bayesian_signed_rank(pair[method], pair[baseline], rope, seed)
            row |= {"p_worse": eq.worse, "p_equivalent": eq.equivalent, "p_better": eq.better,
                    "bayes_verdict": eq.verdict}
        extra.append(row)
    extra = pd.DataFrame(extra, columns=[INTERVAL, "difference", "ci_low", "ci_high", "se", "df",
                                         "p", "interval", "seeds", "cliffs_delta", "effect",
                                         "p_worse", "p_equivalent", "p_better", "bayes_verdict"])
    table = table.assign(mean_difference=table.mean_difference * sign)
    return pd.concat([table.reset_index(drop=True), extra], axis=1).assign(rope=rope)


def paired_interval(method: pd.DataFrame, baseline: pd.DataFrame) -> Interval:
    """The interval of method − baseline from two case × seed tables: differences per case and
    shared seed; where the two share no seed, differences of the seed means (cases only)."""
    cases = method.index.intersection(baseline.index)
    seeds = method.columns.intersection(baseline.columns)
    if len(seeds):
        diff = method.loc[cases, seeds] - baseline.loc[cases, seeds]
    else:
        diff = (method.loc[cases].mean(axis=1) - baseline.loc[cases].mean(axis=1)).to_frame()
    return mean_interval(diff.to_numpy())


def default_baseline(table: pd.DataFrame) -> str | None:
    real = table[table["count"] == 0].method.drop_duplicates()
    return real.iloc[0] if len(real) else None


def per_class(table: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """(method, test set, metric, class): mean and sd over cases of the seed-averaged scores,
    the cases with a value, and how many values (case × seed) were excluded (NaN: HD95 of a
    class absent from both masks) or penalised (HD95's worst-case distance)."""
    keys = ["method", "test_set", "metric", "class"]
    rows = table[table.metric.isin(metrics)]
    per_case = rows.groupby([*keys, "case"], sort=False).value.mean()
    out = per_case.groupby(keys, sort=False).agg(["mean", "std", "count"]) \
        .rename(columns={"std": "sd", "count": "cases"})
    out["excluded"] = rows.value.isna().groupby([rows[k] for k in keys], sort=False).sum()
    flags = table[table.metric.str.endswith(PENALTY_SUFFIX)]
    penalised = flags.assign(metric=flags.metric.str.removesuffix(PENALTY_SUFFIX)) \
        .groupby(keys, sort=False).value.sum()
    out["penalised"] = penalised.reindex(out.index).where(
        out.index.get_level_values("metric") == "hd95", 0)
    return out.reset_index()
