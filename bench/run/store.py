"""The results store: one SQLite file per run directory.

Only the driver process writes (workers return their rows), in WAL mode so that ``synth2seg
status`` can read while a run writes. A cell is committed whole, its status and all its rows in
one transaction, or not at all: a run killed at any moment leaves only complete cells behind.

A run folder may be shared, so the file is not trusted: on opening, any schema object synth2seg
did not create (a trigger that rewrites rows as they are written, a view, another table or
index) is refused before a statement runs, and each cell's row in ``cells`` and all its per-case
rows are sealed with a SHA-256 (``cells.seal``) that ``report`` checks (:meth:`Store.check_seals`),
so an edited, added or deleted value is found instead of flipping a ranking. The seal finds edits,
not a forger: whoever can write the file can also recompute a digest.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path

import pandas as pd

from bench.api.errors import DataError

SCHEMA = """
CREATE TABLE IF NOT EXISTS manifest (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cells (
    key TEXT PRIMARY KEY, method TEXT NOT NULL, generator TEXT NOT NULL, count INTEGER NOT NULL,
    strategy TEXT NOT NULL, augment INTEGER NOT NULL, segmenter TEXT NOT NULL,
    seed INTEGER NOT NULL, status TEXT NOT NULL, started REAL, finished REAL, seconds REAL,
    device TEXT, error TEXT, method_id TEXT, train_cases INTEGER, seal TEXT, training TEXT);
CREATE TABLE IF NOT EXISTS case_metrics (
    cell TEXT NOT NULL REFERENCES cells(key), test_set TEXT NOT NULL, "case" TEXT NOT NULL,
    metric TEXT NOT NULL, class TEXT NOT NULL, value REAL);
CREATE INDEX IF NOT EXISTS case_metrics_cell ON case_metrics(cell);
CREATE TABLE IF NOT EXISTS fidelity (
    generator_key TEXT NOT NULL, generator TEXT NOT NULL, seed INTEGER NOT NULL,
    count INTEGER NOT NULL, metric TEXT NOT NULL, value REAL, note TEXT,
    extractor TEXT, weights_sha256 TEXT, preprocessing TEXT, views TEXT, n_real INTEGER,
    n_fake INTEGER, PRIMARY KEY (generator_key, count, metric));
CREATE TABLE IF NOT EXISTS artifacts (
    key TEXT PRIMARY KEY, kind TEXT NOT NULL, path TEXT NOT NULL, bytes INTEGER,
    builds INTEGER NOT NULL DEFAULT 0, label TEXT);
"""


# every schema object synth2seg creates; SQLite's own (autoindexes of keys, statistics) aside
OBJECTS = {("table", name) for name in ("manifest", "cells", "case_metrics", "fidelity",
                                        "artifacts")} | {("index", "case_metrics_cell")}
INTERNAL = ("sqlite_autoindex_", "sqlite_stat", "sqlite_sequence")
# what a seal covers of a cell's row: everything but the seal (``training`` only where recorded:
# rows sealed before it was have none, and their seals stay valid)
SEALED = ("key", "method", "method_id", "generator", "count", "strategy", "augment", "segmenter",
          "seed", "train_cases", "status", "started", "finished", "seconds", "device", "error",
          "training")
# the attrs key of a cell's rows (bench.run.experiment) that holds the segmenter's training
# record, per stage: steps, cap, and whether a plateau or the cap stopped it (JSON in ``training``)
TRAINING = "training"

PROTOCOL_COLUMNS = {"extractor": "TEXT", "weights_sha256": "TEXT", "preprocessing": "TEXT",
                    "views": "TEXT", "n_real": "INTEGER", "n_fake": "INTEGER"}


STORE = "results.sqlite"


class Store:
    """The run's SQLite file; use as ``with Store(path) as store:`` so it is always closed."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=30)
        try:
            self._check_schema()
        except BaseException:
            self.db.close()
            raise
        self.db.execute("PRAGMA journal_mode=WAL")
        self._drop_old_fidelity()
        self.db.executescript(SCHEMA)
        self._add_method_id()
        self._add_protocol_columns()

    def _check_schema(self) -> None:
        """Refuse a file holding schema objects synth2seg did not create, before any statement
        could fire a trigger; functions with side effects are barred from the schema anyway."""
        try:
            self.db.execute("PRAGMA trusted_schema = OFF")
            found = self.db.execute("SELECT type, name FROM sqlite_master").fetchall()
        except sqlite3.DatabaseError as exc:
            raise DataError(f"{self.path}: not a synth2seg results store ({exc})") from None
        foreign = [(kind, name) for kind, name in found
                   if (kind, name) not in OBJECTS and not name.startswith(INTERNAL)]
        if foreign:
            listed = ", ".join(f"{kind} '{name}'" for kind, name in foreign[:5])
            raise DataError(f"{self.path}: holds schema objects synth2seg did not create "
                            f"({listed}); refusing to open it")

    def _drop_old_fidelity(self) -> None:
        """Stores written before fidelity was measured have an empty table of another shape."""
        columns = {r[1] for r in self.db.execute("PRAGMA table_info(fidelity)")}
        if columns and "generator" not in columns:
            with self.db:
                self.db.execute("DROP TABLE fidelity")

    def _add_method_id(self) -> None:
        """Stores written before methods had identities (or learning curves: ``train_cases``,
        seals, training records) lack the columns; their rows get NULL."""
        columns = {r[1] for r in self.db.execute("PRAGMA table_info(cells)")}
        with self.db:
            for name, kind in (("method_id", "TEXT"), ("train_cases", "INTEGER"),
                               ("seal", "TEXT"), ("training", "TEXT")):
                if name not in columns:
                    self.db.execute(f"ALTER TABLE cells ADD COLUMN {name} {kind}")

    def _add_protocol_columns(self) -> None:
        """Stores written before fidelity rows recorded their protocol get its (empty) columns."""
        columns = {r[1] for r in self.db.execute("PRAGMA table_info(fidelity)")}
        with self.db:
            for name, kind in PROTOCOL_COLUMNS.items():
                if name not in columns:
                    self.db.execute(f"ALTER TABLE fidelity ADD COLUMN {name} {kind}")

    @classmethod
    def existing(cls, run_dir: Path) -> Store:
        """The store of a run folder that must already exist (reports and status never create
        one)."""
        path = Path(run_dir) / STORE
        if not path.exists():
            raise DataError(f"{run_dir}: not a run folder (no {STORE})")
        if not path.is_file():
            raise DataError(f"{path}: is not a file (expected a synth2seg results store)")
        _check_intact(path)
        return cls(path)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # manifest -----------------------------------------------------------------------------
    def set_manifest(self, values: dict) -> None:
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO manifest VALUES (?, ?)",
                                [(k, json.dumps(v)) for k, v in values.items()])

    def manifest(self) -> dict:
        return {k: json.loads(v) for k, v in self.db.execute("SELECT key, value FROM manifest")}

    # cells --------------------------------------------------------------------------------
    def done_cells(self) -> set[str]:
        rows = self.db.execute("SELECT key FROM cells WHERE status = 'done'")
        return {r[0] for r in rows}

    def commit_cell(self, cell, rows: pd.DataFrame, started: float, device: str) -> None:
        """The cell's status, training record (``rows.attrs[TRAINING]``) and every per-case
        row, in one transaction."""
        columns = ["test_set", "case", "metric", "class", "value"]
        records = [(cell.key, t, str(c), m, k, _float(v))
                   for t, c, m, k, v in rows[columns].itertuples(index=False, name=None)]
        training = rows.attrs.get(TRAINING)
        self._write_cell(cell, "done", started, device, None, records,
                         None if training is None else json.dumps(training))

    def fail_cell(self, cell, error: str, started: float, device: str) -> None:
        self._write_cell(cell, "failed", started, device, error, [])

    def _write_cell(self, cell, status: str, started: float, device: str, error: str | None,
                    records: list[tuple], training: str | None = None) -> None:
        finished = time.time()
        with self.db:
            self.db.execute("DELETE FROM case_metrics WHERE cell = ?", (cell.key,))
            self.db.execute(
                "INSERT OR REPLACE INTO cells (key, method, generator, count, strategy, augment,"
                " segmenter, seed, method_id, train_cases, status, started, finished, seconds,"
                " device, error, training) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (*_describe(cell), status, started, finished, finished - started, device, error,
                 training))
            self.db.executemany("INSERT INTO case_metrics VALUES (?, ?, ?, ?, ?, ?)", records)
            # sealed as read back, in the same transaction: what a check later reads
            (row,) = self.db.execute(f"SELECT {_columns()} FROM cells WHERE key = ?",
                                     (cell.key,)).fetchall()
            rows = self.db.execute(f"SELECT {ROW_COLUMNS} FROM case_metrics WHERE cell = ?",
                                   (cell.key,)).fetchall()
            self.db.execute("UPDATE cells SET seal = ? WHERE key = ?",
                            (_seal(row, rows), cell.key))

    def unsealed_cells(self) -> int:
        """How many finished cells have no seal (a count; :meth:`check_seals` verifies)."""
        return self.db.execute("SELECT COUNT(*) FROM cells WHERE status = 'done' AND seal IS NULL"
                               ).fetchone()[0]

    def check_seals(self, allow_unsealed: bool = False) -> int:
        """Every finished cell's rows match the seal written with them; the number of cells
        without one (stores written before seals), refused unless ``allow_unsealed``."""
        rows: dict[str, list] = {}
        for cell, *values in self.db.execute(
                f"SELECT cell, {ROW_COLUMNS} FROM case_metrics ORDER BY cell"):
            rows.setdefault(cell, []).append(tuple(values))
        unsealed = []
        for seal, *row in self.db.execute(
                f"SELECT seal, {_columns()} FROM cells WHERE status = 'done' ORDER BY rowid"):
            key = row[0]
            if seal is None:
                unsealed.append(key)
            elif seal != _seal(tuple(row), rows.pop(key, [])):
                raise DataError(f"{self.path}: cell {key} ({row[1]}, seed {row[8]}) does not "
                                "match its seal: its rows were edited, added or deleted after "
                                "synth2seg wrote them")
        if unsealed and not allow_unsealed:
            raise DataError(f"{self.path}: {len(unsealed)} finished cells have no seal (first: "
                            f"{unsealed[0]}; written before synth2seg sealed cells, or the seal "
                            "was removed), so their rows cannot be checked; 'synth2seg report "
                            "--unsealed' reports them anyway")
        return len(unsealed)

    def forget_cells(self, keep: set[str] = frozenset()) -> None:
        """Drop every cell (and its rows) except those in ``keep``."""
        with self.db:
            stale = [(k,) for (k,) in self.db.execute("SELECT key FROM cells") if k not in keep]
            self.db.executemany("DELETE FROM case_metrics WHERE cell = ?", stale)
            self.db.executemany("DELETE FROM cells WHERE key = ?", stale)

    def cells(self) -> pd.DataFrame:
        return pd.read_sql_query("SELECT * FROM cells ORDER BY rowid", self.db)

    def case_metrics(self) -> pd.DataFrame:
        query = """SELECT c.method, COALESCE(c.method_id, c.method) AS method_id, c.generator,
                          c.count, c.strategy, c.augment, c.segmenter, c.seed, c.train_cases,
                          m.cell,
                          m.test_set, m."case", m.metric, m.class, m.value
                   FROM case_metrics m JOIN cells c ON c.key = m.cell
                   WHERE c.status = 'done' ORDER BY c.rowid, m.rowid"""
        return pd.read_sql_query(query, self.db)

    # artifacts ----------------------------------------------------------------------------
    def record_artifact(self, key: str, kind: str, path: Path, label: str) -> None:
        size = sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())
        with self.db:
            self.db.execute(
                "INSERT INTO artifacts (key, kind, path, bytes, builds, label) "
                "VALUES (?, ?, ?, ?, 1, ?) ON CONFLICT(key) DO UPDATE SET "
                "builds = builds + 1, bytes = excluded.bytes, path = excluded.path",
                (key, kind, self._stored_path(path), size, label))

    def artifacts(self) -> pd.DataFrame:
        """The artifacts; ``path`` is where each is now. Paths are stored relative to the run
        folder, so a run folder can be moved and reported on from any directory."""
        table = pd.read_sql_query("SELECT * FROM artifacts ORDER BY rowid", self.db)
        paths = [str(self._found_path(p, k, key))
                 for p, k, key in zip(table.path, table.kind, table.key, strict=True)]
        return table.assign(path=pd.Series(paths, index=table.index, dtype=object))

    def _stored_path(self, path: Path) -> str:
        run, full = self.path.parent.resolve(), Path(path).resolve()
        return str(full.relative_to(run)) if full.is_relative_to(run) else str(full)

    def _found_path(self, stored: str, kind: str, key: str) -> Path:
        """Stored relative to the run folder; rows written before that are relative to the
        directory ``run`` started in (or absolute, of a folder since moved): those are looked
        for where the run keeps its artifacts, ``artifacts/fits|samples/KEY``."""
        path = Path(stored)
        path = path if path.is_absolute() else self.path.parent / path
        kept = self.path.parent / "artifacts" / ("fits" if kind == "fit" else "samples") / key
        return path if path.exists() or not kept.exists() else kept

    # fidelity -----------------------------------------------------------------------------
    def record_fidelity(self, generator_key: str, generator: str, seed: int, count: int,
                        rows) -> None:
        """One sample set's rows (``metric``, ``value``, ``note``, protocol) at one count."""
        with self.db:
            self.db.execute("DELETE FROM fidelity WHERE generator_key = ? AND count = ?",
                            (generator_key, count))
            self.db.executemany(
                "INSERT INTO fidelity (generator_key, generator, seed, count, metric, value, note, "
                f"{', '.join(PROTOCOL_COLUMNS)}) VALUES ({', '.join('?' * 13)})",
                [(generator_key, generator, seed, count, r.metric, _float(r.value), r.note,
                  *(getattr(r, name) for name in PROTOCOL_COLUMNS)) for r in rows])

    def fidelity_counts(self, generator_key: str) -> set[int]:
        rows = self.db.execute("SELECT DISTINCT count FROM fidelity WHERE generator_key = ?",
                               (generator_key,))
        return {r[0] for r in rows}

    def fidelity(self) -> pd.DataFrame:
        return pd.read_sql_query("SELECT * FROM fidelity ORDER BY rowid", self.db)


ROW_COLUMNS = 'test_set, "case", metric, class, value'


def _columns() -> str:
    return ", ".join(SEALED)


def _seal(cell: tuple, rows: list[tuple]) -> str:
    """SHA-256 of a cell's row and its per-case rows (in any order), as SQLite returns them; a
    row without a training record is sealed as it was before there were any."""
    cell = cell[:-1] if cell[-1] is None else cell
    payload = json.dumps([list(cell), sorted(json.dumps(list(r)) for r in rows)])
    return hashlib.sha256(payload.encode()).hexdigest()


def _describe(cell) -> tuple:
    return (cell.key, cell.method, cell.generator.label, cell.count, cell.strategy.key,
            cell.strategy.augment, cell.segmenter.label, cell.seed, cell.method_id,
            cell.train_cases)


def _float(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if value != value else value  # NaN is stored as NULL: "missing", never 0


def _check_intact(path: Path) -> None:
    """A store that is damaged (or no SQLite file at all) is one line, read without writing."""
    db = None
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        problems = [row[0] for row in db.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise sqlite3.DatabaseError(problems[0])
        for (value,) in db.execute("SELECT value FROM manifest"):
            json.loads(value)
    except (sqlite3.DatabaseError, ValueError) as exc:
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: damaged or not a synth2seg results store ({reason})") from None
    finally:
        if db is not None:
            db.close()
