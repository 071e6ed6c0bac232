"""Issue 37, items 14-16: tracebacks, hangs and resource bombs become one ``error:`` line.

Every case runs the real entry point in this process (``call_cli``) and must end with exit 2,
one line on stderr that starts with ``error:`` and names what was wrong, and its folder exactly
as it was before: nothing half-written.
"""

from __future__ import annotations

import errno
import gzip
import json
import sqlite3
import tracemalloc
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from tests.conftest import call_cli
from tests.data.test_io import write_msd
from tests.suites.test_bad_inputs import (
    _assert_one_line_error,
    _config,
    _copy,
    _edit_json,
    _first_case,
    _scores,
    _snapshot,
)

LONG = "x" * 300  # one path component longer than any file system's 255


# ---- helpers that build hostile inputs inside ``tmp`` ---------------------------------------
def _ds(tmp, ds3, edit) -> str:
    root = _copy(tmp, ds3)
    edit(root)
    return str(root)


def _channels(mapping):
    return lambda root: _edit_json(root, channel_names=mapping)


def _own_entry(value):
    return lambda root: _edit_json(root, synth2seg=value)


def _deep_json(root):
    (root / "dataset.json").write_text("[" * 100_000 + "]" * 100_000)


def _trailing_axis(root):
    path = root / "labelsTr" / f"{_first_case(root)}.nii.gz"
    img = nib.load(path)
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj)[..., None], img.affine), path)


def _msd_trailing_axis(tmp) -> str:
    root = write_msd(tmp / "msd")
    entry = json.loads((root / "dataset.json").read_text())["training"][0]
    path = root / entry["label"]
    img = nib.load(path)
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj)[..., None], img.affine), path)
    return str(root)


def _fitted(tmp, ds3, checkpoint: bytes | None = None, **changes) -> str:
    """A folder as 'synth2seg generator fit' writes it, for b-sg, with ``changes`` in its
    generator.json and ``checkpoint`` as its model/fitted.pt."""
    from bench.api.registry import get_generator
    from bench.data import load_dataset

    cases = load_dataset(ds3)
    info = {"name": "b-sg", "preset": "tiny", "params": {}, "seed": 0,
            "version": get_generator("b-sg").version, "data": "0" * 16,
            "labels": {str(k): v for k, v in cases.labels.items()},
            "channels": cases.channels, "spatial_dims": 2, "cases": [], **changes}
    folder = tmp / "fit"
    (folder / "model").mkdir(parents=True)
    (folder / "generator.json").write_text(json.dumps(info))
    if checkpoint is not None:
        (folder / "model" / "fitted.pt").write_bytes(checkpoint)
    return str(folder)


def _run_fitted(tmp, ds3, **kwargs) -> list[str]:
    folder = _fitted(tmp, ds3, **kwargs)
    config = _config(tmp, ds3, generators=[{"name": "b-sg", "fitted": folder}], counts=[2],
                     strategies=["real+synthetic"])
    return ["run", config, "--out", str(tmp / "run")]


def _not_utf8(tmp) -> str:
    path = tmp / "config.yaml"
    path.write_bytes("name: caf\u00e9\n".encode("latin-1"))
    return str(path)


def _damaged_store(tmp, how: str) -> str:
    run = tmp / "run"
    run.mkdir()
    path = run / "results.sqlite"
    if how == "not-sqlite":
        path.write_bytes(b"these are not the bytes of a database" * 100)
        return str(run)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE manifest (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("CREATE TABLE filler (x TEXT)")
    db.executemany("INSERT INTO filler VALUES (?)", [("y" * 500,)] * 200)
    value = "{not json" if how == "manifest-not-json" else json.dumps({"name": "x"})
    db.execute("INSERT INTO manifest VALUES ('config', ?)", (value,))
    db.commit()
    db.close()
    if how == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])
    elif how == "pages-overwritten":
        data = bytearray(path.read_bytes())
        data[4096:12288] = b"\xff" * 8192  # the b-tree pages after the header
        path.write_bytes(bytes(data))
    return str(run)


RUN = "run"
TRACEBACKS = {
    # dataset readers: channel numbers written another way, a trailing axis, deep JSON, types
    "channel-key-zero-padded": lambda t, d: (
        ["data", "check", _ds(t, d, _channels({"00": "T1"}))], "channel_names"),
    "channel-key-spaces": lambda t, d: (
        ["data", "check", _ds(t, d, _channels({" 0": "T1"}))], "channel_names"),
    "channel-key-plus": lambda t, d: (
        ["data", "check", _ds(t, d, _channels({"+0": "T1"}))], "channel_names"),
    "channel-key-underscore": lambda t, d: (
        ["data", "check", _ds(t, d, _channels({"0": "T1", "1_0": "T2"}))], "channel_names"),
    "channel-key-fullwidth-digit": lambda t, d: (
        ["data", "check", _ds(t, d, _channels({"\uff10": "T1"}))], "channel_names"),
    "channel-name-null": lambda t, d: (
        ["data", "check", _ds(t, d, _channels({"0": None}))], "channel_names"),
    "label-trailing-axis": lambda t, d: (
        ["data", "check", _ds(t, d, _trailing_axis)], "3D label map"),
    "msd-label-trailing-axis": lambda t, d: (
        ["data", "check", _msd_trailing_axis(t)], "3D label map"),
    "dataset-json-deep": lambda t, d: (["data", "check", _ds(t, d, _deep_json)], "nested"),
    "own-entry-a-string": lambda t, d: (
        ["data", "check", _ds(t, d, _own_entry("2d"))], "synth2seg"),
    "own-entry-cases-a-list": lambda t, d: (
        ["data", "check", _ds(t, d, _own_entry({"cases": ["a"]}))], "synth2seg.cases"),
    "own-entry-case-meta-a-number": lambda t, d: (
        ["data", "check", _ds(t, d, lambda r: _edit_json(r, synth2seg={
            "cases": {_first_case(r): 5}}))], "synth2seg.cases"),
    "own-entry-dims-text": lambda t, d: (
        ["data", "check", _ds(t, d, _own_entry({"spatial_dims": "2"}))], "spatial_dims"),
    "own-entry-dims-four": lambda t, d: (
        ["data", "check", _ds(t, d, _own_entry({"spatial_dims": 4}))], "spatial_dims"),
    # crafted fitted: folders
    "fitted-labels-a-list": lambda t, d: (_run_fitted(t, d, labels=["wm"]), "labels"),
    "fitted-label-key-text": lambda t, d: (_run_fitted(t, d, labels={"wm": "wm"}), "labels"),
    "fitted-channels-a-number": lambda t, d: (_run_fitted(t, d, channels=5), "channels"),
    "fitted-dims-text": lambda t, d: (_run_fitted(t, d, spatial_dims="x"), "spatial_dims"),
    "fitted-cases-a-number": lambda t, d: (_run_fitted(t, d, cases=5), "cases"),
    "fitted-params-a-list": lambda t, d: (_run_fitted(t, d, params=[1]), "params"),
    "fitted-checkpoint-text": lambda t, d: (
        _run_fitted(t, d, checkpoint=b"just some text, not torch.save\n"), "fitted.pt"),
    "sample-fitted-checkpoint-text": lambda t, d: (
        ["generator", "sample", _fitted(t, d, checkpoint=b"text\n"), "-n", "1", "--out",
         str(t / "s")], "fitted.pt"),
    # negative (and oversized) seeds, in configs, specs and options
    "config-seed-negative": lambda t, d: ([RUN, _config(t, d, seeds=[-1])], "seeds"),
    "config-seed-too-big": lambda t, d: ([RUN, _config(t, d, seeds=[2**40])], "seeds"),
    "config-split-seed-negative": lambda t, d: (
        [RUN, _config(t, d, split={"seed": -3})], "split.seed"),
    "config-sample-seed-negative": lambda t, d: (
        [RUN, _config(t, d, sample_seed=-1)], "sample_seed"),
    "config-fidelity-seed-negative": lambda t, d: (
        [RUN, _config(t, d, fidelity={"seed": -1})], "fidelity.seed"),
    "config-report-seed-negative": lambda t, d: (
        [RUN, _config(t, d, report={"seed": -1})], "report.seed"),
    "config-phantom-seed-negative": lambda t, d: (
        [RUN, _config(t, d, dataset="phantom:A:2:2:seed=-1"), "--out", str(t / "r")],
        "phantom"),
    "phantom-seed-negative": lambda t, d: (
        ["data", "phantom", "--out", str(t / "p"), "--seed", "-1"], "--seed"),
    "fit-seed-negative": lambda t, d: (
        ["generator", "fit", "b-sg", "--data", str(d), "--out", str(t / "g"), "--seed", "-2"],
        "--seed"),
    "sample-seed-negative": lambda t, d: (
        ["generator", "sample", str(t), "-n", "1", "--out", str(t / "s"), "--seed", "-1"],
        "--seed"),
    "train-seed-negative": lambda t, d: (
        ["train", "--data", str(d), "--out", str(t / "m"), "--seed", "-1"], "--seed"),
    "check-seed-negative": lambda t, d: (
        ["generator", "check", "none", "--seed", "-1"], "--seed"),
    # a config file that is not UTF-8, or not a file
    "config-not-utf8": lambda t, d: ([RUN, _not_utf8(t)], "UTF-8"),
    "config-a-folder": lambda t, d: ([RUN, str(t)], "folder"),
    # paths over the file system's limits
    "config-name-too-long": lambda t, d: ([RUN, str(t / f"{LONG}.yaml")], "too long"),
    "check-name-too-long": lambda t, d: (["data", "check", str(t / LONG)], "too long"),
    "phantom-out-too-long": lambda t, d: (["data", "phantom", "--out", str(t / LONG)],
                                          "too long"),
    "run-out-too-long": lambda t, d: ([RUN, _config(t, d), "--out", str(t / LONG / "r")],
                                      "too long"),
    "train-out-too-long": lambda t, d: (["train", "--data", str(d), "--out", str(t / LONG)],
                                        "too long"),
    "fit-out-too-long": lambda t, d: (["generator", "fit", "b-sg", "--data", str(d), "--out",
                                       str(t / LONG)], "too long"),
    "stats-out-too-long": lambda t, d: (
        ["stats", _scores(t, "a,1,0.5\nb,1,0.4\n"), "--out", str(t / LONG)], "too long"),
    "stats-file-too-long": lambda t, d: (["stats", str(t / f"{LONG}.csv")], "too long"),
    "report-out-too-long": lambda t, d: (["report", str(t), "--out", str(t / LONG)],
                                         "too long"),
    "show-out-too-long": lambda t, d: (["data", "show", str(d), "--out",
                                        str(t / f"{LONG}.png")], "too long"),
    # a damaged results.sqlite
    "report-store-not-sqlite": lambda t, d: (["report", _damaged_store(t, "not-sqlite"),
                                              "--out", str(t / "lb")], "results.sqlite"),
    "report-store-truncated": lambda t, d: (["report", _damaged_store(t, "truncated"),
                                             "--out", str(t / "lb")], "results.sqlite"),
    "report-store-pages-overwritten": lambda t, d: (
        ["report", _damaged_store(t, "pages-overwritten"), "--out", str(t / "lb")],
        "results.sqlite"),
    "report-store-manifest-not-json": lambda t, d: (
        ["report", _damaged_store(t, "manifest-not-json"), "--out", str(t / "lb")],
        "results.sqlite"),
    "status-store-not-sqlite": lambda t, d: (["status", _damaged_store(t, "not-sqlite")],
                                             "results.sqlite"),
    "status-store-truncated": lambda t, d: (["status", _damaged_store(t, "truncated")],
                                            "results.sqlite"),
    "status-store-pages-overwritten": lambda t, d: (
        ["status", _damaged_store(t, "pages-overwritten")], "results.sqlite"),
    "status-store-manifest-not-json": lambda t, d: (
        ["status", _damaged_store(t, "manifest-not-json")], "results.sqlite"),
    "status-store-a-folder": lambda t, d: (["status", _store_folder(t)], "results.sqlite"),
    "fidelity-store-not-sqlite": lambda t, d: (["fidelity", _damaged_store(t, "not-sqlite")],
                                               "results.sqlite"),
}


def _store_folder(tmp) -> str:
    (tmp / "run" / "results.sqlite").mkdir(parents=True)
    return str(tmp / "run")


@pytest.mark.parametrize("case", TRACEBACKS)
def test_hostile_input_gives_one_line_and_leaves_nothing(case, capsys, phantom3_dir, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    argv, expected = TRACEBACKS[case](work, phantom3_dir)
    before = _snapshot(work)
    _assert_one_line_error(call_cli(capsys, *argv), expected)
    assert _snapshot(work) == before, "the refused command left files behind"


# ---- 14. a full disk: one line, and a new output folder is not left half-written ------------
def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def _write_fails_after(monkeypatch, target, attribute: str, calls: int):
    """``target.attribute`` works ``calls`` times, then the disk is full."""
    original = getattr(target, attribute)
    seen = []

    def write(*args, **kwargs):
        seen.append(1)
        if len(seen) > calls:
            _no_space()
        return original(*args, **kwargs)
    monkeypatch.setattr(target, attribute, write)


def _stats_argv(t, d):
    rows = "".join(f"{m},{c},{v}\n" for c in range(4) for m, v in (("a", .5), ("b", .4), ("c", .3)))
    return ["stats", _scores(t, rows), "--out", str(t / "tables")]


FULL_DISK = {
    # (argv, where the disk fills up: (module, attribute, successful writes before it does))
    "data-phantom": (lambda t, d: ["data", "phantom", "--out", str(t / "p"), "--subjects", "1"],
                     ("bench.data.nnunet", "write_volume", 1)),
    "stats": (_stats_argv, ("pandas.DataFrame", "to_csv", 1)),
    "generator-sample": (
        lambda t, d: ["generator", "sample", str(d), "-n", "1", "--out", str(t / "s")],
        ("bench.data.nnunet", "write_volume", 1)),
    "generator-fit": (
        lambda t, d: ["generator", "fit", "b-sg", "--data", str(d), "--out", str(t / "g")],
        ("bench.run.generate", "fit_into", 0)),
    "run": (lambda t, d: ["run", _config(t, d), "--out", str(t / "r")],
            ("bench.run.store.Store", "set_manifest", 0)),
    "report": (lambda t, d: ["report", _fake_run(t), "--out", str(t / "lb")],
               ("pandas.DataFrame", "to_csv", 1)),
}


def _fake_run(tmp) -> str:
    from tests.fake_runs import write_fake_run

    return str(write_fake_run(tmp / "fake-run", {"gen": 0.05}, cases=4, seeds=(0, 1)))


def _target(dotted: str):
    import importlib

    module, _, name = dotted.rpartition(".")
    try:
        return importlib.import_module(dotted)
    except ImportError:
        return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("command", FULL_DISK)
def test_a_full_disk_is_one_line_and_leaves_no_half_written_output(command, capsys, monkeypatch,
                                                                  phantom3_dir, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    argv_of, (where, attribute, calls) = FULL_DISK[command]
    source = phantom3_dir
    if command == "generator-sample":  # a fitted folder whose sampling gets as far as writing
        source = _sampling_folder(tmp_path, phantom3_dir)
    argv = argv_of(work, source)
    before = _snapshot(work)
    _write_fails_after(monkeypatch, _target(where), attribute, calls)
    result = call_cli(capsys, *argv)
    _assert_one_line_error(result, "No space left on device")
    after = _snapshot(work)
    if command in ("generator-fit", "run"):  # resumable folders: kept, and nothing else
        after = {k: v for k, v in after.items() if not k.startswith(("g", "r"))}
    if command == "report":  # reading the store touches its folder (WAL files come and go)
        before, after = ({k: v for k, v in snap.items() if k != "fake-run"}
                         for snap in (before, after))
    assert after == before, "a half-written output was left behind"


def _sampling_folder(tmp, ds3) -> Path:
    """A generator folder whose sampling needs no training: ``phantom-oracle`` draws phantoms."""
    from bench.data.phantom import PhantomConfig, make_phantom
    from bench.run.config import GeneratorSpec
    from bench.run.generate import fit_generator

    folder = tmp / "oracle"
    fit_generator(GeneratorSpec(name="phantom-oracle"),
                  make_phantom(PhantomConfig(subjects=1, seed=7)), folder, 0, "cpu")
    return folder


# ---- 15. resource bombs: refused before they expand or allocate -----------------------------
def _alias_bomb(levels: int = 9) -> str:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]")
    return "{" + ", ".join(lines) + "}"


def _bomb_config(tmp, ds3) -> str:
    path = Path(_config(tmp, ds3))
    text = path.read_text().replace("- name: none", f"- name: none\n  params: {_alias_bomb()}")
    path.write_text(text)
    return str(path)


def _nifti_claiming(tmp, ds3, shape) -> str:
    """A dataset whose first image is a .nii.gz of a few dozen bytes: a header that claims
    ``shape`` uint8 voxels, and none of them."""
    root = _copy(tmp, ds3)
    header = nib.Nifti1Header()
    header.set_data_dtype(np.uint8)
    header.set_data_shape(shape)
    header["vox_offset"] = 352
    path = root / "imagesTr" / f"{_first_case(root)}_0000.nii.gz"
    path.write_bytes(gzip.compress(header.binaryblock + b"\0" * 4 + b"\0" * 16))
    return str(root)


DRY = ("--dry-run",)
ROOT = "root of the file system"
BOMBS = {
    "yaml-alias-bomb-with-set": lambda t, d: (
        ["run", _bomb_config(t, d), "--set", "seeds=[1]", *DRY], "aliases"),
    "yaml-alias-bomb": lambda t, d: (["run", _bomb_config(t, d), *DRY], "aliases"),
    "set-alias-bomb": lambda t, d: (
        ["run", _config(t, d), "--set", f"split={_alias_bomb()}", *DRY], "aliases"),
    "yaml-recursive-alias": lambda t, d: (
        ["run", _config(t, d), *DRY,
         "--set", "generators=&a [*a]"], "aliases"),
    "counts-huge": lambda t, d: (["run", _config(t, d, counts=[10**9]), *DRY], "counts"),
    "counts-too-many": lambda t, d: (
        ["run", _config(t, d, counts=list(range(1, 1002))), *DRY], "counts"),
    "seeds-too-many": lambda t, d: (
        ["run", _config(t, d, seeds=list(range(1000))), *DRY], "seeds"),
    "train-cases-huge": lambda t, d: (
        ["run", _config(t, d, split={"train_cases": 10**12}), *DRY], "train_cases"),
    "max-images-huge": lambda t, d: (
        ["run", _config(t, d, fidelity={"max_images": 10**10}), *DRY], "max_images"),
    "pairs-huge": lambda t, d: (["run", _config(t, d, fidelity={"pairs": 10**10}), *DRY],
                                "pairs"),
    "nearest-k-huge": lambda t, d: (
        ["run", _config(t, d, fidelity={"nearest_k": 10**9}), *DRY], "nearest_k"),
    "resamples-huge": lambda t, d: (
        ["run", _config(t, d, report={"resamples": 10**10}), *DRY], "resamples"),
    "curve-sizes-huge": lambda t, d: (
        ["run", _config(t, d, learning_curve={"train_cases": [10**9]}), *DRY],
        "learning_curve"),
    "set-counts-huge": lambda t, d: (["run", _config(t, d), "--set", "counts=[1e12]", *DRY],
                                     "counts"),
    "phantom-subjects-huge": lambda t, d: (
        ["data", "phantom", "--out", str(t / "p"), "--subjects", "10000000"], "subjects"),
    "phantom-spec-subjects-huge": lambda t, d: (
        ["data", "show", "phantom:A:10000000", "--out", str(t / "x.png")], "phantom"),
    "nifti-header-claims-700-cubed": lambda t, d: (
        ["data", "check", _nifti_claiming(t, d, (700, 700, 700))], "header claims"),
    "nifti-header-claims-1300-cubed": lambda t, d: (
        ["data", "check", _nifti_claiming(t, d, (1300, 1300, 1300))], "header claims"),
    "nifti-header-claims-a-4d-bomb": lambda t, d: (
        ["data", "check", _nifti_claiming(t, d, (400, 400, 400, 400))], "header claims"),
    # --out at the root of the file system (writable for root) is refused before any work
    "run-out-root": lambda t, d: (
        ["run", _config(t, d, dataset=str(t / "gone")), "--out", "/"], ROOT),
    "phantom-out-root": lambda t, d: (["data", "phantom", "--out", "/"], ROOT),
    "train-out-root": lambda t, d: (
        ["train", "--data", str(d), "--out", "/", "--segmenter", "unet9d"], ROOT),
    "fit-out-root": lambda t, d: (
        ["generator", "fit", "gann", "--data", str(d), "--out", "/"], ROOT),
    "sample-out-root": lambda t, d: (
        ["generator", "sample", str(t), "-n", "1", "--out", "/"], ROOT),
    "stats-out-root": lambda t, d: (["stats", _scores(t, "a,1,x\n"), "--out", "/"], ROOT),
    "report-out-root": lambda t, d: (["report", str(t), "--out", "/"], ROOT),
    "report-out-root-dotdot": lambda t, d: (["report", str(t), "--out", f"{t}/../../../../../"
                                                                       "../../../../.."],
                                            ROOT),
}


@pytest.mark.parametrize("case", BOMBS)
def test_a_bomb_is_refused_before_it_expands(case, capsys, phantom3_dir, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    argv, expected = BOMBS[case](work, phantom3_dir)
    before = _snapshot(work)
    tracemalloc.start()
    try:
        result = call_cli(capsys, *argv)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    _assert_one_line_error(result, expected)
    assert peak < 200e6, f"{peak / 1e6:.0f} MB allocated before the refusal"
    assert _snapshot(work) == before, "the refused command left files behind"


# ---- 16. a bad option value is one line, as every other mistake -----------------------------
def _csv(tmp) -> str:
    return _scores(tmp, "a,1,0.5\nb,1,0.4\n")


USAGE = {
    "stats-alpha-not-a-number": lambda t, d: (["stats", _csv(t), "--alpha", "abc"], "--alpha"),
    "run-workers-zero": lambda t, d: (["run", _config(t, d), "--workers", "0"], "--workers"),
    "run-workers-text": lambda t, d: (["run", _config(t, d), "--workers", "two"], "--workers"),
    "sample-n-zero": lambda t, d: (["generator", "sample", str(t), "-n", "0", "--out",
                                    str(t / "s")], "-n"),
    "sample-n-missing": lambda t, d: (["generator", "sample", str(t), "--out", str(t / "s")],
                                      "-n"),
    "sample-lesion-fraction-above-one": lambda t, d: (
        ["generator", "sample", str(t), "-n", "1", "--out", str(t / "s"),
         "--lesion-fraction", "2"], "--lesion-fraction"),
    "phantom-subjects-zero": lambda t, d: (["data", "phantom", "--out", str(t / "p"),
                                            "--subjects", "0"], "--subjects"),
    "phantom-resolution-text": lambda t, d: (["data", "phantom", "--out", str(t / "p"),
                                              "--resolution", "fine"], "--resolution"),
    "phantom-out-missing": lambda t, d: (["data", "phantom"], "--out"),
    "show-cases-zero": lambda t, d: (["data", "show", str(d), "--out", str(t / "x.png"),
                                      "--cases", "0"], "--cases"),
    "check-path-missing": lambda t, d: (["data", "check"], "path"),
    "train-test-fraction-above-limit": lambda t, d: (
        ["train", "--data", str(d), "--out", str(t / "m"), "--test-fraction", "2"],
        "--test-fraction"),
    "train-val-fraction-negative": lambda t, d: (
        ["train", "--data", str(d), "--out", str(t / "m"), "--val-fraction", "-0.1"],
        "--val-fraction"),
    "train-unknown-option": lambda t, d: (["train", "--data", str(d), "--out", str(t / "m"),
                                           "--epochs", "3"], "--epochs"),
    "fit-name-missing": lambda t, d: (["generator", "fit", "--data", str(d), "--out",
                                       str(t / "g")], "name"),
    "report-run-missing": lambda t, d: (["report"], "run_dir"),
    "status-two-folders": lambda t, d: (["status", str(t), str(t)], "extra argument"),
    "unknown-command": lambda t, d: (["trian", "--data", str(d)], "trian"),
    "demo-workers-zero": lambda t, d: (["demo", "--out", str(t / "r"), "--workers", "0"],
                                       "--workers"),
    "stats-option-without-value": lambda t, d: (["stats", _csv(t), "--alpha"], "--alpha"),
    "check-samples-zero": lambda t, d: (["generator", "check", "none", "--samples", "0"],
                                        "--samples"),
}


@pytest.mark.parametrize("case", USAGE)
def test_a_bad_option_value_is_one_error_line(case, capsys, phantom3_dir, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    argv, expected = USAGE[case](work, phantom3_dir)
    before = _snapshot(work)
    _assert_one_line_error(call_cli(capsys, *argv), expected)
    assert _snapshot(work) == before


def test_help_and_a_bare_group_still_show_help(capsys):
    assert call_cli(capsys, "--help").returncode == 0
    result = call_cli(capsys, "data")
    assert result.returncode == 2 and "phantom" in result.stdout + result.stderr


def test_a_second_driver_is_refused_before_any_data_is_read(capsys, monkeypatch, phantom3_dir,
                                                             tmp_path):
    """The lock comes first: a second ``run`` on a busy folder is refused at once, not after
    the data is prepared (21 s on the MedGen3D preset)."""
    import bench.run.runner as runner
    from bench.run.runlock import RunLock

    def too_late(*args, **kwargs):
        raise AssertionError("data was read before the run lock was taken")
    monkeypatch.setattr(runner, "prepare_data", too_late)
    monkeypatch.setattr(runner, "resolve_config", too_late)
    folder = tmp_path / "run"
    config = _config(tmp_path, phantom3_dir)
    with RunLock(folder):
        result = call_cli(capsys, "run", config, "--out", str(folder))
    _assert_one_line_error(result, "another synth2seg driver")


def test_a_run_refused_before_writing_leaves_no_run_folder(capsys, phantom3_dir, tmp_path):
    """Taking the lock first creates the folder; a refusal removes it again (and the parents
    it made), so the corrected command starts from nothing."""
    folder = tmp_path / "runs" / "deep" / "run"
    config = _config(tmp_path, phantom3_dir, dataset=str(tmp_path / "gone"))
    _assert_one_line_error(call_cli(capsys, "run", config, "--out", str(folder)), "gone")
    assert not (tmp_path / "runs").exists()


# ---- the count: bad inputs under test, each one error line and exit 2 -----------------------
def test_at_least_150_bad_inputs_end_in_one_error_line(capsys):
    """Issue 37: >= 150 bad inputs under test. Every entry of these tables is a parametrized
    case asserting exit 2, one ``error:`` line naming the problem, and its folder unchanged
    (the damaged datasets of ``BAD_NNUNET`` run as a subprocess, the others in-process)."""
    from tests.suites.test_bad_inputs import BAD_NNUNET, CLI_CASES

    tables = {"test_bad_inputs.BAD_NNUNET": [f.__name__ for f in BAD_NNUNET],
              "test_bad_inputs.CLI_CASES": list(CLI_CASES),
              "test_tracebacks.TRACEBACKS": list(TRACEBACKS),
              "test_tracebacks.FULL_DISK": list(FULL_DISK),
              "test_tracebacks.BOMBS": list(BOMBS),
              "test_tracebacks.USAGE": list(USAGE)}
    cases = {f"{table}[{name}]" for table, names in tables.items() for name in names}
    with capsys.disabled():
        print("\nbad inputs under test: " + ", ".join(f"{t.split('.')[1]} {len(n)}"
                                                      for t, n in tables.items())
              + f"; {len(cases)} in all")
    assert len(cases) >= 150
