"""A run's store turned into a leaderboard folder: CSV, Markdown, statistics, plots, HTML.

A *method* is a cell without its seed (generator, count, strategy, augmentation, segmenter), named
by the ``method`` id the store holds. Its score on a test case is the mean over classes of the
metric, averaged over seeds; statistics compare methods over the cases of each test set (blocks =
cases). Lower-is-better metrics (HD95) are negated for ranking, so rank 1 is always the best.
Every mean comes with a 95% bootstrap interval over cases and seeds (:mod:`bench.uncertainty`),
every ranking with its bootstrap stability (:mod:`bench.ranking`).
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from bench import stats
from bench.correlation import fidelity_utility, utility_points
from bench.errors import DataError
from bench.lesion_strata import lesion_strata, strata_markdown
from bench.markup import file_part, md
from bench.ranking import RankStability, rank_stability
from bench.real_equivalence import (
    add_real_equivalence,
    equivalence,
    equivalence_markdown,
    equivalence_text,
    split_curve,
)
from bench.store import Store
from bench.uncertainty import (
    bayesian_signed_rank,
    bootstrap_mean_interval,
    cliffs_delta,
    cliffs_magnitude,
)

LOWER_IS_BETTER = {"hd95"}
METHOD_COLUMNS = ["method", "method_id", "generator", "count", "strategy", "augment",
                  "segmenter"]
UNAVAILABLE = "n/a"  # a fidelity metric that could not be computed (pandas reads it as NaN)


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
    scores = _seed_mean(seed_scores_by_metric[primary])
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


def _seed_mean(per_seed: pd.DataFrame) -> pd.DataFrame:
    return per_seed.groupby([*METHOD_COLUMNS, "test_set", "case"], sort=False).value.mean() \
        .reset_index()


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


COST_COLUMNS = {"cost:train_s": "training seconds per cell (mean over seeds)",
                "cost:fit_s": "generator fit seconds (mean over seeds)",
                "cost:s_per_sample": "generator seconds per sample",
                "cost:peak_mb": "peak host memory of the fit, MiB (resident set)",
                "cost:peak_gpu_mb": "peak GPU memory of the fit, MiB (CUDA only)"}


def add_cost(board: pd.DataFrame, cells: pd.DataFrame, artifacts: pd.DataFrame
             ) -> pd.DataFrame:
    """Cost columns: each cell's training seconds, and its generator's fit seconds, seconds per
    sample and peak memory (from the ``cost`` that each fit's and sample set's ``done.json``
    holds; a folder written before costs were recorded leaves them empty)."""
    board = board.copy()
    done = cells[cells.status == "done"]
    board["cost:train_s"] = board.method.map(done.groupby("method").seconds.mean())
    fits, per_sample = {}, {}
    for _, artifact in artifacts.iterrows() if len(artifacts) else ():
        info = _done_info(Path(artifact.path))
        cost, label = info.get("cost") or {}, info.get("generator", artifact.label)
        if artifact.kind == "fit" and cost:
            fits.setdefault(label, []).append(cost)
        elif artifact.kind == "samples" and cost.get("seconds") and info.get("count"):
            per_sample.setdefault(label, []).append(cost["seconds"] / info["count"])

    def mean_of(label, key):
        values = [c.get(key) for c in fits.get(label, []) if c.get(key) is not None]
        return float(np.mean(values)) if values else np.nan

    board["cost:fit_s"] = [mean_of(g, "seconds") for g in board.generator]
    board["cost:s_per_sample"] = [float(np.mean(per_sample[g])) if g in per_sample else np.nan
                                  for g in board.generator]
    board["cost:peak_mb"] = [mean_of(g, "peak_rss_mb") for g in board.generator]
    gpu = [mean_of(g, "peak_gpu_mb") for g in board.generator]
    if not all(np.isnan(gpu)):
        board["cost:peak_gpu_mb"] = gpu
    return board


def _done_info(folder: Path) -> dict:
    try:
        return json.loads((folder / "done.json").read_text())
    except (OSError, ValueError):
        return {}


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
    whole = table  # with the learning curve's cells, which are no leaderboard rows
    table = split_curve(whole)[0]
    config = manifest.get("config", {})
    metrics = [m for m in config.get("metrics", sorted(table.metric.unique()))
               if m in set(table.metric)]
    primary = config.get("primary_metric", "dice")
    alpha = config.get("alpha", 0.05)
    options = {"resamples": 1000, "rope": 0.01, "seed": 0, **config.get("report", {})}
    baseline = config.get("baseline") or default_baseline(table)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}

    per_seed = {metric: seed_scores(table, metric) for metric in dict.fromkeys([*metrics, primary])}
    scores = {metric: _seed_mean(part) for metric, part in per_seed.items()}
    summary = fidelity_summary(fidelity)
    notes = unavailable_notes(fidelity) if len(fidelity) else {}
    board = add_fidelity(leaderboard(table, per_seed, primary, options["resamples"],
                                     options["seed"]), summary)
    board = add_cost(board, cells, artifacts)
    curve, equivalents = equivalence(whole, primary, manifest.get("real_train_cases"),
                                     primary in LOWER_IS_BETTER, options["resamples"],
                                     options["seed"])
    board = add_real_equivalence(board, equivalents)
    files["leaderboard.csv"] = _csv(board, out / "leaderboard.csv")
    if len(fidelity):
        files["fidelity.csv"] = _csv(fidelity, out / "fidelity.csv")
    per_test = test_set_statistics(scores[primary], primary, baseline, alpha, options["rope"],
                                   options["resamples"], options["seed"])
    files |= _test_set_files(per_test, primary, alpha, out)
    files["cells.csv"] = _csv(cells, out / "cells.csv")
    classes = per_class(table, metrics)
    files["per_class.csv"] = _csv(classes, out / "per_class.csv")
    files |= write_summaries(whole, out / "summaries")
    files |= _figures(scores[primary], primary, artifacts, samples, out)
    points = utility_points(board, primary, baseline)
    correlations = fidelity_utility(points, options["resamples"], options["seed"])
    if len(correlations):
        files["fidelity_utility.csv"] = _csv(correlations, out / "fidelity_utility.csv")
        if correlations.spearman.notna().any():
            files["fidelity_utility.png"] = plots.fidelity_utility(
                points, correlations, primary, out / "fidelity_utility.png")
    protocol = protocol_summary(fidelity)
    strata = lesion_strata(table, manifest.get("lesion_volumes"), primary, options["resamples"],
                           options["seed"])
    if len(strata):
        files["lesion_strata.csv"] = _csv(strata, out / "lesion_strata.csv")
    if len(curve):
        files["learning_curve.csv"] = _csv(curve, out / "learning_curve.csv")
        files["learning_curve.png"] = plots.learning_curve(curve, equivalents, primary,
                                                           out / "learning_curve.png")
    files["leaderboard.md"] = _markdown(board, per_test, primary, baseline, config,
                                        out / "leaderboard.md", summary, notes, classes,
                                        correlations, protocol, curve, strata)
    files["index.html"] = write_index(out / "index.html", board, per_test, files, config,
                                      primary, baseline, summary, notes, protocol, strata)
    return files


def per_class(table: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """(method, test set, metric, class): mean and sd over cases of the seed-averaged scores."""
    rows = table[table.metric.isin(metrics)]
    per_case = rows.groupby(["method", "test_set", "metric", "class", "case"], sort=False) \
        .value.mean()
    return per_case.groupby(["method", "test_set", "metric", "class"], sort=False) \
        .agg(["mean", "std", "count"]).rename(columns={"std": "sd", "count": "cases"}) \
        .reset_index()


def write_summaries(table: pd.DataFrame, folder: Path) -> dict[str, Path]:
    """An nnU-Net v2 style ``summary.json`` per cell and test set
    (``summaries/<cell>/<test set>/summary.json``): ``metric_per_case`` (``reference_file`` and
    ``metrics`` per class), ``mean`` per class and ``foreground_mean`` over the classes. Classes
    are keyed by name, metrics by nnU-Net's names where it has one (Dice) and ours otherwise.
    Missing values (HD95 of an empty mask) are ``NaN``, as nnU-Net writes them."""
    names = {"dice": "Dice"}
    files = {}
    for (cell, test_set), part in table.groupby(["cell", "test_set"], sort=False):
        part = part.assign(metric=part.metric.map(lambda m: names.get(m, m)))
        cases = []
        for case, rows in part.groupby("case", sort=False):
            metrics = {str(k): dict(zip(g.metric, g.value.astype(float), strict=True))
                       for k, g in rows.groupby("class", sort=False)}
            cases.append({"reference_file": str(case), "metrics": metrics})
        mean = part.groupby(["class", "metric"], sort=False).value.mean()
        summary = {
            "metric_per_case": cases,
            "mean": {str(k): mean.xs(k, level="class").to_dict()
                     for k in part["class"].unique()},
            "foreground_mean": mean.groupby(level="metric", sort=False).mean().to_dict(),
        }
        path = folder / file_part(cell) / file_part(test_set) / "summary.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(summary, indent=1))
        files[f"summaries/{file_part(cell)}/{file_part(test_set)}/summary.json"] = path
    return files


def _test_set_files(per_test: dict, primary: str, alpha: float, out: Path) -> dict[str, Path]:
    """Per test set: the statistics' CSVs and figures; ``friedman.csv`` for all of them."""
    from bench import plots

    files: dict[str, Path] = {}
    friedman_rows = []
    for test_set, result in per_test.items():
        name = file_part(test_set)
        if "friedman" in result:
            f = result["friedman"]
            friedman_rows.append({"test_set": test_set, "metric": primary, **f.as_row()})
            files[f"nemenyi_{name}.csv"] = _csv(result["nemenyi"], out / f"nemenyi_{name}.csv",
                                                index=True)
            files[f"signs_{name}.csv"] = _csv(result["signs"], out / f"signs_{name}.csv",
                                              index=True)
            files[f"cd_{name}.png"] = plots.cd_diagram(f, result["nemenyi"], alpha,
                                                       out / f"cd_{name}.png")
            files[f"signs_{name}.png"] = plots.sign_heatmap(result["signs"],
                                                            out / f"signs_{name}.png")
        if "stability" in result:
            stability = result["stability"]
            files[f"stability_{name}.csv"] = _csv(
                stability.summary().assign(tau_median=np.nanmedian(stability.tau)),
                out / f"stability_{name}.csv", index=True)
            files[f"rank_blobs_{name}.png"] = plots.rank_blobs(
                stability, out / f"rank_blobs_{name}.png")
            files[f"rank_heatmap_{name}.png"] = plots.rank_heatmap(
                stability, out / f"rank_heatmap_{name}.png")
        if "paired" in result:
            files[f"paired_{name}.csv"] = _csv(result["paired"], out / f"paired_{name}.csv")
    columns = ["test_set", "metric", *stats.FriedmanResult.row_columns()]
    files["friedman.csv"] = _csv(pd.DataFrame(friedman_rows, columns=columns),
                                 out / "friedman.csv")
    return files


def _figures(scores: pd.DataFrame, primary: str, artifacts: pd.DataFrame, samples: int,
             out: Path) -> dict[str, Path]:
    from bench import plots

    name = f"{file_part(primary)}_vs_count.png"
    files = {name: plots.score_vs_count(scores, primary, out / name)}
    sample_sets = artifacts[artifacts.kind == "samples"] if not artifacts.empty else artifacts
    if len(sample_sets):
        files["samples.png"] = plots.sample_grid(sample_sets, samples, out / "samples.png")
    return files


def _csv(frame: pd.DataFrame, path: Path, index: bool = False) -> Path:
    frame.to_csv(path, index=index, float_format="%.8g")
    return path


def interval_text(row, column: str, digits: int = 3) -> str:
    """``mean [low, high]`` of a ``…_mean`` board column; ``–`` where there is no value."""
    mean = row[column]
    if pd.isna(mean):
        return "–"
    low, high = row[column.replace("_mean", "_ci_low")], row[column.replace("_mean", "_ci_high")]
    if pd.isna(low):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _markdown(board, per_test, primary, baseline, config, path: Path, fidelity: pd.DataFrame,
              notes: dict[str, str], classes: pd.DataFrame, correlations: pd.DataFrame,
              protocol: pd.DataFrame | None = None, curve: pd.DataFrame | None = None,
              strata: pd.DataFrame | None = None) -> Path:
    means = [c for c in board.columns if c.endswith(f":{primary}_mean")]
    equivs = [c for c in board.columns if c.endswith(":real_equiv")]
    resamples = config.get("report", {}).get("resamples", 1000)
    has_stability = "keeps_rank" in board.columns
    lines = [f"# {md(config.get('name', 'leaderboard'))}", "",
             f"Methods ranked by mean rank of {md(primary)} over every test case (1 = best). "
             "Values are means with 95% bootstrap intervals over cases and seeds. "
             + (f"*Keeps rank*: the share of {resamples} bootstrap resamples of the cases that "
                "give the method the same place; *rank range*: the 95% range of its place."
                if has_stability else ""), ""]
    header = ["rank", *(["keeps rank", "rank range"] if has_stability else []), "method",
              "seeds", *[md(c.replace("_mean", "")) for c in means],
              *[md(c.replace("real_equiv", "real cases ≈")) for c in equivs]]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in board.iterrows():
        cells = [f"{row['rank']:.3f}" if pd.notna(row["rank"]) else "–"]
        if has_stability:
            cells += [f"{row.keeps_rank:.0%}" if pd.notna(row.keeps_rank) else "–",
                      md(row.rank_range)]
        cells += [md(row.method), str(row.seeds), *[interval_text(row, c) for c in means],
                  *[equivalence_text(row, c) for c in equivs]]
        lines.append("| " + " | ".join(cells) + " |")
    for test_set, result in per_test.items():
        lines += ["", f"## {md(test_set)}", ""]
        lines.append(md(result["friedman"].describe()) if "friedman" in result
                     else "Too few methods or cases for the Friedman test.")
        if "stability" in result:
            tau = result["stability"].tau
            lines += ["", f"Rank stability: median Kendall's τ between {len(tau)} bootstrap "
                      f"rankings and the full one = {np.nanmedian(tau):.3f}."]
        if "paired" in result:
            lines += _baseline_markdown(result["paired"], baseline)
    lines += equivalence_markdown(curve if curve is not None else pd.DataFrame(), primary)
    lines += strata_markdown(strata if strata is not None else pd.DataFrame(), primary)
    lines += cost_markdown(board)
    lines += per_class_markdown(classes, primary)
    lines += correlation_markdown(correlations, primary)
    lines += fidelity_markdown(fidelity, notes, protocol)
    path.write_text("\n".join(lines) + "\n")
    return path


def cost_markdown(board: pd.DataFrame) -> list[str]:
    columns = [c for c in COST_COLUMNS if c in board.columns and board[c].notna().any()]
    if not columns:
        return []
    lines = ["", "## Cost", "", "| method | " + " | ".join(c.split(":", 1)[1] for c in columns)
             + " |", "|---|" + "---|" * len(columns)]
    for _, row in board.iterrows():
        lines.append(f"| {md(row.method)} | " + " | ".join(
            "–" if pd.isna(row[c]) else f"{row[c]:.4g}" for c in columns) + " |")
    lines += [""] + [f"- {c.split(':', 1)[1]}: {text}" for c, text in COST_COLUMNS.items()
                     if c in columns]
    return lines


def correlation_markdown(correlations: pd.DataFrame, primary: str) -> list[str]:
    part = correlations.dropna(subset=["spearman"]) if len(correlations) else correlations
    if part.empty:
        return []
    lines = ["", "## Does fidelity predict utility?", "",
             f"Spearman's ρ between each fidelity metric of a sample set and the {md(primary)} "
             "gain over the baseline of the methods trained on it, with a 95% bootstrap interval "
             "over the methods. Lower-is-better metrics (FID, KID, FD) predict utility when ρ "
             "is negative.", "", "| metric | test set | methods | ρ | 95% interval | p |",
             "|---|---|---|---|---|---|"]
    for _, r in part.iterrows():
        interval = "–" if pd.isna(r.ci_low) else f"[{r.ci_low:+.2f}, {r.ci_high:+.2f}]"
        lines.append(f"| {md(r.metric)} | {md(r.test_set)} | {r.points} | {r.spearman:+.3f} | "
                     f"{interval} | {r.p_value:.3g} |")
    return lines


def per_class_markdown(classes: pd.DataFrame, metric: str) -> list[str]:
    """Per class and test set, the mean of ``metric`` over cases (only with several classes)."""
    part = classes[classes.metric == metric]
    if part["class"].nunique() < 2:
        return []
    wide = part.pivot_table(index="method", columns=["test_set", "class"], values="mean",
                            sort=False)
    header = [md(f"{t}:{c}") for t, c in wide.columns]
    lines = ["", f"## Per class ({md(metric)}, mean over cases)", "",
             "| method | " + " | ".join(header) + " |", "|---|" + "---|" * len(header)]
    for method, row in wide.iterrows():
        lines.append(f"| {md(method)} | " + " | ".join(
            "–" if pd.isna(v) else f"{v:.3f}" for v in row) + " |")
    return lines


def _baseline_markdown(paired: pd.DataFrame, baseline: str) -> list[str]:
    rope = paired.rope.iloc[0] if len(paired) else 0.0
    lines = ["", f"Against the baseline {md(baseline)} (Cliff's delta: P(x > y) − P(x < y); "
             f"Bayesian signed-rank test with ROPE ±{rope:g}):", "",
             "| method | cases | mean difference | t-test p | Wilcoxon p | Cliff's δ | "
             "P(worse) | P(equivalent) | P(better) |", "|---|---|---|---|---|---|---|---|---|"]
    for _, r in paired.iterrows():
        lines.append(f"| {md(r.method)} | {r.cases} | {r.mean_difference:+.4f} | "
                     f"{r.t_test_p:.3g} | {r.wilcoxon_p:.3g} | {r.cliffs_delta:+.3f} "
                     f"({r.effect}) | {r.p_worse:.3f} | {r.p_equivalent:.3f} | "
                     f"{r.p_better:.3f} |")
    return lines


def fidelity_markdown(summary: pd.DataFrame, notes: dict[str, str],
                      protocol: pd.DataFrame | None = None) -> list[str]:
    from bench.fidelity import METRICS

    if summary.empty:
        return []
    lines = ["", "## Generated samples", "",
             "| generator | n | " + " | ".join(md(c) for c in summary.columns) + " |",
             "|---|---|" + "---|" * len(summary.columns)]
    for (generator, count), row in summary.iterrows():
        cells = [md(v) if isinstance(v, str) else f"{v:.4g}" for v in row]
        lines.append(f"| {md(generator)} | {count} | " + " | ".join(cells) + " |")
    lines += [""] + [f"- {md(m)}: {md(METRICS.get(m, m))}" for m in summary.columns]
    if notes:
        lines += ["", f"Unavailable ({UNAVAILABLE}):", ""]
        lines += [f"- {md(m)}: {md(note)}" for m, note in notes.items()]
    if protocol is not None and len(protocol):
        lines += ["", "How the distribution metrics were measured (n: real/synthetic images "
                      "compared, over views; floor n: images per real half):", "",
                  "| " + " | ".join(md(c) for c in protocol.columns) + " |",
                  "|" + "---|" * len(protocol.columns)]
        lines += ["| " + " | ".join(md(str(v)) for v in row) + " |"
                  for row in protocol.itertuples(index=False)]
    return lines
