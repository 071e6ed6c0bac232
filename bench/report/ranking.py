"""Rank stability: how much a leaderboard's order owes to the particular test cases.

Following challengeR (Wiesenfarth et al. 2021, Sci. Rep. 11:2369): resample the test cases with
replacement (1000 times by default), rank the methods on each resample the way the leaderboard
does (mean rank over cases, "rank then aggregate"), and compare each bootstrap ranking with the
full one by Kendall's τ. A method that keeps its rank in most resamples holds its place; one that
does not owes it to the cases drawn. Per-case ranks never change under resampling (a case is
kept whole), so each resample is a weighted mean of one rank table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from bench.report.stats import complete_blocks


@dataclass
class RankStability:
    full: pd.Series  # method -> rank on every case (1 = best; ties share the mean rank)
    bootstrap: pd.DataFrame  # resample x method -> rank
    tau: np.ndarray  # Kendall's tau-b of each bootstrap ranking with the full one
    case_ranks: pd.DataFrame  # case x method -> rank within the case

    def summary(self) -> pd.DataFrame:
        """Per method: its rank, how often it keeps it, and the 95% range of bootstrap ranks."""
        boot = self.bootstrap[self.full.index]
        return pd.DataFrame({
            "mean_rank": self.case_ranks.mean()[self.full.index],
            "rank": self.full,
            "keeps_rank": (boot == self.full).mean(),
            "rank_median": boot.median(),
            "rank_low": boot.quantile(0.025),
            "rank_high": boot.quantile(0.975),
        }).rename_axis("method")

    def rank_frequencies(self) -> pd.DataFrame:
        """method x place: the share of resamples that put the method at that place.

        Tied methods share their places: t methods tied at mean rank r hold places
        r - (t - 1)/2 … r + (t - 1)/2, and each counts 1/t at each of them (never a rounded
        rank: round-half-to-even put both of a tie at 2.5 on place 2). Every place is held
        once per resample, so each column sums to 1.
        """
        ranks = self.bootstrap[self.full.index].to_numpy()
        k = ranks.shape[1]
        tied = (ranks[:, :, None] == ranks[:, None, :]).sum(axis=2)  # t, per resample and method
        first = np.rint(ranks - (tied - 1) / 2).astype(int)  # the tie's first place
        places = np.arange(1, k + 1)
        held = (places >= first[..., None]) & (places < (first + tied)[..., None])
        shares = (held / tied[..., None]).mean(axis=0)
        return pd.DataFrame(shares, index=self.full.index, columns=places)


def rank_stability(wide: pd.DataFrame, resamples: int = 1000, seed: int = 0) -> RankStability:
    """Bootstrap rankings of a cases x methods table (higher is better; incomplete cases
    dropped as for Friedman)."""
    data, _ = complete_blocks(wide)
    case_ranks = data.rank(axis=1, ascending=False, method="average")
    table = case_ranks.to_numpy()
    full = pd.Series(stats.rankdata(table.mean(axis=0)), index=data.columns)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(table), size=(resamples, len(table)))
    boot = stats.rankdata(table[picks].mean(axis=1), axis=1)
    tau = kendall_tau_b(boot, full.to_numpy())
    return RankStability(full, pd.DataFrame(boot, columns=data.columns), tau, case_ranks)


def kendall_tau_b(rankings: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Kendall's τ-b of each row of ``rankings`` with ``reference`` (``scipy.stats.kendalltau``
    per row, vectorised: one bootstrap has 1000 rows). NaN where either side is all ties."""
    i, j = np.triu_indices(len(reference), k=1)
    a = np.sign(rankings[:, i] - rankings[:, j])
    b = np.sign(reference[i] - reference[j])
    denominator = np.sqrt(np.count_nonzero(a, axis=1) * np.count_nonzero(b))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (a * b).sum(axis=1) / denominator, np.nan)
