"""A committed leaderboard read back as the store's long table: per cell, test set, case, class
and metric, from ``cells.csv`` and the nnU-Net style ``summaries/<cell>/<test set>/summary.json``
that every report writes. Replication reads these, not a run folder, so anyone with the
repository can check a verdict."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from bench.api.errors import DataError
from bench.data.csvcells import read_csv
from bench.report.markup import file_part

NAMES = {"Dice": "dice"}  # summary.json keys that nnU-Net names, back to ours


def case_table(folder: Path) -> pd.DataFrame:
    """Rows (method, seed, test_set, case, class, metric, value) of every done cell."""
    folder = Path(folder)
    cells_csv = folder / "cells.csv"
    if not cells_csv.is_file():
        raise DataError(f"{cells_csv}: missing (a leaderboard folder written by synth2seg report)")
    cells = read_csv(cells_csv)
    cells = cells[cells.status == "done"]
    rows = []
    for cell in cells.itertuples():
        for summary in _summaries(folder / "summaries", str(cell.key)):
            test_set = summary.parent.name  # the paper presets' test-set names are file names
            for case in json.loads(summary.read_text())["metric_per_case"]:
                for klass, metrics in case["metrics"].items():
                    for metric, value in metrics.items():
                        rows.append((cell.method, int(cell.seed), test_set,
                                     case["reference_file"], klass, NAMES.get(metric, metric),
                                     value))
    if not rows:
        raise DataError(f"{folder}: no per-case summaries of done cells under summaries/")
    return pd.DataFrame(rows, columns=["method", "seed", "test_set", "case", "class", "metric",
                                       "value"])


def _summaries(root: Path, key: str) -> list[Path]:
    """The cell's summary files, whichever way the report that wrote them named its folder."""
    for name in dict.fromkeys([file_part(key), re.sub(r"[^A-Za-z0-9_.-]", "_", key).strip(".")]):
        if (root / name).is_dir():
            return sorted((root / name).glob("*/summary.json"))
    return []
