"""Issue 37, items 8-13: inputs that used to give wrong results with no warning are refused with
one line (or, inside a run, fail their cell with one line naming the cause)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml

from bench.api.case import Case, CaseSet
from bench.api.errors import DataError
from bench.data import write_nnunet
from tests.conftest import call_cli
from tests.data.test_io import write_msd
from tests.fake_runs import write_fake_run


def _one_line_error(result, expected: str) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert expected in lines[0], f"{expected!r} not named in: {lines[0]}"
    return lines[0]


def _config(tmp: Path, dataset, **changes) -> str:
    config = {"name": "bad", "dataset": str(dataset), "generators": [{"name": "none"}],
              "segmenters": [{"name": "unet2d", "preset": "tiny"}], "device": "cpu", **changes}
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def _edit_json(root: Path, edit) -> Path:
    meta = json.loads((root / "dataset.json").read_text())
    edit(meta)
    (root / "dataset.json").write_text(json.dumps(meta))
    return root


def _relabel(root: Path, transform, dtype) -> None:
    for path in sorted((root / "labelsTr").iterdir()):
        img = nib.load(path)
        data = transform(np.asarray(img.dataobj).astype(np.int64)).astype(dtype)
        nib.save(nib.Nifti1Image(data, img.affine), path)


# ---- item 8: a test set named like the in-domain held-out split ------------------------------

@pytest.mark.parametrize("name", ["heldout", "HeldOut"])
def test_item8_test_set_named_heldout_is_refused_in_a_config(name, capsys, phantom3_dir,
                                                             other_phantom_dir, tmp_path):
    config = _config(tmp_path, phantom3_dir, test_sets={name: str(other_phantom_dir)})
    _one_line_error(call_cli(capsys, "run", config, "--dry-run"), name)


def test_item8_test_set_named_heldout_is_refused_by_train(capsys, phantom3_dir,
                                                          other_phantom_dir, tmp_path):
    result = call_cli(capsys, "train", "--data", str(phantom3_dir), "--out",
                      str(tmp_path / "m"), "--preset", "tiny", "--device", "cpu",
                      "--test", f"heldout={other_phantom_dir}")
    _one_line_error(result, "heldout")
    assert not (tmp_path / "m").exists()


# ---- item 9: label values the label dtype cannot hold ---------------------------------------

def test_item9_label_value_above_int16_is_refused(capsys, phantom_dir, tmp_path):
    root = shutil.copytree(phantom_dir, tmp_path / "ds")
    _edit_json(root, lambda m: m["labels"].update({"white matter": 70000}))
    _relabel(root, lambda d: np.where(d == 3, 70000, d), np.int32)
    _one_line_error(call_cli(capsys, "data", "check", str(root)), "70000")


def test_item9_negative_label_value_is_refused(capsys, phantom_dir, tmp_path):
    root = shutil.copytree(phantom_dir, tmp_path / "ds")
    _edit_json(root, lambda m: m["labels"].update({"white matter": -1}))
    _relabel(root, lambda d: np.where(d == 3, -1, d), np.int16)
    _one_line_error(call_cli(capsys, "data", "check", str(root)), "-1")


def test_item9_msd_negative_label_value_is_refused(capsys, tmp_path):
    root = _edit_json(write_msd(tmp_path / "msd"),
                      lambda m: m["labels"].update({"-1": "necrosis"}))
    _one_line_error(call_cli(capsys, "data", "check", str(root)), "-1")


def test_item9_label_map_keeps_every_declared_value():
    from bench.data.nifti import Volume, as_label

    data = np.array([[[0, 300], [32767, 1]]], np.int32)
    label = as_label(Volume(Path("l.nii.gz"), data, np.eye(4)),
                     {0: "bg", 1: "a", 300: "b", 32767: "c"})
    np.testing.assert_array_equal(label, data)  # nothing wrapped into another class


def test_item9_as_label_refuses_values_the_dtype_cannot_hold():
    from bench.data.nifti import Volume, as_label

    data = np.array([[[0, 1], [1, 0]]], np.int32)
    with pytest.raises(DataError, match="70000"):
        as_label(Volume(Path("l.nii.gz"), data, np.eye(4)), {0: "bg", 1: "a", 70000: "b"})


# ---- item 10: training that diverges -------------------------------------------------------

def test_item10_absurd_intensities_are_refused_when_read(capsys, phantom_dir, tmp_path):
    root = shutil.copytree(phantom_dir, tmp_path / "ds")
    path = sorted((root / "imagesTr").iterdir())[0]
    img = nib.load(path)
    data = np.asarray(img.dataobj, np.float32) * np.float32(3e36)  # finite, near float32's max
    nib.save(nib.Nifti1Image(data, img.affine), path)
    _one_line_error(call_cli(capsys, "data", "check", str(root)), path.name)


def test_item10_non_finite_loss_stops_training_with_one_line(phantom, tmp_path):
    from bench.api.errors import TrainingDiverged
    from bench.api.strategies import parse_strategy
    from bench.run.experiment import Experiment, run_experiment

    # past the readers: what a generator or a transform could hand the segmenter
    huge = phantom.replace([Case(c.id, c.image * np.float32(3e36), c.label, c.spacing,
                                 affine=c.affine) for c in phantom])
    exp = Experiment("unet2d", parse_strategy("real", False, None), "tiny",
                     {"steps": 2, "batch": 1, "val_every": 1}, device="cpu", hd95=False)
    with pytest.raises(TrainingDiverged, match="non-finite loss") as caught:
        run_experiment(exp, {"real": huge.subset([0, 1])}, {"heldout": huge.subset([2])},
                       tmp_path / "model")
    assert len(str(caught.value).splitlines()) == 1


def test_item10_train_that_diverges_ends_in_one_line_without_metrics(capsys, phantom3_dir,
                                                                      tmp_path):
    result = call_cli(capsys, "train", "--data", str(phantom3_dir), "--out",
                      str(tmp_path / "m"), "--preset", "tiny", "--device", "cpu",
                      "--set", "lr=1e20", "--no-hd95")
    _one_line_error(result, "non-finite loss")
    assert not (tmp_path / "m" / "metrics.csv").exists()


def test_item10_diverging_cell_fails_in_the_store_and_the_run_says_why(tmp_path, capsys):
    from bench.run.config import load_config
    from bench.run.runner import Runner
    from bench.run.store import Store

    config = load_config({"name": "diverge", "dataset": "phantom:A:3",
                          "split": {"val": 0.34, "test": 0.34},
                          "segmenters": [{"name": "unet2d", "preset": "tiny",
                                          "params": {"steps": 3, "batch": 1, "val_every": 1,
                                                     "lr": 1e20}}],
                          "metrics": ["dice"], "device": "cpu", "fidelity": {"enabled": False}})
    cells = Runner(config, tmp_path / "run").run()
    assert list(cells.status) == ["failed"], "a diverged cell reported success"
    assert "non-finite loss" in cells.error[0] and len(cells.error[0].splitlines()) == 1
    with Store(tmp_path / "run" / "results.sqlite") as store:
        assert store.case_metrics().empty


# ---- item 11: test-set names that collide or break the page ----------------------------------

@pytest.mark.parametrize("names", [{"site B": 0, "site_B": 0}, {"a/b": 0}, {"x:dice": 0},
                                   {"Site": 0, "site": 0}, {"fidelity": 0}, {"": 0},
                                   {"..": 0}, {"<b>": 0}])
def test_item11_test_set_names_outside_the_pattern_are_refused(names, capsys, phantom3_dir,
                                                               other_phantom_dir, tmp_path):
    sets = {name: str(other_phantom_dir) for name in names}
    config = _config(tmp_path, phantom3_dir, test_sets=sets)
    line = _one_line_error(call_cli(capsys, "run", config, "--dry-run"), "test_sets")
    assert "A-Za-z0-9" in line or "reserved" in line or "differ only" in line


def test_item11_train_refuses_a_test_set_name_outside_the_pattern(capsys, phantom3_dir,
                                                                  other_phantom_dir, tmp_path):
    result = call_cli(capsys, "train", "--data", str(phantom3_dir), "--out",
                      str(tmp_path / "m"), "--preset", "tiny", "--device", "cpu",
                      "--test", f"a:b={other_phantom_dir}")
    _one_line_error(result, "a:b")


# every kind a store can hold (the names of column groups, "fidelity" and "cost", are refused
# by the config and not handled here)
HOSTILE_TEST_SETS = ("heldout", "site B", "site_B", "site.B", "a", "a:dice", "a:b", "x.",
                     "x", "Ünïcödé", "../up", "=1+1", "", "<i>t</i>", "tab\there", "a b|c",
                     "dice", "a:b:c")


@pytest.fixture(scope="module")
def hostile_names_board(tmp_path_factory):
    from bench.report.leaderboard import write_report

    root = tmp_path_factory.mktemp("names")
    run = write_fake_run(root / "run", {"gen": 0.05, "other": -0.02},
                         test_sets=HOSTILE_TEST_SETS, seeds=(0,), cases=5)
    return write_report(run, root / "board"), root / "board"


def test_item11_every_test_set_keeps_its_own_files(hostile_names_board):
    files, board = hostile_names_board
    summaries = list((board / "summaries").rglob("summary.json"))
    cells = 3  # baseline and two generators, one seed
    assert len(summaries) == cells * len(HOSTILE_TEST_SETS), "a summary overwrote another"
    for path in summaries:  # each names the test set it holds, and only that one
        assert json.loads(path.read_text())
    stability = sorted(board.glob("stability_*.csv"))
    assert len(stability) == len(HOSTILE_TEST_SETS), [p.name for p in stability]


def test_item11_page_has_one_tab_per_test_set_with_its_own_columns(hostile_names_board):
    import html
    import re

    files, board = hostile_names_board
    page = (board / "index.html").read_text()
    tabs = [html.unescape(t) for t in re.findall(r"<button class='tab'>(.*?)</button>", page,
                                                  flags=re.S)]
    assert sorted(tabs) == sorted(HOSTILE_TEST_SETS)
    data = json.loads(html.unescape(re.search(
        r"<script type='application/json' id='board-data'>(.*?)</script>", page,
        flags=re.S).group(1)).replace("\\u003c", "<"))
    for spec, name in zip(data, tabs, strict=True):
        groups = {g["label"]: g["span"] for g in spec["groups"]}
        assert groups[f"{name}: mean [95% interval]"] == 2, (name, groups)  # dice and hd95
        assert groups["fidelity"] == 1, (name, groups)  # no test set's column among them


# ---- item 12: artifact paths that depend on the directory run started in ---------------------

def test_item12_artifact_paths_are_stored_relative_to_the_run_folder(tmp_path, monkeypatch):
    from bench.run.store import Store

    (tmp_path / "a" / "runs" / "r" / "artifacts" / "fits" / "k1").mkdir(parents=True)
    (tmp_path / "a" / "runs" / "r" / "artifacts" / "fits" / "k1" / "done.json").write_text("{}")
    monkeypatch.chdir(tmp_path / "a")
    with Store(Path("runs/r") / "results.sqlite") as store:
        store.record_artifact("k1", "fit", Path("runs/r/artifacts/fits/k1"), "gen")
    monkeypatch.chdir(tmp_path)
    with Store(tmp_path / "a" / "runs" / "r" / "results.sqlite") as store:
        path = Path(store.artifacts().path[0])
        stored = store.db.execute("SELECT path FROM artifacts").fetchone()[0]
    assert not Path(stored).is_absolute() and Path(stored).parts[0] == "artifacts"
    assert path.is_dir() and (path / "done.json").is_file()
    # a run folder moved elsewhere still finds its artifacts
    shutil.move(tmp_path / "a" / "runs" / "r", tmp_path / "moved")
    with Store(tmp_path / "moved" / "results.sqlite") as store:
        assert (Path(store.artifacts().path[0]) / "done.json").is_file()


def test_item12_report_from_another_directory_finds_artifacts_recorded_with_a_relative_path(
        tmp_path, monkeypatch):
    from bench.report.leaderboard import write_report
    from bench.run.store import Store

    (tmp_path / "here").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    run = write_fake_run(Path("runs/fake"), {"gen": 0.05}, seeds=(0,), cases=4)
    fit = run / "artifacts" / "fits" / "k1"
    fit.mkdir(parents=True)
    (fit / "done.json").write_text(json.dumps({"generator": "gen", "cost": {"seconds": 12.5}}))
    with Store(run / "results.sqlite") as store:  # as the runner records it: run's --out path
        store.record_artifact("k1", "fit", fit, "gen")
    monkeypatch.chdir(tmp_path / "elsewhere")
    files = write_report(tmp_path / "here" / "runs" / "fake", Path("board"))
    board = pd.read_csv(files["leaderboard.csv"])
    assert board.set_index("generator")["cost:fit_s"]["gen"] == 12.5, \
        "the fit's done.json was not found"


# ---- item 13a: volumes too small for the segmenter -----------------------------------------

def _tiny_volumes(root: Path, shape=(1, 1, 1), n=4) -> Path:
    cases = [Case(f"c{i}", np.full((1, *shape), 1.0 + i, np.float32), np.ones(shape, np.uint8),
                  (1.0, 1.0, 1.0)) for i in range(n)]
    return write_nnunet(CaseSet(cases, {0: "background", 1: "fg"}, ["T1"], 3), root)


def test_item13_one_voxel_volumes_are_refused_before_training(capsys, tmp_path):
    root = _tiny_volumes(tmp_path / "ds")
    result = call_cli(capsys, "train", "--data", str(root), "--out", str(tmp_path / "m"),
                      "--preset", "tiny", "--device", "cpu", "--val-fraction", "0.25")
    _one_line_error(result, "too small")
    assert not (tmp_path / "m").exists()


def test_item13_one_voxel_volumes_are_refused_by_run_before_any_cell(capsys, tmp_path):
    root = _tiny_volumes(tmp_path / "ds")
    config = _config(tmp_path, root, split={"val": 0.25, "test": 0.25},
                     fidelity={"enabled": False}, metrics=["dice"])
    _one_line_error(call_cli(capsys, "run", config, "--out", str(tmp_path / "r")), "too small")
    assert not (tmp_path / "r" / "results.sqlite").exists()


# ---- item 13b: a label value or name declared twice ----------------------------------------

def test_item13_nnunet_label_value_declared_twice_is_refused(capsys, phantom_dir, tmp_path):
    # two names, one value: the later name silently replaced "white matter" in every table
    root = _edit_json(shutil.copytree(phantom_dir, tmp_path / "ds"),
                      lambda m: m["labels"].update({"myelin": 3}))
    line = _one_line_error(call_cli(capsys, "data", "check", str(root)), "myelin")
    assert "white matter" in line


def test_item13_nnunet_label_name_declared_twice_is_refused(capsys, phantom_dir, tmp_path):
    root = shutil.copytree(phantom_dir, tmp_path / "ds")
    text = (root / "dataset.json").read_text()
    # JSON keeps the last of two equal keys: "white matter" would silently move to value 2
    text = text.replace('"background": 0,', '"background": 0, "white matter": 2,', 1)
    (root / "dataset.json").write_text(text)
    _one_line_error(call_cli(capsys, "data", "check", str(root)), "white matter")


@pytest.mark.parametrize("labels, expected", [
    ({"0": "background", "1": "edema", "01": "core", "2": "tumour"}, "01"),
    ({"0": "background", "1": "tumour", "2": "tumour"}, "tumour"),
])
def test_item13_msd_label_declared_twice_is_refused(labels, expected, capsys, tmp_path):
    root = _edit_json(write_msd(tmp_path / "msd"), lambda m: m.update(labels=labels))
    _one_line_error(call_cli(capsys, "data", "check", str(root)), expected)


# ---- item 13c: stats on duplicated (method, case) rows -------------------------------------

def test_item13_stats_refuses_duplicated_method_case_rows(capsys, tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text("method,case,score\na,1,0.5\nb,1,0.4\nc,1,0.3\na,2,0.6\nb,2,0.5\nc,2,0.2\n"
                    "a,3,0.7\nb,3,0.1\nc,3,0.4\na,1,0.9\n")
    line = _one_line_error(call_cli(capsys, "stats", str(path)), "scores.csv")
    assert "'a'" in line and "'1'" in line and "rows 2 and 11" in line


def test_item13_stats_still_reads_one_row_per_method_and_case(capsys, tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text("method,case,score\na,1,0.5\nb,1,0.4\nc,1,0.3\na,2,0.6\nb,2,0.5\nc,2,0.2\n"
                    "a,3,0.7\nb,3,0.1\nc,3,0.4\n")
    result = call_cli(capsys, "stats", str(path))
    assert result.returncode == 0, result.stderr
