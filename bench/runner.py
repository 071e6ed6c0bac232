"""Run a benchmark matrix into a run directory, resumably.

The driver prepares the data, fits and samples each generator once (content-addressed, see
:mod:`bench.artifacts`), then hands cells to an executor and is the only process that writes the
store. Re-running a run directory skips finished cells; cells that were interrupted are redone
(their training resumes from its last checkpoint). ``force`` starts the cells afresh.
"""

from __future__ import annotations

import json
import logging
import platform
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import pandas as pd
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bench.artifacts import ensure_fit, ensure_samples, load_samples
from bench.case import CaseSet
from bench.config import MatrixConfig
from bench.data import open_dataset
from bench.devices import resolve_device
from bench.digest import damage, seal
from bench.errors import ConfigError, DataError, UserError
from bench.experiment import Experiment, check_compatible, run_experiment
from bench.fidelity import FidelityJudge, FidelityOptions, Reference
from bench.leakage import check_no_leakage
from bench.learning_curve import check_sizes, training_cases
from bench.lesion_strata import reference_volumes
from bench.matrix import Cell, expand
from bench.plan import samples_per_count
from bench.resolve import resolve_config
from bench.runlock import RunLock
from bench.split import split_cases
from bench.store import Store
from generators.protocol import SampleContext

STORE = "results.sqlite"
SEAL = "sealed.json"  # in a cell folder: the hashes of the weights its rows came from


@dataclass
class RunData:
    parts: dict[str, CaseSet]  # real, val, test
    tests: dict[str, CaseSet]
    target: CaseSet | None
    target_val: CaseSet | None = None
    styles: dict[str, CaseSet] = field(default_factory=dict)  # generators' style sets, by spec
    per_count: dict[str, int] = field(default_factory=dict)  # samples per count, by generator

    def training_roles(self) -> dict[str, CaseSet]:
        """Every set a model or a generator learns from or is selected on, by role."""
        roles = {"training": self.parts["real"], "validation": self.parts["val"]}
        if self.target is not None:
            roles["target"] = self.target
        if self.target_val is not None:
            roles["target validation"] = self.target_val
        for spec, cases in self.styles.items():
            roles[f"style ({spec})"] = cases
        return roles


_DATA: dict[str, RunData] = {}


def prepare_data(config: MatrixConfig) -> RunData:
    """The run's data; kept per process, since every cell of a run reads the same sets."""
    key = json.dumps([config.dataset, config.split.model_dump(), config.test_sets,
                      config.target, _style_specs(config), config.match_channel_names],
                     sort_keys=True)
    if key not in _DATA:
        _DATA.clear()  # one run's data at a time
        _DATA[key] = _load_data(config)
    check_sizes(config, len(_DATA[key].parts["real"]))  # not part of the key: checked each time
    return _DATA[key]


def _load_data(config: MatrixConfig) -> RunData:
    cases = open_dataset(config.dataset)
    s = config.split
    parts = split_cases(cases, {"real": 1.0 - s.val - s.test, "val": s.val, "test": s.test},
                        s.seed)
    if s.train_cases is not None:
        if s.train_cases > len(parts["real"]):
            raise ConfigError(f"split.train_cases is {s.train_cases} but the training part "
                              f"has {len(parts['real'])} cases")
        parts["real"] = parts["real"].subset(range(s.train_cases))
    tests = {"heldout": parts["test"]} if len(parts["test"]) else {}
    for name, spec in config.test_sets.items():
        tests[name] = open_dataset(spec)
    if not tests:
        raise ConfigError("no test set: set split.test above 0 or add test_sets")
    target = target_val = None
    if config.target:
        target = open_dataset(config.target)
        if s.target_val > 0:
            held = split_cases(target, {"target": 1.0 - s.target_val, "val": s.target_val},
                               s.seed)
            target, target_val = held["target"], held["val"]
    for name, test in tests.items():
        check_compatible(parts["real"], test, f"test set '{name}'", same_labels=False,
                         same_channel_names=config.match_channel_names)
    styles = {spec: open_dataset(spec, labelled=False) for spec in _style_specs(config)}
    data = RunData(parts, tests, target, target_val, styles)
    check_no_leakage(data.training_roles(), tests)
    return data


def _style_specs(config: MatrixConfig) -> list[str]:
    return sorted({g.style for g in config.generators if g.style})


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


def run_cell(job: CellJob) -> pd.DataFrame:
    """Train and evaluate one cell; runs in the driver or in a worker process."""
    config = MatrixConfig(**job.config)
    if job.threads:
        import torch

        torch.set_num_threads(job.threads)
    folder = Path(job.run_dir) / "cells" / job.cell.key
    folder.mkdir(parents=True, exist_ok=True)
    log = logging.getLogger(f"synth2seg.cell.{job.cell.key}")
    handler = logging.FileHandler(folder / "cell.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        log.info("cell %s on %s", job.cell.method, job.device)
        data = prepare_data(config)
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
                         match_channel_names=config.match_channel_names)
        table = run_experiment(exp, sets, data.tests, folder / "model", log=log)
        table = table[table.metric.isin(config.metrics)]
        seal(folder / "model", folder / SEAL)  # the weights these rows came from
        log.info("done: %d rows", len(table))
        return table
    finally:
        log.removeHandler(handler)
        handler.close()


class Runner:
    def __init__(self, config: MatrixConfig, run_dir: Path, *, workers: int = 1,
                 force: bool = False, executor: str = "local", address: str | None = None,
                 console: Console | None = None, weights_dir: Path | None = None,
                 offline: bool = False):
        self.config, self.run_dir = config, Path(run_dir)
        self.weights_dir = weights_dir or config.fidelity.weights_dir
        self.offline = offline or config.fidelity.offline
        self.workers, self.force, self.executor, self.address = workers, force, executor, address
        self.console = console or Console()
        if executor not in ("local", "ray"):
            raise ConfigError(f"executor '{executor}': expected local or ray")

    def run(self) -> pd.DataFrame:
        """Run every unfinished cell; returns the store's cell table."""
        config = self.config
        cells = expand(config)
        device = resolve_device(config.device)
        data = prepare_data(config)  # config, data and split are checked before any write
        with RunLock(self.run_dir):
            return self._run(cells, data, device)

    def _run(self, cells: list[Cell], data: RunData, device: str) -> pd.DataFrame:
        config = self.config
        store = self._open_store(device, cells)
        try:
            store.set_manifest({"real_train_cases": len(data.parts["real"]),  # curve's last x
                                "lesion_volumes": reference_volumes(data.tests)})
            samples = self._prepare_generators(cells, data, store, device)
            done = self._intact(store.done_cells())
            todo = [c for c in cells if c.key not in done or self.force]
            self.console.print(f"[bold]{config.name}[/]: {len(cells)} cells, "
                               f"{len(cells) - len(todo)} already done, device {device}")
            jobs = [CellJob(config.model_dump(mode="json"), c, str(self.run_dir),
                            samples.get((c.generator.identity, c.seed)), device,
                            sample_count=_samples(c, data)) for c in todo]
            self._execute(jobs, store, len(cells) - len(todo), len(cells), keep=done)
            if config.fidelity.enabled and samples:
                self._measure_fidelity(cells, data, store, device, samples, redo=False)
            return store.cells()
        finally:
            store.close()

    def fidelity(self) -> pd.DataFrame:
        """(Re)measure every sample set of a finished run, e.g. once weights are provided."""
        cells = expand(self.config)
        device = resolve_device(self.config.device)
        if not (self.run_dir / STORE).exists():
            raise ConfigError(f"{self.run_dir}: not a run folder (no {STORE})")
        data = prepare_data(self.config)
        with RunLock(self.run_dir):
            return self._fidelity(cells, data, device)

    def _fidelity(self, cells: list[Cell], data: RunData, device: str) -> pd.DataFrame:
        store = self._open_store(device, cells)
        try:
            samples = self._prepare_generators(cells, data, store, device)
            self._measure_fidelity(cells, data, store, device, samples, redo=True)
            return store.fidelity()
        finally:
            store.close()

    # ---------------------------------------------------------------------------------------
    def _open_store(self, device: str, cells: list[Cell]) -> Store:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        store = Store(self.run_dir / STORE)
        previous = store.manifest().get("config_hash")
        holds_results = len(store.cells()) > 0 or len(store.artifacts()) > 0
        if self.force:  # cells of this matrix are replaced one by one, as their redo finishes
            store.forget_cells(keep={c.key for c in cells})
        elif previous is not None and previous != self.config.key() and holds_results:
            store.close()
            raise ConfigError(f"{self.run_dir}: this run folder holds results of another config "
                              "(use another --out, or --force to start its cells afresh)")
        store.set_manifest({"config": self.config.model_dump(mode="json"),
                            "config_hash": self.config.key(),
                            "components": resolve_config(self.config).manifest(),
                            "versions": _versions(),
                            "code_version": _code_version(), "python": platform.python_version(),
                            "device": device})
        (self.run_dir / "config.yaml").write_text(
            yaml.safe_dump(self.config.model_dump(mode="json"), sort_keys=False))
        return store

    def _prepare_generators(self, cells: list[Cell], data: RunData, store: Store,
                            device: str) -> dict[tuple[str, int], str]:
        """Fit each generator once per seed and sample it once at the largest count.

        Returns the sample folder of each (generator identity, seed).
        """
        needed: dict[tuple[str, int], tuple] = {}
        for cell in cells:
            if cell.count == 0:
                continue
            key = (cell.generator.identity, cell.seed)
            largest = max(_samples(cell, data), needed.get(key, (None, 0))[1])
            needed[key] = (cell.generator, largest)
        artifacts = self.run_dir / "artifacts"
        out = {}
        ctx_channels = list(data.parts["real"].channels)
        for (identity, seed), (generator, count) in needed.items():
            self.console.print(f"generator {generator.label} (seed {seed}): fit, then {count} "
                               "samples")
            fit = ensure_fit(generator, data.parts["real"], seed, artifacts, store, device)
            style = data.styles.get(generator.style)
            channels = ctx_channels if style is None or self.config.match_channel_names \
                else list(style.channels)  # another sequence: images in the style's channels
            ctx = SampleContext(seed=self.config.sample_seed + seed, device=device, style=style,
                                lesion_ratio=self.config.lesion_fraction, channels=channels)
            folder = ensure_samples(generator, fit, count, ctx, artifacts, store,
                                    data.parts["real"], self.config.match_channel_names)
            out[(identity, seed)] = str(folder)
        return out

    def _measure_fidelity(self, cells: list[Cell], data: RunData, store: Store, device: str,
                          samples: dict[tuple[str, int], str], redo: bool) -> None:
        """Fidelity rows for every sample set and count of the matrix that has none yet."""
        counts: dict[tuple[str, int], set[int]] = {}
        labels = {c.generator.identity: c.generator.label for c in cells}
        per_count = {c.generator.identity: _samples(c, data) // c.count for c in cells if c.count}
        for cell in cells:
            if cell.count:
                counts.setdefault((cell.generator.identity, cell.seed), set()).add(cell.count)
        todo = {}
        for (identity, seed), folder in samples.items():
            key = Path(folder).name
            missing = counts[(identity, seed)] - (set() if redo else store.fidelity_counts(key))
            if missing:
                todo[(labels[identity], seed)] = (folder, sorted(missing), per_count[identity])
        if not todo:
            return
        f = self.config.fidelity
        options = FidelityOptions(weights_dir=self.weights_dir, max_images=f.max_images,
                                  pairs=f.pairs, near_copy=f.near_copy, seed=f.seed,
                                  device=device, extractors=tuple(f.extractors),
                                  planes=tuple(f.planes), nearest_k=f.nearest_k,
                                  offline=self.offline)
        reference, note = self.real_only_reference(cells, store, device)
        heldout = data.parts["test"] if len(data.parts["test"]) else data.parts["val"]
        judge = FidelityJudge(data.parts["real"], heldout, options, reference, note)
        for (label, seed), (folder, wanted, factor) in todo.items():
            self.console.print(f"fidelity of {label} (seed {seed}) at n = "
                               f"{', '.join(map(str, wanted))}")
            sizes = [n * factor for n in wanted]  # counts in cases measure their samples
            rows = judge.measure(load_samples(Path(folder), max(sizes)), sizes)
            for count, size in zip(wanted, sizes, strict=True):
                store.record_fidelity(Path(folder).name, label, seed, count, rows[size])
            missing: dict[str, list[str]] = {}  # one line per reason
            for row in rows[max(sizes)]:
                if row.value is None:
                    missing.setdefault(row.note, []).append(row.metric)
            for note, metrics in missing.items():
                self.console.print(f"  [yellow]{', '.join(metrics)} unavailable[/]: {note}")

    def real_only_reference(self, cells: list[Cell], store: Store, device: str
                   ) -> tuple[Reference | None, str | None]:
        """The finished real-only cell (no augmentation first, lowest seed) of a MONAI net."""
        done = store.done_cells()
        candidates = sorted(
            (c for c in cells if c.count == 0 and c.strategy.name == "real" and c.key in done
             and c.train_cases is None),
            key=lambda c: (c.strategy.augment != "none", c.seed))
        for cell in candidates:
            seg = cell.segmenter.build()
            if hasattr(seg, "network"):
                folder = self.run_dir / "cells" / cell.key / "model"
                reason = damage(folder, folder.parent / SEAL) \
                    if (folder.parent / SEAL).exists() else None
                if reason is not None:
                    return None, f"{reason}: run 'synth2seg run' on this folder to retrain it"
                try:
                    model = seg.load(folder)
                    seg.network(model)  # damaged weights show here, as a note
                except (FileNotFoundError, KeyError, DataError):
                    return None, (f"{folder} holds no loadable model (written by an older "
                                  "version?): redo that cell with --force")
                return Reference(seg, model, f"{cell.method} (seed {cell.seed})", device), None
        if candidates:
            return None, ("the real-only segmenters of this matrix (nnU-Net) expose no encoder: "
                          "add a MONAI segmenter with strategy 'real'")
        return None, "no finished real-only cell to take the segmenter from: add strategy 'real'"

    def _intact(self, done: set[str]) -> set[str]:
        """Finished cells whose weights are still whole (sizes as recorded: cheap for a large
        run; the fidelity reference is checked by hash); a damaged cell's weights are removed,
        so that it trains afresh."""
        intact = set()
        for key in done:
            folder = self.run_dir / "cells" / key
            reason = damage(folder / "model", folder / SEAL, quick=True) \
                if (folder / SEAL).exists() else None
            if reason is None:
                intact.add(key)
                continue
            self.console.print(f"[yellow]cell {key}[/]: {reason}; training it again")
            shutil.rmtree(folder / "model", ignore_errors=True)
        return intact

    def _execute(self, jobs: list[CellJob], store: Store, done: int, total: int,
                 keep: set[str] = frozenset()) -> None:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn())
        failures = []
        with Progress(*columns, console=self.console, transient=False) as progress:
            task = progress.add_task("cells", total=total, completed=done)
            for job, started, result in self._results(jobs, progress, task):
                if isinstance(result, UserError):
                    raise result
                if isinstance(result, BaseException) and job.cell.key in keep:
                    failures.append((job.cell, result))  # its finished rows stay
                elif isinstance(result, BaseException):
                    store.fail_cell(job.cell, f"{type(result).__name__}: {result}", started,
                                    job.device)
                    failures.append((job.cell, result))
                else:
                    store.commit_cell(job.cell, result, started, job.device)
                progress.advance(task)
        for cell, error in failures:
            self.console.print(f"[red]failed[/] {cell.method}: {type(error).__name__}: {error} "
                               f"(log: {self.run_dir / 'cells' / cell.key / 'cell.log'})")

    def _results(self, jobs, progress, task):
        """(job, start time, rows or exception) as cells finish, from the chosen executor."""
        if self.executor == "ray":
            from bench.executors import ray_results

            yield from ray_results(jobs, self.address, progress, task)
            return
        if self.workers <= 1:
            for job in jobs:
                progress.update(task, description=f"cells · {job.cell.method}")
                started = time.time()
                try:
                    yield job, started, run_cell(job)
                except Exception as exc:  # a failed cell is recorded; the run goes on
                    yield job, started, exc
            return
        from bench.executors import local_pool_results

        yield from local_pool_results(jobs, self.workers, progress, task)


def _samples(cell: Cell, data: RunData) -> int:
    """The number of samples a cell trains on: its count, in cases or samples."""
    identity = cell.generator.identity
    if identity not in data.per_count:
        data.per_count[identity] = samples_per_count(cell.generator, data.parts["real"])
    return cell.count * data.per_count[identity]


def _versions() -> dict[str, str]:
    out = {}
    for package in ("synth2seg", "torch", "monai", "nnunetv2", "numpy"):
        try:
            out[package] = version(package)
        except Exception:
            out[package] = "not installed"
    return out


def _code_version() -> str:
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                              text=True, cwd=Path(__file__).parent, timeout=5).stdout.strip()
    except Exception:
        return "unknown"
