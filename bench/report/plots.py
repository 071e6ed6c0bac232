"""The leaderboard's figures: score against synthetic count, CD diagrams, sign tables, samples."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scikit_posthocs as sp  # noqa: E402
import seaborn as sns  # noqa: E402


def score_vs_count(scores: pd.DataFrame, metric: str, out: Path) -> Path:
    """Per test set: the metric against the synthetic count, one line per (generator, strategy,
    segmenter), 95% confidence bands over cases; real-only methods as horizontal bands."""
    synthetic = scores[scores["count"] > 0].copy()
    real = scores[scores["count"] == 0]
    tests = list(dict.fromkeys(scores.test_set))
    fig, axes = plt.subplots(1, len(tests), figsize=(5.5 * len(tests), 4), squeeze=False)
    for ax, test_set in zip(axes[0], tests, strict=True):
        part = synthetic[synthetic.test_set == test_set]
        if len(part):
            part = part.assign(line=part.generator + " · " + part.strategy + " · "
                               + part.segmenter)
            sns.lineplot(part, x="count", y="value", hue="line", marker="o", errorbar=("ci", 95),
                         ax=ax)
        for i, (method, group) in enumerate(real[real.test_set == test_set].groupby("method")):
            mean, sem = group.value.mean(), group.value.sem()
            color = f"C{(i + 5) % 10}"
            ax.axhline(mean, color=color, linestyle="--", label=method)
            if np.isfinite(sem):
                ax.axhspan(mean - 1.96 * sem, mean + 1.96 * sem, color=color, alpha=0.12)
        if len(synthetic):
            counts = sorted(synthetic["count"].unique())
            ax.set_xscale("log")
            ax.set_xticks(counts, [str(c) for c in counts])
            ax.minorticks_off()
        ax.set_title(test_set)
        ax.set_xlabel("synthetic samples")
        ax.set_ylabel(metric)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, out)


def cd_diagram(friedman, nemenyi: pd.DataFrame, alpha: float, out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(friedman.mean_ranks) + 1.5))
    sp.critical_difference_diagram(friedman.mean_ranks, nemenyi, ax=ax, alpha=alpha,
                                   label_props={"fontsize": 7})
    ax.set_title(f"mean rank (CD = {friedman.critical_difference:.2f}, "
                 f"Friedman p = {friedman.p_value:.3g})", fontsize=9)
    fig.tight_layout()
    return _save(fig, out)


def sign_heatmap(signs: pd.DataFrame, out: Path) -> Path:
    """The sign table as colours: green where the row method wins, red where it loses."""
    methods = list(signs.index)
    values = signs[methods].replace({"+": 1, "0": 0, "-": -1, "": 0}).astype(float)
    n = len(methods)
    fig, ax = plt.subplots(figsize=(6 + 0.45 * n, 1.2 + 0.4 * n))
    sns.heatmap(values, annot=signs[methods].to_numpy(), fmt="", cmap="RdYlGn", vmin=-1, vmax=1,
                cbar=False, linewidths=0.5, ax=ax)
    ax.set_yticks(np.arange(n) + 0.5,
                  [f"{i + 1}. {m} ({signs.loc[m, 'score']:+d})" for i, m in enumerate(methods)],
                  fontsize=7, rotation=0)
    ax.set_xticks(np.arange(n) + 0.5, [str(i + 1) for i in range(n)], fontsize=7, rotation=0)
    ax.set_title("row vs column (Nemenyi); (score) = wins - losses", fontsize=8)
    fig.tight_layout()
    return _save(fig, out)


def rank_blobs(stability, out: Path) -> Path:
    """challengeR's blob plot: per method (in full-data order, top to bottom) the share of
    bootstrap resamples at each rank as a disc's area; × marks the rank on all cases, the bar
    the 95% range of the bootstrap ranks."""
    freq = stability.rank_frequencies()
    summary = stability.summary()
    methods = list(summary.sort_values("rank", kind="stable").index)
    k = len(methods)
    fig, ax = plt.subplots(figsize=(3 + 0.45 * k, 1.2 + 0.4 * k))
    for y, method in enumerate(methods):
        shares = freq.loc[method]
        ax.scatter(shares.index, np.full(k, y), s=shares.to_numpy() * 350, color="C0",
                   alpha=0.6, linewidths=0)
        ax.hlines(y, summary.loc[method, "rank_low"], summary.loc[method, "rank_high"],
                  color="0.4", linewidth=1)
        ax.scatter([summary.loc[method, "rank"]], [y], marker="x", color="k", s=30)
    ax.set_yticks(range(k), [_short(m) for m in methods], fontsize=7)
    ax.set_xticks(range(1, k + 1))
    ax.set_xlim(0.4, k + 0.6)
    ax.set_ylim(k - 0.4, -0.6)
    ax.set_xlabel("rank (1 = best)")
    ax.set_title(f"ranks over {len(stability.bootstrap)} bootstrap resamples of the cases; "
                 f"median Kendall's τ {np.nanmedian(stability.tau):.2f}", fontsize=8)
    fig.tight_layout()
    return _save(fig, out)


def rank_heatmap(stability, out: Path) -> Path:
    """challengeR's ranking heatmap: how often each method takes each rank over the test cases
    (ranks within a case; a method that is first in half the cases shows 50% in column 1)."""
    ranks = stability.case_ranks.round().astype(int)
    methods = list(stability.summary().sort_values("rank", kind="stable").index)
    k = len(methods)
    share = pd.DataFrame({m: ranks[m].value_counts(normalize=True).reindex(range(1, k + 1),
                                                                            fill_value=0.0)
                          for m in methods}).T
    fig, ax = plt.subplots(figsize=(2 + 0.5 * k, 1.2 + 0.35 * k))
    sns.heatmap(share, annot=True, fmt=".0%", cmap="Blues", vmin=0, vmax=1, cbar=False,
                linewidths=0.5, ax=ax, annot_kws={"fontsize": 7})
    ax.set_yticks(np.arange(k) + 0.5, [_short(m) for m in methods], fontsize=7, rotation=0)
    ax.set_xlabel("rank within a test case")
    ax.set_title(f"share of {len(ranks)} test cases at each rank", fontsize=8)
    fig.tight_layout()
    return _save(fig, out)


def fidelity_utility(points: pd.DataFrame, correlations: pd.DataFrame, primary: str, out: Path
                     ) -> Path:
    """Per fidelity metric: each synthetic method's gain over the baseline against the metric of
    its sample set, one colour per test set and arm (strategy · segmenter: each has its own ρ),
    with Spearman's ρ and its 95% interval."""
    metrics = list(dict.fromkeys(correlations.dropna(subset=["spearman"]).metric))
    fig, axes = plt.subplots(1, max(1, len(metrics)), figsize=(4 * max(1, len(metrics)), 3.4),
                             squeeze=False)
    keys = ["test_set", "strategy", "segmenter"]
    for ax, metric in zip(axes[0], metrics, strict=False):
        for i, (key, part) in enumerate(points.groupby(keys, sort=False)):
            r = correlations[(correlations.metric == metric)
                             & (correlations[keys] == pd.Series(key, index=keys)).all(axis=1)]
            if r.empty or pd.isna(r.spearman.iloc[0]):
                continue
            r = r.iloc[0]
            ax.scatter(part[metric], part.gain, color=f"C{i}", s=18,
                       label=f"{_short(' · '.join(map(str, key)), 32)}: ρ {r.spearman:+.2f} "
                             f"[{r.ci_low:+.2f}, {r.ci_high:+.2f}]")
        ax.axhline(0, color="0.6", linewidth=0.8)
        ax.set_xlabel(metric)
        ax.set_ylabel(f"{primary} gain over the baseline")
        ax.legend(fontsize=6)
    fig.tight_layout()
    return _save(fig, out)


def _short(label: str, width: int = 40) -> str:
    label = str(label)
    return label if len(label) <= width else label[: width - 1] + "…"


def sample_grid(sample_sets: pd.DataFrame, per_set: int, out: Path) -> Path:
    """The first samples of each sample artifact with their masks."""
    from bench.data import load_dataset

    rows = []
    for _, artifact in sample_sets.iterrows():
        cases = load_dataset(Path(artifact.path) / "dataset")
        for case in cases.cases[:per_set]:
            image, label = case.image[0], case.label
            if cases.spatial_dims == 3:
                k = int(np.argmax((label > 0).sum(axis=(0, 1))))
                image, label = image[..., k], label[..., k]
            rows.append((artifact.label, case.id, image, label))
    cols = max(1, min(per_set, len(rows)))
    n_rows = -(-len(rows) // cols)
    fig, axes = plt.subplots(n_rows, cols, figsize=(2.2 * cols, 2.4 * n_rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (label_text, case_id, image, label) in zip(axes.ravel(), rows, strict=False):
        ax.imshow(np.rot90(image), cmap="gray")
        ax.imshow(np.ma.masked_equal(np.rot90(label), 0), cmap="tab10", vmin=0, vmax=9,
                  alpha=0.4, interpolation="nearest")
        ax.set_title(f"{label_text}\n{case_id}", fontsize=6)
    fig.tight_layout()
    return _save(fig, out)


def _save(fig, out: Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return out


def learning_curve(points: pd.DataFrame, methods: pd.DataFrame, metric: str, out: Path) -> Path:
    """Per test set: the real-only baseline's mean against its number of real training cases
    (95% intervals; the monotone fit as straight lines on a log axis, as it is inverted), each
    synthetic method as a horizontal line at its mean, labelled with the real cases it is
    worth."""
    tests = list(dict.fromkeys(points.test_set))
    fig, axes = plt.subplots(1, len(tests), figsize=(6 * len(tests), 4.2), squeeze=False)
    for ax, test_set in zip(axes[0], tests, strict=True):
        part = points[points.test_set == test_set]
        for i, ((segmenter, strategy), curve) in enumerate(
                part.groupby(["segmenter", "strategy"], sort=False)):
            curve = curve.sort_values("train_cases")
            ax.errorbar(curve.train_cases, curve["mean"], fmt="o", color=f"C{i}", capsize=3,
                        yerr=[curve["mean"] - curve.ci_low, curve.ci_high - curve["mean"]],
                        label=_short(f"real only · {strategy} · {segmenter}", 48))
            ax.plot(curve.train_cases, curve.fitted, color=f"C{i}", linewidth=1.5)
        mine = methods[methods.test_set == test_set] if len(methods) else methods
        for j, row in enumerate(mine.itertuples(index=False)):
            ax.axhline(row.mean, color=f"C{(j + 3) % 10}", linestyle="--", linewidth=1,
                       label=_short(f"{row.method} ≈ {row.real_equiv} real cases", 64))
        sizes = sorted(part.train_cases.unique())
        ax.set_xscale("log")  # the curve is linear in log n: the lines are the curve
        ax.set_xticks(sizes, [str(n) for n in sizes])
        ax.minorticks_off()
        ax.set_xlabel("real training cases")
        ax.set_ylabel(metric)
        ax.set_title(test_set)
        ax.legend(fontsize=6)
    fig.tight_layout()
    return _save(fig, out)
