"""One cell in a worker: load the run's data, train, evaluate, seal the weights.

A worker never touches the store; the driver commits what ``run_cell`` returns."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.run.artifacts import load_samples
from bench.run.cell import Cell
from bench.run.config import MatrixConfig
from bench.run.digest import seal
from bench.run.experiment import Experiment, run_experiment
from bench.run.learning_curve import training_cases
from bench.run.rundata import RunData, prepare_data
from metrics.segmentation import PENALISED

SEAL = "sealed.json"  # in a cell folder: the hashes of the weights its rows came from


@dataclass
class CellJob:
    """Everything a worker needs, picklable: it loads its data itself."""

    config: dict
    cell: Cell
    run_dir: str
    samples: str | None
    device: str
    sample_count: int | None = None  # samples the cell's count stands for (count_unit)
    threads: int | None = None  # torch CPU threads; results are bitwise equal for equal counts
    # train from scratch (--force): a finished cell's checkpoints are removed first, else its
    # training would resume at its last step and the "redo" would re-score the old weights
    fresh: bool = False


def run_cell(job: CellJob, data: RunData | None = None) -> pd.DataFrame:
    """Train and evaluate one cell; runs in the driver (which passes the run's ``data``) or in a
    worker process (which loads it)."""
    config = MatrixConfig(**job.config)
    if job.threads:
        import torch

        torch.set_num_threads(job.threads)
    folder = Path(job.run_dir) / "cells" / job.cell.key
    if job.fresh:
        shutil.rmtree(folder / "model", ignore_errors=True)
        (folder / SEAL).unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    log = logging.getLogger(f"synth2seg.cell.{job.cell.key}")
    handler = logging.FileHandler(folder / "cell.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        log.info("cell %s on %s", job.cell.method, job.device)
        data = data or prepare_data(config)
        sets = {"real": training_cases(data.parts["real"], job.cell, config)}
        if len(data.parts["val"]):
            sets["val"] = data.parts["val"]
        if job.samples is not None:
            sets["synthetic"] = load_samples(Path(job.samples),
                                             job.sample_count or job.cell.count)
        if data.target is not None:
            sets["target"] = data.target
        if data.target_val is not None:
            sets["target_val"] = data.target_val
        seg = job.cell.segmenter
        exp = Experiment(seg.name, job.cell.strategy, None, seg.params, job.cell.seed,
                         job.device, hd95="hd95" in config.metrics,
                         nsd=config.nsd_tolerance if "nsd" in config.metrics else None,
                         hd95_worst=config.hd95_worst_mm,
                         match_channel_names=config.match_channel_names)
        table = run_experiment(exp, sets, data.tests, folder / "model", log=log)
        # the HD95 penalty flags go with HD95: every table counts the worst-case values
        kept = [*config.metrics, *([PENALISED] if "hd95" in config.metrics else [])]
        table = table[table.metric.isin(kept)]
        seal(folder / "model", folder / SEAL)  # the weights these rows came from
        log.info("done: %d rows", len(table))
        return table
    finally:
        log.removeHandler(handler)
        handler.close()
