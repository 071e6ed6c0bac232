"""Statistics for leaderboards: Friedman, Nemenyi, sign tables, paired tests against a baseline.

Every test works on a *wide* table: one row per block (a test case), one column per method, the
score higher-is-better. Blocks with a missing score for any method are dropped, since the Friedman
test needs complete blocks; how many were dropped is reported.

Ties: ranks within a block are average ranks (``scipy.stats.rankdata``'s default), and the
Friedman statistic uses SciPy's tie correction. Rank 1 is the best method.

The sign table follows Vu et al.: for each pair (row, column), ``+`` when the row method ranks
better and the Nemenyi test rejects equality at ``alpha``, ``-`` when it ranks worse and the test
rejects, ``0`` otherwise; the score column is wins minus losses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scikit_posthocs as sp
from scipy import stats

from bench.errors import DataError


@dataclass
class FriedmanResult:
    statistic: float
    p_value: float
    blocks: int
    methods: int
    dropped_blocks: int
    mean_ranks: pd.Series  # rank 1 = best, ascending
    critical_difference: float  # Nemenyi CD of mean ranks at alpha


def wide_scores(table: pd.DataFrame, method_col: str, case_col: str, score_col: str
                ) -> pd.DataFrame:
    """Long (method, case, score) rows to a blocks × methods table; duplicates are averaged."""
    for col in (method_col, case_col, score_col):
        if col not in table.columns:
            raise DataError(f"score table: column '{col}' is missing (columns: "
                            f"{', '.join(map(str, table.columns))})")
    values = pd.to_numeric(table[score_col], errors="coerce")
    bad = values.isna() & table[score_col].notna()
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise DataError(f"score table: column '{score_col}' must hold numbers; row {row + 1} "
                        f"holds {table[score_col].iloc[row]!r}")
    table = table.assign(**{score_col: values})
    wide = table.pivot_table(index=case_col, columns=method_col, values=score_col,
                             aggfunc="mean")
    wide.columns = [str(c) for c in wide.columns]
    return wide


def complete_blocks(wide: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    complete = wide.dropna(axis=0, how="any")
    return complete, len(wide) - len(complete)


def mean_ranks(wide: pd.DataFrame) -> pd.Series:
    ranks = wide.rank(axis=1, ascending=False, method="average")
    return ranks.mean().sort_values()


def friedman(wide: pd.DataFrame, alpha: float = 0.05) -> FriedmanResult:
    data, dropped = complete_blocks(wide)
    k, n = data.shape[1], data.shape[0]
    if k < 3:
        raise DataError(f"the Friedman test needs at least 3 methods, got {k}")
    if n < 2:
        raise DataError(f"the Friedman test needs at least 2 complete cases, got {n}")
    if (data.nunique(axis=1) == 1).all():  # every block tied: no evidence of any difference
        statistic, p_value = 0.0, 1.0
    else:
        result = stats.friedmanchisquare(*[data[c].to_numpy() for c in data.columns])
        statistic, p_value = float(result.statistic), float(result.pvalue)
    return FriedmanResult(statistic, p_value, n, k, dropped, mean_ranks(data),
                          critical_difference(k, n, alpha))


def critical_difference(k: int, n: int, alpha: float = 0.05) -> float:
    """Nemenyi's critical difference of mean ranks (Demšar 2006): q_alpha √(k(k+1)/6N)."""
    q = stats.studentized_range.ppf(1 - alpha, k, np.inf) / np.sqrt(2)
    return float(q * np.sqrt(k * (k + 1) / (6.0 * n)))


def nemenyi(wide: pd.DataFrame) -> pd.DataFrame:
    """Pairwise p-values of the Nemenyi post-hoc test after Friedman (scikit-posthocs)."""
    data, _ = complete_blocks(wide)
    p = sp.posthoc_nemenyi_friedman(data.to_numpy())
    p.index = p.columns = list(data.columns)
    return p


def sign_table(wide: pd.DataFrame, p_values: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """``+`` / ``0`` / ``-`` per pair and a ``score`` column (wins minus losses), best first."""
    ranks = mean_ranks(complete_blocks(wide)[0])
    methods = list(ranks.index)
    table = pd.DataFrame("", index=methods, columns=methods)
    for a in methods:
        for b in methods:
            if a == b:
                continue
            significant = p_values.loc[a, b] < alpha
            table.loc[a, b] = ("+" if ranks[a] < ranks[b] else "-") if significant else "0"
    table["score"] = [(table.loc[m] == "+").sum() - (table.loc[m] == "-").sum() for m in methods]
    return table.sort_values("score", ascending=False, kind="stable")


def paired_tests(wide: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Each method against ``baseline`` over the same cases: mean difference, t-test, Wilcoxon."""
    if baseline not in wide.columns:
        raise DataError(f"baseline '{baseline}' is not among the methods: "
                        f"{', '.join(wide.columns)}")
    rows = []
    for method in wide.columns:
        if method == baseline:
            continue
        pair = wide[[method, baseline]].dropna()
        diff = pair[method] - pair[baseline]
        t_p = w_p = np.nan
        if len(pair) >= 2 and diff.std() > 0:
            t_p = float(stats.ttest_rel(pair[method], pair[baseline]).pvalue)
        if len(pair) >= 1 and (diff != 0).any():
            w_p = float(stats.wilcoxon(pair[method], pair[baseline]).pvalue)
        rows.append({"method": method, "baseline": baseline, "cases": len(pair),
                     "mean_difference": float(diff.mean()) if len(pair) else np.nan,
                     "t_test_p": t_p, "wilcoxon_p": w_p})
    return pd.DataFrame(rows, columns=["method", "baseline", "cases", "mean_difference",
                                       "t_test_p", "wilcoxon_p"])
