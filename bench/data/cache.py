"""The preprocessed on-disk dataset cache: a dataset is read once, then opened as memory maps.

``cached_dataset`` keys a dataset by a hash of what determines the cases read from it: the
folder's path, ``dataset.json``'s bytes, every other file's relative path, size, modification
time and content (whole for files up to ``HASH_WHOLE_BYTES``; the first and last MiB of larger
ones, which for ``.nii.gz`` include the gzip trailer's CRC-32 and length of the whole
uncompressed volume), the reader's options (e.g. ``labelled``, and the preprocessing options of
the readers), ``CACHE_VERSION`` and the source code of ``bench.data`` and ``bench.api.case`` (a
change to a reader or to its preprocessing never serves cases read by the old code). The entry is
``$SYNTH2SEG_CACHE/datasets/<key>/``: ``index.json`` (labels, channels, dimensionality, set
metadata, and per case its id, spacing, affine, metadata and the shape and dtype of each array)
and per case ``cases/NNNNNN/image.npy`` (``(C, *spatial)`` float32, channel-first so every channel
is one contiguous block of the file), ``label.npy`` and ``pv.npy`` when the case has them.

A miss runs the reader with a ``keep`` hook that writes each case's arrays as soon as the case
is read and keeps only a reference, so building the cache holds one case in memory; the entry is
written into a private folder and renamed into place when complete (a reader that fails leaves
no entry, and two processes building the same key keep one). A hit opens ``index.json`` and
gives cases whose ``image``/``label``/``pv`` are :class:`bench.api.case.Lazy` references to
those files, read as read-only memory maps when used: no NIfTI file is opened, and walking the
set holds one case at a time. Case references pickle small, so worker processes open the same
files instead of receiving arrays or re-reading NIfTI.

What is computed from cached cases at the size of a case (a case resampled to a run's target
spacing) is cached too, as nnU-Net preprocesses once to disk: ``derived_arrays`` keys the result
by the files the case's arrays are read from (path, size, modification time), a recipe (what is
computed, with its parameters) and the same code version, writes it once into
``$SYNTH2SEG_CACHE/derived/<key>/`` and hands back references, so a resampled dataset stays out
of core and a second run, or a worker process, reads it instead of computing it again.

Why not MONAI's ``PersistentDataset`` or nnU-Net's preprocessed folders: ``PersistentDataset``
caches the output of a transform chain per item as a ``torch.save`` pickle named by a hash of the
item's dictionary (its file names, not their content or modification time, so an edited file is
served stale), reads each item back whole with ``torch.load`` (no memory mapping, no access to
one channel or slice) and is a sequence of dictionaries, not the ``Case``/``CaseSet`` contract
every plugin reads. nnU-Net's preprocessed format is written by ``nnUNetv2_plan_and_preprocess``
for its own plan: cases cropped to the non-zero region and intensity-normalised for one network
configuration, with the metadata in per-case pickles; synth2seg's generators need the cases with
their own intensities (no generator clips or rescales real data), and normalisation belongs to
each segmenter. The nnU-Net segmenter still runs nnU-Net's own preprocessing on its export.
What is kept here is small: ``numpy.save``/``numpy.load(mmap_mode="r")`` and a JSON index.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import socket
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from bench.api.case import Case, CaseSet, Lazy, npy_ref, open_npy

CACHE_VERSION = 1
HASH_WHOLE_BYTES = 4 << 20
HASH_EDGE_BYTES = 1 << 20
ARRAYS = ("image", "label", "pv")

Reader = Callable[[Callable[[Case], Case]], CaseSet]


def _base() -> Path:
    return Path(os.environ.get("SYNTH2SEG_CACHE", Path.home() / ".cache" / "synth2seg"))


def cache_dir() -> Path:
    """Where dataset entries live: ``$SYNTH2SEG_CACHE/datasets`` (``~/.cache/synth2seg``)."""
    return _base() / "datasets"


def derived_dir() -> Path:
    """Where arrays computed from cached cases live: ``$SYNTH2SEG_CACHE/derived``."""
    return _base() / "derived"


def dataset_key(root: Path, options: dict) -> str:
    """The hash of the files under ``root`` (see the module docstring) and ``options``."""
    root = Path(root).resolve()
    digest = hashlib.sha256(json.dumps(
        {"v": CACHE_VERSION, "code": _code_version(), "root": str(root), "options": options},
        sort_keys=True, default=str).encode())
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"\0{path.relative_to(root)}\0{stat.st_size}\0{stat.st_mtime_ns}\0"
                      .encode())
        _hash_content(path, stat.st_size, digest)
    return digest.hexdigest()[:32]


@functools.cache
def _code_version() -> str:
    """A hash of the code that reads and preprocesses cases."""
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in [*sorted(here.glob("*.py")), here.parent / "api" / "case.py"]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _hash_content(path: Path, size: int, digest) -> None:
    with path.open("rb") as f:
        if size <= HASH_WHOLE_BYTES:
            digest.update(f.read())
            return
        digest.update(f.read(HASH_EDGE_BYTES))
        f.seek(size - HASH_EDGE_BYTES)
        digest.update(f.read(HASH_EDGE_BYTES))


def cached_dataset(root: Path, options: dict, read: Reader) -> CaseSet:
    """The dataset under ``root`` from the cache, built with ``read(keep)`` on a miss.

    ``read`` must pass every case it reads through ``keep`` as soon as it is read and build its
    CaseSet from what ``keep`` returns (references, not arrays).
    """
    entry = cache_dir() / dataset_key(root, options)
    if not (entry / "index.json").is_file():
        _build(entry, read)
    return open_entry(entry)


def private_folder(entry: Path) -> Path:
    """Where one process writes ``entry`` before renaming it into place: named by host and
    process, since Ray nodes sharing a cache folder may run processes with the same id (a
    name by process id alone let one node delete another's half-written entry)."""
    return entry.parent / f".{entry.name}.{socket.gethostname()}.{os.getpid()}.tmp"


@contextmanager
def _written_in_private(entry: Path, marker: str):
    """A private folder to write ``entry`` in, renamed into place when the block completes and
    removed whatever happens; where another process completed the entry first (its ``marker``
    file exists), theirs is kept."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    work = private_folder(entry)
    shutil.rmtree(work, ignore_errors=True)
    try:
        yield work
        try:
            work.rename(entry)
        except OSError:
            if not (entry / marker).is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _build(entry: Path, read: Reader) -> None:
    with _written_in_private(entry, "index.json") as work:
        _write_entry(work, read)


def _write_entry(work: Path, read: Reader) -> None:
    records: list[dict] = []

    def keep(case: Case) -> Case:
        folder = work / "cases" / f"{len(records):06d}"
        record = {"id": case.id, "spacing": [float(s) for s in case.spacing],
                  "affine": None if case.affine is None else np.asarray(case.affine).tolist(),
                  "meta": case.meta, "folder": folder.relative_to(work).as_posix()}
        record.update(_write_arrays(folder, lambda name: getattr(case, name)))
        records.append(record)
        refs = _refs(folder, record)
        return Case(case.id, refs["image"], refs["label"], case.spacing, pv=refs["pv"],
                    affine=case.affine, meta=case.meta)

    cases = read(keep)
    ids = [c.id for c in cases]
    order = {r["id"]: r for r in records}
    if sorted(ids) != sorted(order) or len(ids) != len(records):
        raise RuntimeError("the reader's cases are not the ones it passed through keep()")
    index = {"version": CACHE_VERSION, "labels": {str(k): v for k, v in cases.labels.items()},
             "channels": cases.channels, "spatial_dims": cases.spatial_dims,
             "meta": cases.meta, "cases": [order[i] for i in ids]}
    (work / "index.json").write_text(json.dumps(index))


def open_entry(entry: Path) -> CaseSet:
    """The CaseSet of a complete cache entry, its arrays referenced, not read."""
    index = json.loads((entry / "index.json").read_text())
    cases = []
    for record in index["cases"]:
        refs = _refs(entry / record["folder"], record)
        affine = None if record["affine"] is None else np.asarray(record["affine"], np.float64)
        cases.append(Case(record["id"], refs["image"], refs["label"], tuple(record["spacing"]),
                          pv=refs["pv"], affine=affine, meta=record["meta"]))
    labels = {int(k): v for k, v in index["labels"].items()}
    return CaseSet(cases, labels, list(index["channels"]), index["spatial_dims"],
                   dict(index["meta"]))


def _write_arrays(folder: Path, array_of: Callable[[str], np.ndarray | None]) -> dict:
    """Each array ``array_of(name)`` gives, as ``folder/<name>.npy``, read one at a time;
    returns their shapes and dtypes by name."""
    folder.mkdir(parents=True)
    written = {}
    for name in ARRAYS:
        array = array_of(name)
        if array is None:
            continue
        array = np.ascontiguousarray(array)
        np.save(folder / f"{name}.npy", array, allow_pickle=False)
        written[name] = {"shape": list(array.shape), "dtype": array.dtype.str}
        del array
    return written


def _refs(folder: Path, record: dict) -> dict:
    """References to the arrays ``record`` lists in ``folder`` (None for the others)."""
    return {name: npy_ref(folder / f"{name}.npy", record[name]["shape"], record[name]["dtype"])
            if name in record else None for name in ARRAYS}


# ---------------------------------------------------------------------------- derived arrays
Arrays = dict[str, np.ndarray | None]


def file_sources(case: Case) -> list | None:
    """What ``case``'s arrays are read from: per array its ``.npy`` file (path, size,
    modification time), shape and dtype; None when an array is held in memory or computed on
    read (no file then names it)."""
    sources = []
    for name in ARRAYS:
        ref = case.ref(name)
        if ref is None:
            sources.append(None)
            continue
        if not isinstance(ref, Lazy) or ref.fn is not open_npy:
            return None
        stat = Path(ref.args[0]).stat()
        sources.append([ref.args[0], stat.st_size, stat.st_mtime_ns, list(ref.shape),
                        ref.dtype.str])
    return sources


def derived_arrays(case: Case, recipe: dict, make: Callable[[], Arrays]) -> Arrays:
    """The arrays ``make()`` computes from ``case`` (by name: image, label, pv), computed once
    and referenced in the cache when the case's arrays are read from files; in memory, as
    ``make()`` returns them, when the case holds its arrays (it is in memory already).

    ``recipe`` names the computation and every parameter it depends on besides the case.
    """
    sources = file_sources(case)
    if sources is None:
        return make()
    key = hashlib.sha256(json.dumps(
        {"v": CACHE_VERSION, "code": _code_version(), "sources": sources, "recipe": recipe},
        sort_keys=True, default=str).encode()).hexdigest()[:32]
    entry = derived_dir() / key
    if not (entry / "arrays.json").is_file():
        _derive(entry, make)
    return _refs(entry, json.loads((entry / "arrays.json").read_text()))


def _derive(entry: Path, make: Callable[[], Arrays]) -> None:
    """``make()``'s arrays written into a private folder, renamed into place when complete."""
    with _written_in_private(entry, "arrays.json") as work:
        arrays = make()  # each array is let go once written
        written = _write_arrays(work, lambda name: arrays.pop(name, None))
        (work / "arrays.json").write_text(json.dumps(written))
