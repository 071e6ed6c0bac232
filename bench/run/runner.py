"""Run a benchmark matrix into a run directory, resumably.

The driver prepares the data, fits and samples each generator once (content-addressed, see
:mod:`bench.run.artifacts`), then hands cells to an executor and is the only process that writes the
store. Re-running a run directory skips finished cells; cells that were interrupted are redone
(their training resumes from its last checkpoint). ``force`` starts the cells afresh.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import time
from importlib.metadata import version
from pathlib import Path

import pandas as pd
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from bench.api.case import CaseSet
from bench.api.errors import ConfigError, DataError, UserError
from bench.api.generator import SampleContext
from bench.api.segmenter import ExposesEncoder
from bench.data import geometry
from bench.data.lesions import reference_volumes
from bench.data.normalisation import plan_normalisation
from bench.fidelity.catalogue import FidelityOptions
from bench.fidelity.judge import FidelityJudge
from bench.fidelity.reference import Reference
from bench.run.artifacts import check_sources, ensure_fit, ensure_samples, load_samples
from bench.run.cell import Cell
from bench.run.config import MatrixConfig
from bench.run.devices import resolve_device
from bench.run.digest import damage
from bench.run.executors import ExecutorOptions, get_executor
from bench.run.matrix import expand
from bench.run.plan import samples_per_count
from bench.run.resolve import Resolved, config_key, resolve_config
from bench.run.rundata import RunData, prepare_data
from bench.run.runlock import RunLock
from bench.run.store import STORE, Store
from bench.run.worker import SEAL, CellJob


class Runner:
    def __init__(self, config: MatrixConfig, run_dir: Path, *, workers: int = 1,
                 force: bool = False, executor: str = "local", address: str | None = None,
                 console: Console | None = None, weights_dir: Path | None = None,
                 offline: bool = False):
        self.config, self.run_dir = config, Path(run_dir)
        self.weights_dir = weights_dir or config.fidelity.weights_dir
        self.offline = offline or config.fidelity.offline
        self.workers, self.force, self.executor, self.address = workers, force, executor, address
        self.console = console or Console(markup=False, emoji=False, highlight=False)
        get_executor(executor)  # an unknown name fails before anything runs
        self.data: RunData | None = None
        self.resolved: Resolved | None = None  # set by run() / fidelity(), before the store

    def run(self) -> pd.DataFrame:
        """Run every unfinished cell; returns the store's cell table."""
        config = self.config
        with RunLock(self.run_dir):  # a second driver is refused before any data is read
            self.resolved = resolve_config(config)  # once: folders' contents are hashed here
            cells = expand(config, self.resolved)
            device = resolve_device(config.device)
            data = self.data = prepare_data(config)  # checked before anything is written
            check_sources(tuple(dict.fromkeys(c.generator for c in cells if c.count)),
                          data.parts["real"], data.tests, config.match_channel_names)
            return self._run(cells, data, device)

    def _run(self, cells: list[Cell], data: RunData, device: str) -> pd.DataFrame:
        config = self.config
        store = self._open_store(device, cells)
        try:
            store.set_manifest({"real_train_cases": len(data.parts["real"]),  # curve's last x
                                "lesion_volumes": reference_volumes(data.tests),
                                **data_preparation(data.parts["real"])})
            samples = self._prepare_generators(cells, data, store, device)
            done = self._intact(store.done_cells())
            todo = [c for c in cells if c.key not in done or self.force]
            self.console.print(Text.assemble(
                (config.name, "bold"), f": {len(cells)} cells, {len(cells) - len(todo)} "
                f"already done, device {device}"))
            jobs = [CellJob(config.model_dump(mode="json"), c, str(self.run_dir),
                            samples.get((c.generator.identity, c.seed)), device,
                            sample_count=_samples(c, data), fresh=self.force) for c in todo]
            self._execute(jobs, store, len(cells) - len(todo), len(cells), keep=done)
            if config.fidelity.enabled and samples:
                self._measure_fidelity(cells, data, store, device, samples, redo=False)
            return store.cells()
        finally:
            store.close()

    def fidelity(self) -> pd.DataFrame:
        """(Re)measure every sample set of a finished run, e.g. once weights are provided."""
        if not (self.run_dir / STORE).exists():
            raise ConfigError(f"{self.run_dir}: not a run folder (no {STORE})")
        with RunLock(self.run_dir):
            self.resolved = resolve_config(self.config)
            cells = expand(self.config, self.resolved)
            device = resolve_device(self.config.device)
            data = prepare_data(self.config)
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
        resolved = self.resolved
        key = config_key(self.config, resolved)  # a moved folder of samples is the same config
        holds_results = len(store.cells()) > 0 or len(store.artifacts()) > 0
        if self.force:  # cells of this matrix are replaced one by one, as their redo finishes
            store.forget_cells(keep={c.key for c in cells})
        elif previous is not None and previous != key and holds_results:
            store.close()
            raise ConfigError(f"{self.run_dir}: this run folder holds results of another config "
                              "(use another --out, or --force to start its cells afresh)")
        store.set_manifest({"config": self.config.model_dump(mode="json"),
                            "config_hash": key, "components": resolved.manifest(),
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
            made = "fit" if generator.source is None else "read from " + generator.source
            self.console.print(f"generator {generator.label} (seed {seed}): {made}, then "
                               f"{count} samples")
            fit = ensure_fit(generator, data.fit_data(generator.fit_data), seed, artifacts,
                             store, device)
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
        fit_data = {c.generator.label: c.generator.fit_data for c in cells}
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
            rows = judge.measure(load_samples(Path(folder), max(sizes)), sizes, fit_data[label])
            for count, size in zip(wanted, sizes, strict=True):
                store.record_fidelity(Path(folder).name, label, seed, count, rows[size])
            missing: dict[str, list[str]] = {}  # one line per reason
            for row in rows[max(sizes)]:
                if row.value is None:
                    missing.setdefault(row.note, []).append(row.metric)
            for note, metrics in missing.items():
                self.console.print(Text.assemble(
                    (f"  {', '.join(metrics)} unavailable", "yellow"), f": {note}"))

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
            if isinstance(seg, ExposesEncoder):
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
            self.console.print(Text.assemble((f"cell {key}", "yellow"),
                                             f": {reason}; training it again"))
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
                done += 1
                if not self.console.is_terminal:  # a log or a pipe: one plain line per cell
                    state = "failed" if isinstance(result, BaseException) else "done"
                    self.console.print(f"cell {done}/{total} {state}: {job.cell.method}, seed "
                                       f"{job.cell.seed} ({time.time() - started:.0f} s)")
        for cell, error in failures:
            self.console.print(Text.assemble(
                ("failed", "red"), f" {cell.method}: {type(error).__name__}: {error} "
                f"(log: {self.run_dir / 'cells' / cell.key / 'cell.log'})"))

    def _results(self, jobs, progress, task):
        """(job, start time, rows or exception) as cells finish, from the chosen executor."""
        options = ExecutorOptions(self.workers, self.address, self.data)
        yield from get_executor(self.executor)(jobs, options, progress, task)


def _samples(cell: Cell, data: RunData) -> int:
    """The number of samples a cell trains on: its count, in cases or samples."""
    identity = cell.generator.identity
    if identity not in data.per_count:
        data.per_count[identity] = samples_per_count(cell.generator, data.parts["real"])
    return cell.count * data.per_count[identity]


def data_preparation(real: CaseSet) -> dict:
    """What the manifest records of how cases were prepared: the geometry plan (target spacing,
    slicing axis) and the intensity normalisation of each channel (with CT's statistics)."""
    plan = geometry.plan_of(real)
    return {"geometry": None if plan is None else plan.as_dict(),
            "normalisation": plan_normalisation(real)}


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

