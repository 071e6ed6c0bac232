"""A run's store turned into a leaderboard folder: CSV, Markdown, statistics, plots, HTML.

A *method* is a cell without its seed (generator, count, strategy, augmentation, segmenter). Its
score on a test case is the mean over classes of the metric, averaged over seeds; statistics
compare methods over the cases of each test set (blocks = cases). Lower-is-better metrics (HD95)
are negated for ranking, so rank 1 is always the best.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench import stats
from bench.errors import DataError
from bench.store import Store

LOWER_IS_BETTER = {"hd95"}
METHOD_COLUMNS = ["method", "generator", "count", "strategy", "augment", "segmenter"]
UNAVAILABLE = "n/a"  # a fidelity metric that could not be computed (pandas reads it as NaN)


def case_scores(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """(method, test_set, case) → score: mean over classes, then over seeds."""
    rows = table[table.metric == metric]
    per_seed = rows.groupby([*METHOD_COLUMNS, "seed", "test_set", "case"], sort=False).value
    per_seed = per_seed.mean().reset_index()
    return per_seed.groupby([*METHOD_COLUMNS, "test_set", "case"], sort=False).value.mean() \
        .reset_index()


def leaderboard(table: pd.DataFrame, scores_by_metric: dict[str, pd.DataFrame], primary: str
                ) -> pd.DataFrame:
    """One row per method: mean and sd over cases per test set and metric, and the rank.

    ``scores_by_metric`` holds :func:`case_scores` per metric, the primary one included.
    """
    methods = table[[*METHOD_COLUMNS, "seed"]].drop_duplicates()
    board = methods.groupby(METHOD_COLUMNS, sort=False).seed.nunique().rename("seeds") \
        .reset_index()
    for metric, scores in scores_by_metric.items():
        if scores.empty:
            continue
        summary = scores.groupby(["method", "test_set"], sort=False).value.agg(["mean", "std"])
        for test_set in scores.test_set.unique():
            part = summary.xs(test_set, level="test_set")
            board[f"{test_set}:{metric}_mean"] = board.method.map(part["mean"])
            board[f"{test_set}:{metric}_sd"] = board.method.map(part["std"])
    ranks = overall_ranks(scores_by_metric[primary], primary)
    board.insert(0, "rank", board.method.map(ranks).round(3))
    return board.sort_values("rank", kind="stable").reset_index(drop=True)


def fidelity_summary(fidelity: pd.DataFrame) -> pd.DataFrame:
    """(generator, count) x metric: the mean over seeds, or ``n/a`` where no value exists."""
    from bench.fidelity import METRICS

    if fidelity.empty:
        return pd.DataFrame()
    values = fidelity.pivot_table(index=["generator", "count"], columns="metric", values="value",
                                  aggfunc="mean", dropna=False, sort=False)
    present = fidelity.groupby(["generator", "count", "metric"], sort=False).size().unstack()
    values = values.reindex(index=present.index, columns=present.columns)
    values = values.astype(object).where(values.notna() | present.isna(), UNAVAILABLE)
    order = [m for m in METRICS if m in values.columns]
    order += [m for m in values.columns if m not in order]
    return values[order]


def protocol_summary(fidelity: pd.DataFrame) -> pd.DataFrame:
    """One row per (generator, count, extractor): how its distribution metrics were measured.

    ``n`` is real/synthetic images compared (summed over views); ``floor n`` is per half.
    """
    from bench.fidelity import EXTRACTORS

    columns = ["generator", "count", "extractor", "weights_sha256", "preprocessing", "views",
               "n", "floor n"]
    if fidelity.empty or "extractor" not in fidelity.columns:
        return pd.DataFrame(columns=columns)
    fd = {n.fd for n in EXTRACTORS.values()}
    rows = []
    for (generator, count, extractor), part in fidelity[fidelity.extractor.notna()].groupby(
            ["generator", "count", "extractor"], sort=False):
        main = part[part.metric.isin(fd)]
        floor = part[part.metric.str.endswith("_floor")]
        if main.empty:
            continue
        first = main.iloc[0]
        sha = first.weights_sha256 if pd.notna(first.weights_sha256) else "-"
        rows.append([generator, count, extractor, sha,
                     first.preprocessing, first.views, _sides(main), _sides(floor, True)])
    return pd.DataFrame(rows, columns=columns)


def _sides(rows: pd.DataFrame, floor: bool = False) -> str:
    """``real/synthetic`` image counts (one number for a floor: per half), over seeds."""
    if rows.empty or rows.n_real.isna().all():
        return "-"
    pairs = sorted({(int(r), int(f)) for r, f in zip(rows.n_real, rows.n_fake, strict=True)})
    return ", ".join(str(r) if floor else f"{r}/{f}" for r, f in pairs)


def unavailable_notes(fidelity: pd.DataFrame) -> dict[str, str]:
    """Per metric without any value, why (the first note recorded)."""
    missing = fidelity[fidelity.value.isna()]
    with_value = set(fidelity[fidelity.value.notna()].metric)
    return {m: str(n) for m, n in missing.groupby("metric", sort=False).note.first().items()
            if m not in with_value}


def add_fidelity(board: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """A ``fidelity:<metric>`` column per metric; real-only rows stay empty."""
    board = board.copy()
    for metric in summary.columns:
        lookup = summary[metric].to_dict()
        board[f"fidelity:{metric}"] = [lookup.get((g, c), np.nan)
                                       for g, c in zip(board.generator, board["count"],
                                                       strict=True)]
    return board


def overall_ranks(scores: pd.DataFrame, metric: str) -> pd.Series:
    """Mean rank over every (test set, case) block; blocks missing a method are dropped."""
    scores = scores.assign(block=scores.test_set + "/" + scores.case.astype(str))
    wide = stats.wide_scores(scores, "method", "block", "value")
    if metric in LOWER_IS_BETTER:
        wide = -wide
    complete, _ = stats.complete_blocks(wide)
    if complete.empty:
        return pd.Series(np.nan, index=wide.columns)
    return stats.mean_ranks(complete)


def test_set_statistics(scores: pd.DataFrame, metric: str, baseline: str | None, alpha: float
                        ) -> dict[str, dict]:
    """Per test set of :func:`case_scores`: Friedman, Nemenyi, sign table, paired tests."""
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
        if baseline in wide.columns:
            result["paired"] = stats.paired_tests(wide, baseline)
        out[str(test_set)] = result
    return out


def default_baseline(table: pd.DataFrame) -> str | None:
    real = table[table["count"] == 0].method.drop_duplicates()
    return real.iloc[0] if len(real) else None


def write_report(run_dir: Path, out: Path, samples: int = 6) -> dict[str, Path]:
    """Everything a leaderboard folder holds; returns the files by role."""
    from bench import plots
    from bench.html import write_index

    run_dir, out = Path(run_dir), Path(out)
    store_path = run_dir / "results.sqlite"
    if not store_path.exists():
        raise DataError(f"{run_dir}: not a run folder (no results.sqlite)")
    store = Store(store_path)
    try:
        table, manifest = store.case_metrics(), store.manifest()
        cells, artifacts, fidelity = store.cells(), store.artifacts(), store.fidelity()
    finally:
        store.close()
    if table.empty:
        raise DataError(f"{run_dir}: no finished cells to report yet")
    config = manifest.get("config", {})
    metrics = [m for m in config.get("metrics", sorted(table.metric.unique()))
               if m in set(table.metric)]
    primary = config.get("primary_metric", "dice")
    alpha = config.get("alpha", 0.05)
    baseline = config.get("baseline") or default_baseline(table)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}

    scores = {metric: case_scores(table, metric) for metric in dict.fromkeys([*metrics, primary])}
    summary = fidelity_summary(fidelity)
    notes = unavailable_notes(fidelity) if len(fidelity) else {}
    board = add_fidelity(leaderboard(table, scores, primary), summary)
    files["leaderboard.csv"] = _csv(board, out / "leaderboard.csv")
    if len(fidelity):
        files["fidelity.csv"] = _csv(fidelity, out / "fidelity.csv")
    per_test = test_set_statistics(scores[primary], primary, baseline, alpha)
    friedman_rows = []
    for test_set, result in per_test.items():
        if "friedman" in result:
            f = result["friedman"]
            friedman_rows.append({"test_set": test_set, "metric": primary,
                                  "statistic": f.statistic, "p_value": f.p_value,
                                  "blocks": f.blocks, "methods": f.methods,
                                  "dropped_blocks": f.dropped_blocks,
                                  "critical_difference": f.critical_difference})
            files[f"nemenyi_{test_set}.csv"] = _csv(result["nemenyi"],
                                                    out / f"nemenyi_{test_set}.csv", index=True)
            files[f"signs_{test_set}.csv"] = _csv(result["signs"], out / f"signs_{test_set}.csv",
                                                  index=True)
            files[f"cd_{test_set}.png"] = plots.cd_diagram(f, result["nemenyi"], alpha,
                                                           out / f"cd_{test_set}.png")
            files[f"signs_{test_set}.png"] = plots.sign_heatmap(result["signs"],
                                                                out / f"signs_{test_set}.png")
        if "paired" in result:
            files[f"paired_{test_set}.csv"] = _csv(result["paired"],
                                                   out / f"paired_{test_set}.csv")
    files["friedman.csv"] = _csv(pd.DataFrame(friedman_rows, columns=[
        "test_set", "metric", "statistic", "p_value", "blocks", "methods", "dropped_blocks",
        "critical_difference"]), out / "friedman.csv")
    files["cells.csv"] = _csv(cells, out / "cells.csv")
    files[f"{primary}_vs_count.png"] = plots.score_vs_count(scores[primary], primary,
                                                           out / f"{primary}_vs_count.png")
    sample_sets = artifacts[artifacts.kind == "samples"] if not artifacts.empty else artifacts
    if len(sample_sets):
        files["samples.png"] = plots.sample_grid(sample_sets, samples, out / "samples.png")
    protocol = protocol_summary(fidelity)
    files["leaderboard.md"] = _markdown(board, per_test, primary, baseline, config,
                                        out / "leaderboard.md", summary, notes, protocol)
    files["index.html"] = write_index(out / "index.html", board, per_test, files, config,
                                      primary, baseline, summary, notes, protocol)
    return files


def _csv(frame: pd.DataFrame, path: Path, index: bool = False) -> Path:
    frame.to_csv(path, index=index, float_format="%.8g")
    return path


def _markdown(board, per_test, primary, baseline, config, path: Path, fidelity: pd.DataFrame,
              notes: dict[str, str], protocol: pd.DataFrame | None = None) -> Path:
    columns = ["rank", "method", "seeds"] + [c for c in board.columns
                                             if c.endswith(f":{primary}_mean")]
    lines = [f"# {config.get('name', 'leaderboard')}", "",
             f"Methods ranked by mean rank of {primary} over every test case (1 = best). "
             f"Values are mean ± sd over cases.", ""]
    header = [c.replace("_mean", "") for c in columns]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in board.iterrows():
        cells = []
        for c in columns:
            if c.endswith("_mean"):
                sd = row[c.replace("_mean", "_sd")]
                cells.append(f"{row[c]:.3f} ± {0 if pd.isna(sd) else sd:.3f}")
            else:
                cells.append(str(row[c]))
        lines.append("| " + " | ".join(cells) + " |")
    for test_set, result in per_test.items():
        lines += ["", f"## {test_set}", ""]
        if "friedman" in result:
            f = result["friedman"]
            lines.append(f"Friedman over {f.blocks} cases and {f.methods} methods: "
                         f"χ² = {f.statistic:.3f}, p = {f.p_value:.3g}; Nemenyi critical "
                         f"difference {f.critical_difference:.3f}.")
        else:
            lines.append("Too few methods or cases for the Friedman test.")
        if "paired" in result:
            lines += ["", f"Against the baseline `{baseline}`:", "",
                      "| method | cases | mean difference | t-test p | Wilcoxon p |",
                      "|---|---|---|---|---|"]
            for _, r in result["paired"].iterrows():
                lines.append(f"| {r.method} | {r.cases} | {r.mean_difference:+.4f} | "
                             f"{r.t_test_p:.3g} | {r.wilcoxon_p:.3g} |")
    lines += fidelity_markdown(fidelity, notes, protocol)
    path.write_text("\n".join(lines) + "\n")
    return path


def fidelity_markdown(summary: pd.DataFrame, notes: dict[str, str],
                      protocol: pd.DataFrame | None = None) -> list[str]:
    from bench.fidelity import METRICS

    if summary.empty:
        return []
    lines = ["", "## Generated samples", "",
             "| generator | n | " + " | ".join(summary.columns) + " |",
             "|---|---|" + "---|" * len(summary.columns)]
    for (generator, count), row in summary.iterrows():
        cells = [v if isinstance(v, str) else f"{v:.4g}" for v in row]
        lines.append(f"| {generator} | {count} | " + " | ".join(cells) + " |")
    lines += [""] + [f"- `{m}`: {METRICS.get(m, m)}" for m in summary.columns]
    if notes:
        lines += ["", f"Unavailable ({UNAVAILABLE}):", ""]
        lines += [f"- `{m}`: {note}" for m, note in notes.items()]
    if protocol is not None and len(protocol):
        lines += ["", "How the distribution metrics were measured (n: real/synthetic images "
                      "compared, over views; floor n: images per real half):", "",
                  "| " + " | ".join(protocol.columns) + " |",
                  "|" + "---|" * len(protocol.columns)]
        lines += ["| " + " | ".join(str(v).replace("|", "/") for v in row) + " |"
                  for row in protocol.itertuples(index=False)]
    return lines
