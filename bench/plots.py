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
