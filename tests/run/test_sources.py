"""Generators read from folders: pre-generated cases (``folder``) and ``fitted:`` generators.

Both are named by their folder's content, never fitted in a matrix, sampled once, and refused in
one line when their folder does not fit the run's data.
"""

import importlib
import shutil
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import yaml

from bench.api import SampleContext, generators
from bench.api.errors import ConfigError, DataError
from bench.cli.main import main
from bench.data import load_dataset, write_nnunet
from bench.data.phantom import PhantomConfig, make_phantom
from bench.run.config import GeneratorSpec, load_config
from bench.run.matrix import expand
from bench.run.resolve import resolve
from bench.run.runner import Runner
from bench.run.store import Store
from generators.folder import PreGenerated
from tests.conftest import call_cli

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module", autouse=True)
def _folder_registered():
    """The entry point in pyproject.toml reaches the installed metadata only on reinstall;
    until then the adapter is registered here, as a plugin's tests would."""
    installed = "folder" in generators.names()
    if not installed:
        generators.register(PreGenerated)
    yield
    if not installed:
        generators.unregister("folder")


def test_folder_is_declared_as_an_entry_point():
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    module, _, name = groups["synth2seg.generators"]["folder"].partition(":")
    assert getattr(importlib.import_module(module), name) is PreGenerated


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory) -> Path:
    """Four phantom subjects no test fixture holds, written as a dataset: pre-generated cases."""
    cases = make_phantom(PhantomConfig(subjects=4, seed=11, resolution=4.0))
    return write_nnunet(cases, tmp_path_factory.mktemp("synthetic") / "synthetic")


@pytest.fixture(scope="module")
def fitted_dir(tmp_path_factory) -> Path:
    """phantom-oracle fitted by the CLI on subjects no run below tests on."""
    out = tmp_path_factory.mktemp("fitted") / "oracle"
    _cli("generator", "fit", "phantom-oracle", "--data", "phantom:A:3:4:seed=5", "--out", str(out),
         "--device", "cpu")
    return out


def _cli(*args):
    """A command that must succeed, in this process (module fixtures have no capsys)."""
    argv, sys.argv = sys.argv, ["synth2seg", *args]
    try:
        main()
    except SystemExit as exc:
        assert exc.code in (0, None), f"synth2seg {' '.join(args)} exited {exc.code}"
    finally:
        sys.argv = argv


def _folder(path) -> GeneratorSpec:
    return GeneratorSpec(name="folder", params={"path": str(path)})


def _copy(folder: Path, to: Path) -> Path:
    return Path(shutil.copytree(folder, to))


# identity ------------------------------------------------------------------------------------
def test_a_moved_folder_is_the_same_generator_and_a_changed_file_another(synthetic_dir, tmp_path):
    before = resolve("generator", _folder(synthetic_dir))
    moved = resolve("generator", _folder(_copy(synthetic_dir, tmp_path / "elsewhere")))
    assert moved.identity == before.identity and moved.source != before.source
    changed = _copy(synthetic_dir, tmp_path / "changed")
    label = next((changed / "labelsTr").iterdir())
    label.write_bytes(label.read_bytes() + b"\0")
    assert resolve("generator", _folder(changed)).identity != before.identity


def test_a_moved_fitted_folder_is_the_same_generator_and_a_changed_model_another(fitted_dir,
                                                                                   tmp_path):
    spec = GeneratorSpec(name="phantom-oracle", fitted=str(fitted_dir))
    before = resolve("generator", spec)
    moved = _copy(fitted_dir, tmp_path / "moved")
    assert resolve("generator", spec.model_copy(update={"fitted": str(moved)})).identity \
        == before.identity
    (moved / "work").mkdir(exist_ok=True)
    (moved / "work" / "notes.txt").write_text("checkpoints do not change what it samples")
    assert resolve("generator", spec.model_copy(update={"fitted": str(moved)})).identity \
        == before.identity
    model_file = next((moved / "model").iterdir())
    model_file.write_text(model_file.read_text().replace("5", "6"))
    assert resolve("generator", spec.model_copy(update={"fitted": str(moved)})).identity \
        != before.identity


def test_a_fitted_folder_of_another_generator_or_version_is_one_line(fitted_dir, tmp_path):
    with pytest.raises(ConfigError, match="holds a fit of 'phantom-oracle'"):
        resolve("generator", GeneratorSpec(name="b-sg", fitted=str(fitted_dir)))
    old = _copy(fitted_dir, tmp_path / "old")
    info = (old / "generator.json").read_text().replace('"version": "1"', '"version": "0"')
    (old / "generator.json").write_text(info)
    with pytest.raises(ConfigError, match="fitted by version 0.*fit it again"):
        resolve("generator", GeneratorSpec(name="phantom-oracle", fitted=str(old)))


@pytest.mark.parametrize("what", ["missing", "not a fit"])
def test_a_missing_or_unfitted_folder_is_one_line(tmp_path, what):
    if what == "not a fit":
        (tmp_path / "generator.json").write_text('{"name": "phantom-oracle", "version": "1"}')
    where = tmp_path / "absent" if what == "missing" else tmp_path
    with pytest.raises(ConfigError, match="is not a fitted generator") as error:
        resolve("generator", GeneratorSpec(name="phantom-oracle", fitted=str(where)))
    assert "\n" not in str(error.value)
    with pytest.raises(ConfigError, match="is not a folder"):
        resolve("generator", _folder(tmp_path / "absent"))


def test_fitted_takes_no_preset_or_params():
    with pytest.raises(ConfigError, match="takes no preset or params"):
        load_config({"name": "x", "generators": [{"name": "b-sg", "preset": "tiny",
                                                  "fitted": "somewhere"}]})


# sampling ------------------------------------------------------------------------------------
def test_counts_take_a_seeded_prefix_of_the_folder(synthetic_dir):
    folder = PreGenerated(PreGenerated.Params(path=str(synthetic_dir)))
    images = {_key(c): c.id for c in load_dataset(synthetic_dir)}
    two, four = folder.sample(2, SampleContext(seed=0)), folder.sample(4, SampleContext(seed=0))
    assert [_key(c) for c in two] == [_key(c) for c in four][:2]
    assert sorted(images[_key(c)] for c in four) == sorted(images.values())  # each case once
    other = folder.sample(4, SampleContext(seed=1))
    assert [_key(c) for c in other] != [_key(c) for c in four]
    with pytest.raises(ConfigError, match="holds 4 cases; the matrix asks for 5"):
        folder.sample(5, SampleContext(seed=0))


def _key(case) -> bytes:
    return np.ascontiguousarray(case.image).tobytes()


# in a matrix ---------------------------------------------------------------------------------
def _matrix(synthetic, fitted, **extra) -> dict:
    return {"name": "sources", "dataset": "phantom:A:4:4", "split": {"val": 0.25, "test": 0.25},
            "generators": [{"name": "folder", "params": {"path": str(synthetic)}},
                           {"name": "phantom-oracle", "fitted": str(fitted)}],
            "counts": [1, 2], "strategies": ["synthetic"],
            "segmenters": [{"name": "unet2d", "preset": "tiny",
                            "params": {"steps": 1, "batch": 1, "val_every": 1}}],
            "metrics": ["dice"], "device": "cpu", "fidelity": {"enabled": False}, **extra}


def _tables(run_dir):
    store = Store(run_dir / "results.sqlite")
    try:
        return store.cells(), store.artifacts()
    finally:
        store.close()


@pytest.fixture(scope="module")
def sources_run(synthetic_dir, fitted_dir, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "sources"
    Runner(load_config(_matrix(synthetic_dir, fitted_dir)), run_dir).run()
    return run_dir


def test_a_matrix_with_a_folder_and_a_fitted_entry_runs_without_fitting(sources_run):
    cells, artifacts = _tables(sources_run)
    assert len(cells) == 4 and set(cells.status) == {"done"}
    assert set(cells.generator) == {"folder", "phantom-oracle:fitted"}
    # nothing fitted, each sampled once (at the largest count; n=1 is its prefix)
    assert list(artifacts.kind) == ["samples", "samples"] and (artifacts.builds == 1).all()
    assert not (sources_run / "artifacts" / "fits").exists()


def test_rerunning_the_matrix_rebuilds_nothing(sources_run, synthetic_dir, fitted_dir, tmp_path):
    run_dir = _copy(sources_run, tmp_path / "again")
    Runner(load_config(_matrix(synthetic_dir, fitted_dir)), run_dir).run()
    (before, built), (after, rebuilt) = _tables(sources_run), _tables(run_dir)
    assert list(after.finished) == list(before.finished)  # no cell trained again
    assert list(rebuilt.builds) == list(built.builds) == [1, 1]


def test_moved_folders_keep_their_cells_and_samples(sources_run, synthetic_dir, fitted_dir,
                                                    tmp_path):
    config = load_config(_matrix(synthetic_dir, fitted_dir))
    synthetic, fitted = _copy(synthetic_dir, tmp_path / "s2"), _copy(fitted_dir, tmp_path / "f2")
    moved = load_config(_matrix(synthetic, fitted))
    assert [c.method_id for c in expand(moved)] == [c.method_id for c in expand(config)]
    run_dir = _copy(sources_run, tmp_path / "run")
    Runner(moved, run_dir).run()
    (before, _), (after, rebuilt) = _tables(sources_run), _tables(run_dir)
    assert list(after.finished) == list(before.finished)
    assert list(rebuilt.builds) == [1, 1]


def test_dry_run_names_the_folders_and_their_content(synthetic_dir, fitted_dir, tmp_path,
                                                     capsys):
    config = tmp_path / "matrix.yaml"
    config.write_text(yaml.safe_dump(_matrix(synthetic_dir, fitted_dir)))
    result = call_cli(capsys, "run", str(config), "--dry-run")
    folder = resolve("generator", _folder(synthetic_dir))
    assert result.returncode == 0
    assert f"pre-generated cases read from {folder.source} (content {folder.content})" \
        in result.stdout
    assert f"fitted generator read from {fitted_dir.resolve()}" in result.stdout


@pytest.mark.parametrize("entry", ["folder", "fitted"])
def test_a_folder_with_other_labels_or_channels_is_refused_before_training(
        entry, synthetic_dir, fitted_dir, tmp_path, capsys):
    # T1 + FLAIR with tumour labels, against a T1-only run without lesions
    other = make_phantom(PhantomConfig(subjects=2, seed=12, resolution=4.0, lesions=True,
                                       channels=("T1", "FLAIR")))
    if entry == "folder":
        synthetic_dir = write_nnunet(other, tmp_path / "other")
    else:
        fitted_dir = tmp_path / "other"
        _cli("generator", "fit", "phantom-oracle", "--data", "phantom:A:2:4:T1+FLAIR:lesions",
             "--out", str(fitted_dir), "--device", "cpu")
    config = tmp_path / "matrix.yaml"
    config.write_text(yaml.safe_dump(_matrix(synthetic_dir, fitted_dir)))
    result = call_cli(capsys, "run", str(config), "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert result.stderr.startswith("error: generator ") and result.stderr.count("\n") == 1
    assert "do not match the training data's" in result.stderr
    assert not (tmp_path / "run" / "cells").exists()  # refused before anything trained


def test_a_folder_that_holds_no_dataset_is_refused_before_training(fitted_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="generator 'folder': .*dataset.json") as error:
        Runner(load_config(_matrix(tmp_path / "empty", fitted_dir)), tmp_path / "run").run()
    assert "\n" not in str(error.value) and not (tmp_path / "run").exists()


def test_a_fitted_generator_that_learned_from_a_test_case_is_refused(synthetic_dir, tmp_path):
    leaky = tmp_path / "leaky"  # fitted on the run's whole dataset, its test cases included
    _cli("generator", "fit", "phantom-oracle", "--data", "phantom:A:4:4", "--out", str(leaky),
         "--device", "cpu")
    with pytest.raises(DataError, match="was fitted on test set 'heldout'"):
        Runner(load_config(_matrix(synthetic_dir, leaky)), tmp_path / "run").run()
    assert not (tmp_path / "run" / "cells").exists()


def test_a_run_hashes_each_folder_once_when_resolving(sources_run, synthetic_dir, fitted_dir,
                                                      tmp_path, monkeypatch):
    """Hashing reads every byte of a folder: the driver resolves the config once per run."""
    import bench.run.resolve

    calls = []
    real = bench.run.resolve.content_digest

    def counted(folder, parts=None):
        calls.append(Path(folder).name)
        return real(folder, parts)
    monkeypatch.setattr(bench.run.resolve, "content_digest", counted)
    run_dir = _copy(sources_run, tmp_path / "again")
    Runner(load_config(_matrix(synthetic_dir, fitted_dir)), run_dir).run()
    assert sorted(calls) == sorted([synthetic_dir.name, fitted_dir.name])
