"""Fidelity and cost columns beside the leaderboard's scores, and notes for missing values."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

UNAVAILABLE = "n/a"  # a fidelity metric that could not be computed (pandas reads it as NaN)


def fidelity_summary(fidelity: pd.DataFrame) -> pd.DataFrame:
    """(generator, count) x metric: the mean over seeds, or ``n/a`` where no value exists."""
    from bench.fidelity.catalogue import METRICS

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
    from bench.fidelity.catalogue import EXTRACTORS

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
