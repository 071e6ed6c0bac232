"""Statistics for leaderboards: Friedman, Nemenyi, sign tables, paired tests against a baseline.

Every test works on a *wide* table: one row per block (a test case), one column per method, the
score higher-is-better. Blocks with a missing score for any method are dropped, since the Friedman
test needs complete blocks; how many were dropped is reported.

Ties: ranks within a block are average ranks (``scipy.stats.rankdata``'s default). Friedman's
statistic is reported both ways: with the tie correction (what SciPy and R's ``friedman.test``
print) and without it (what Demšar 2006 and most papers print, from the mean ranks alone), each
with the Iman–Davenport F_F that Demšar recommends. Rank 1 is the best method.

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

from bench.api.errors import DataError
from bench.report.verdicts import holm


@dataclass
class FriedmanResult:
    """Friedman's test over complete blocks, as the literature reports it.

    ``statistic`` / ``p_value`` are the tie-corrected χ²_F (chi-squared, k − 1 d.o.f.);
    ``*_uncorrected`` the same from the mean ranks alone (Demšar 2006, eq. for χ²_F);
    ``iman_davenport*`` F_F = (N − 1) χ²_F / (N (k − 1) − χ²_F), F-distributed with k − 1 and
    (k − 1)(N − 1) d.o.f., from the corrected and the uncorrected χ²_F. ``ties`` says whether any
    block had tied scores (only then do the two versions differ).
    """

    statistic: float
    p_value: float
    blocks: int
    methods: int
    dropped_blocks: int
    mean_ranks: pd.Series  # rank 1 = best, ascending
    critical_difference: float  # Nemenyi CD of mean ranks at alpha
    statistic_uncorrected: float = np.nan
    p_value_uncorrected: float = np.nan
    iman_davenport: float = np.nan
    iman_davenport_p: float = np.nan
    iman_davenport_uncorrected: float = np.nan
    iman_davenport_p_uncorrected: float = np.nan
    ties: bool = False

    def as_row(self) -> dict:
        """The numbers a results table stores (``friedman.csv``)."""
        return {"chi2_F": self.statistic, "chi2_F_p": self.p_value,
                "chi2_F_uncorrected": self.statistic_uncorrected,
                "chi2_F_uncorrected_p": self.p_value_uncorrected,
                "F_F": self.iman_davenport, "F_F_p": self.iman_davenport_p,
                "F_F_uncorrected": self.iman_davenport_uncorrected,
                "F_F_uncorrected_p": self.iman_davenport_p_uncorrected,
                "ties_corrected": self.ties, "blocks": self.blocks, "methods": self.methods,
                "dropped_blocks": self.dropped_blocks,
                "critical_difference": self.critical_difference}

    @staticmethod
    def row_columns() -> list[str]:
        return ["chi2_F", "chi2_F_p", "chi2_F_uncorrected", "chi2_F_uncorrected_p", "F_F",
                "F_F_p", "F_F_uncorrected", "F_F_uncorrected_p", "ties_corrected", "blocks",
                "methods", "dropped_blocks", "critical_difference"]

    def describe(self) -> str:
        """One sentence for Markdown, HTML and the terminal."""
        text = (f"Friedman over {self.blocks} cases and {self.methods} methods: "
                f"χ²_F = {self.statistic:.3f} (p = {self.p_value:.3g}), Iman–Davenport "
                f"F_F = {_fmt(self.iman_davenport)} (p = {self.iman_davenport_p:.3g})")
        if self.ties:
            text += (f", corrected for ties; uncorrected χ²_F = "
                     f"{self.statistic_uncorrected:.3f} (p = {self.p_value_uncorrected:.3g}), "
                     f"F_F = {_fmt(self.iman_davenport_uncorrected)} "
                     f"(p = {self.iman_davenport_p_uncorrected:.3g})")
        else:
            text += " (no ties)"
        return text + f"; Nemenyi critical difference {self.critical_difference:.3f}."


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
    ranks = data.rank(axis=1, ascending=False, method="average").to_numpy()
    uncorrected = 12.0 * n / (k * (k + 1)) * (np.sum(ranks.mean(axis=0) ** 2)
                                             - k * (k + 1) ** 2 / 4.0)
    ties = sum(float(np.sum(c ** 3 - c)) for c in
               (np.unique(row, return_counts=True)[1] for row in ranks))
    correction = 1.0 - ties / (n * k * (k * k - 1))
    corrected = uncorrected / correction if correction > 0 else 0.0  # all blocks fully tied
    f_c, p_fc = iman_davenport(corrected, n, k)
    f_u, p_fu = iman_davenport(uncorrected, n, k)
    return FriedmanResult(
        float(corrected), float(stats.chi2.sf(corrected, k - 1)), n, k, dropped,
        mean_ranks(data), critical_difference(k, n, alpha),
        statistic_uncorrected=float(uncorrected),
        p_value_uncorrected=float(stats.chi2.sf(uncorrected, k - 1)),
        iman_davenport=f_c, iman_davenport_p=p_fc, iman_davenport_uncorrected=f_u,
        iman_davenport_p_uncorrected=p_fu, ties=ties > 0)


def iman_davenport(chi2_f: float, n: int, k: int) -> tuple[float, float]:
    """F_F and its p-value (Iman & Davenport 1980, as given by Demšar 2006).

    When every block ranks the methods identically χ²_F = N (k − 1) and F_F is infinite
    (p = 0): complete agreement is the strongest evidence the test can see.
    """
    denominator = n * (k - 1) - chi2_f
    if denominator <= 1e-12 * n * k:
        return float("inf"), 0.0
    f = (n - 1) * chi2_f / denominator
    return float(f), float(stats.f.sf(f, k - 1, (k - 1) * (n - 1)))


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


def _fmt(value: float) -> str:
    return "∞" if np.isinf(value) else f"{value:.3f}"


def paired_tests(wide: pd.DataFrame, baseline: str, adjusted: bool = True) -> pd.DataFrame:
    """Each method against ``baseline`` over the same cases: mean difference, t-test, Wilcoxon,
    and both p-values Holm-adjusted over the methods of the table (``*_holm``): with many
    methods some raw p-values fall below alpha by chance alone. ``adjusted=False`` leaves the
    adjustment to a caller whose family is larger (every test set of a leaderboard)."""
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
    table = pd.DataFrame(rows, columns=["method", "baseline", "cases", "mean_difference",
                                        "t_test_p", "wilcoxon_p"])
    if not adjusted:
        return table
    return table.assign(t_test_p_holm=holm(table.t_test_p), wilcoxon_p_holm=holm(table.wilcoxon_p))
