"""A run's store turned into a leaderboard folder: CSV, Markdown, statistics, plots, HTML.

A *method* is a cell without its seed (generator, count, strategy, augmentation, segmenter), named
by the ``method`` id the store holds. Its score on a test case is the mean over classes of the
metric, averaged over seeds; statistics compare methods over the cases of each test set (blocks =
cases). Lower-is-better metrics (HD95) are negated for ranking, so rank 1 is always the best.
Every mean comes with a 95% bootstrap interval over cases and seeds
(:mod:`bench.report.uncertainty`), every ranking with its bootstrap stability
(:mod:`bench.report.ranking`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from bench.api.errors import DataError
from bench.data.csvcells import write_csv
from bench.report import stats
from bench.report.columns import (
    add_cost,
    add_fidelity,
    fidelity_summary,
    protocol_summary,
    unavailable_notes,
)
from bench.report.correlation import fidelity_utility, utility_points
from bench.report.folder import claim_folder, write_folder
from bench.report.lesion_strata import lesion_strata
from bench.report.markdown import write_markdown
from bench.report.markup import file_part, portable
from bench.report.provenance import generator_table
from bench.report.real_equivalence import add_real_equivalence, equivalence, split_curve
from bench.report.stopping import stop_summary, stopping, with_stop_columns
from bench.report.tables import (
    default_baseline,
    leaderboard,
    per_class,
    scored,
    seed_mean,
    seed_scores,
    spec_of,
    test_set_statistics,
)
from bench.report.value import Leaderboard
from bench.run.store import Store


def write_report(run_dir: Path, out: Path, samples: int = 6,
                 unsealed: bool = False) -> dict[str, Path]:
    """Everything a leaderboard folder holds; returns the files by role.

    ``out`` must be empty, absent or an earlier leaderboard (:mod:`bench.report.folder`); the
    store's cells must match their seals (``unsealed`` accepts cells written before seals).
    """
    run_dir, out = Path(run_dir), Path(out)
    claim_folder(out)
    with Store.existing(run_dir) as store:
        store.check_seals(allow_unsealed=unsealed)
        table, manifest = store.case_metrics(), store.manifest()
        cells, artifacts, fidelity = store.cells(), store.artifacts(), store.fidelity()
    if table.empty:
        raise DataError(f"{run_dir}: no finished cells to report yet")
    if "note" in fidelity.columns:  # e.g. where to put weights that could not be fetched
        fidelity = fidelity.assign(note=fidelity.note.map(
            lambda n: portable(n) if isinstance(n, str) else n))
    return write_folder(out, lambda folder: _write(folder, table, manifest, cells, artifacts,
                                                   fidelity, samples))


def _write(out: Path, table: pd.DataFrame, manifest: dict, cells: pd.DataFrame,
           artifacts: pd.DataFrame, fidelity: pd.DataFrame, samples: int) -> dict[str, Path]:
    """The leaderboard's files, written into the fresh folder ``out``."""
    from bench.report import plots
    from bench.report.html import write_index

    value, per_seed, points, equivalents = build(table, manifest, cells, artifacts, fidelity)
    primary = value.primary
    files: dict[str, Path] = {"leaderboard.csv": _csv(value.board, out / "leaderboard.csv")}
    if len(fidelity):
        files["fidelity.csv"] = _csv(fidelity, out / "fidelity.csv")
    files |= _test_set_files(value.per_test, primary, value.alpha, out)
    files["cells.csv"] = _csv(with_stop_columns(cells), out / "cells.csv")
    files["per_class.csv"] = _csv(value.classes, out / "per_class.csv")
    files |= write_summaries(table, out / "summaries")
    files |= _figures(seed_mean(per_seed), primary, artifacts, samples, out)
    if len(value.correlations):
        files["fidelity_utility.csv"] = _csv(value.correlations, out / "fidelity_utility.csv")
        if value.correlations.spearman.notna().any():
            files["fidelity_utility.png"] = plots.fidelity_utility(
                points, value.correlations, primary, out / "fidelity_utility.png")
    if len(value.strata):
        files["lesion_strata.csv"] = _csv(value.strata, out / "lesion_strata.csv")
    if len(value.curve):
        files["learning_curve.csv"] = _csv(value.curve, out / "learning_curve.csv")
        files["learning_curve.png"] = plots.learning_curve(value.curve, equivalents, primary,
                                                           out / "learning_curve.png")
    if len(value.generators):
        files["generators.csv"] = _csv(value.generators, out / "generators.csv")
    files["leaderboard.md"] = write_markdown(value, out / "leaderboard.md")
    files["index.html"] = write_index(value, out / "index.html", files)
    return files


def build(whole: pd.DataFrame, manifest: dict, cells: pd.DataFrame, artifacts: pd.DataFrame,
          fidelity: pd.DataFrame) -> tuple[Leaderboard, pd.DataFrame, pd.DataFrame,
                                           pd.DataFrame]:
    """Every table of the leaderboard, from the store's contents (``whole``: the per-case rows,
    the learning curve's cells included); also the primary metric's per-seed scores, the
    fidelity-utility points and the real-data equivalents that the figures draw."""
    table = split_curve(whole)[0]  # the learning curve's cells are no leaderboard rows
    config = manifest.get("config", {})
    metrics = [m for m in scored(config.get("metrics", sorted(table.metric.unique())))
               if m in set(table.metric)]
    primary = config.get("primary_metric", "dice")
    alpha = config.get("alpha", 0.05)
    options = {"resamples": 1000, "rope": 0.01, "seed": 0, **config.get("report", {})}
    baseline = config.get("baseline") or default_baseline(table)
    per_seed = {metric: seed_scores(table, metric) for metric in dict.fromkeys([*metrics, primary])}
    summary = fidelity_summary(fidelity)
    board = add_fidelity(leaderboard(table, per_seed, primary, options["resamples"],
                                     options["seed"]), summary)
    board = add_cost(board, cells, artifacts)
    curve, equivalents = equivalence(whole, primary, manifest.get("real_train_cases"),
                                     spec_of(primary).lower_is_better, options["resamples"],
                                     options["seed"], rope=options["rope"])
    board = add_real_equivalence(board, equivalents)
    points = utility_points(board, primary, baseline)
    value = Leaderboard(
        config=config, primary=primary, baseline=baseline, alpha=alpha, board=board,
        per_test=test_set_statistics(per_seed[primary], primary, baseline, alpha,
                                     options["rope"], options["resamples"], options["seed"]),
        classes=per_class(table, metrics), fidelity=summary,
        notes=unavailable_notes(fidelity) if len(fidelity) else {},
        protocol=protocol_summary(fidelity),
        correlations=fidelity_utility(points, options["resamples"], options["seed"]),
        curve=curve, strata=lesion_strata(table, manifest.get("lesion_volumes"), primary),
        generators=generator_table(manifest), stopping=stopping(cells),
        stopping_note=stop_summary(cells))
    return value, per_seed[primary], points, equivalents


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
    from bench.report import plots

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
    from bench.report import plots

    name = f"{file_part(primary)}_vs_count.png"
    files = {name: plots.score_vs_count(scores, primary, out / name)}
    sample_sets = artifacts[artifacts.kind == "samples"] if not artifacts.empty else artifacts
    if len(sample_sets):
        files["samples.png"] = plots.sample_grid(sample_sets, samples, out / "samples.png")
    return files


def _csv(frame: pd.DataFrame, path: Path, index: bool = False) -> Path:
    """Text cells a spreadsheet would run as formulas are neutralised (see csvcells)."""
    return write_csv(frame, path, index=index, float_format="%.8g")
