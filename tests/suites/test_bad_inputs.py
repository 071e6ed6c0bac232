"""Every bad dataset gives exit code 2 and one line that names the file, never a traceback."""

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from tests.conftest import run_cli
from tests.data.test_io import write_msd


def _first_case(root):
    return sorted((root / "labelsTr").iterdir())[0].name.removesuffix(".nii.gz")


def _edit_json(root, **changes):
    meta = json.loads((root / "dataset.json").read_text())
    meta.update(changes)
    for key, value in changes.items():
        if value is None:
            del meta[key]
    (root / "dataset.json").write_text(json.dumps(meta))


def _replace_image(root, transform, sub="imagesTr", suffix="_0000"):
    path = root / sub / f"{_first_case(root)}{suffix}.nii.gz"
    img = nib.load(path)
    data, affine = transform(np.asarray(img.dataobj), img.affine.copy())
    nib.save(nib.Nifti1Image(data, affine), path)
    return path.name


def missing_json(root):
    (root / "dataset.json").unlink()
    return "dataset.json"


def malformed_json(root):
    (root / "dataset.json").write_text('{"channel_names": {"0": "T1"},, }')
    return "malformed JSON"


def missing_field(root):
    _edit_json(root, file_ending=None)
    return "file_ending"


def missing_channel(root):
    _edit_json(root, channel_names={"0": "T1", "1": "FLAIR"})
    return f"{_first_case(root)}_0001.nii.gz"


def missing_label(root):
    name = _first_case(root)
    (root / "labelsTr" / f"{name}.nii.gz").unlink()
    return f"{name}.nii.gz"


def missing_image(root):
    name = _first_case(root)
    (root / "imagesTr" / f"{name}_0000.nii.gz").unlink()
    return f"{name}_0000.nii.gz"


def shape_mismatch(root):
    _replace_image(root, lambda d, a: (d[:-2], a), sub="labelsTr", suffix="")
    return "shape"


def affine_mismatch(root):
    def shift(data, affine):
        affine[0, 3] += 5.0
        return data, affine
    return _replace_image(root, shift, sub="labelsTr", suffix="")


def undeclared_label(root):
    def add_seven(data, affine):
        data = data.copy()
        data[0, 0, 0] = 7
        return data, affine
    _replace_image(root, add_seven, sub="labelsTr", suffix="")
    return "[7]"


def nan_voxels(root):
    def poison(data, affine):
        data = data.astype(np.float32)
        data[1, 1, 1] = np.nan
        return data, affine
    return _replace_image(root, poison)


def truncated_file(root):
    path = root / "imagesTr" / f"{_first_case(root)}_0000.nii.gz"
    path.write_bytes(path.read_bytes()[:2000])
    return path.name


def empty_dataset(root):
    for sub in ("imagesTr", "labelsTr", "pvTr"):
        shutil.rmtree(root / sub)
        (root / sub).mkdir()
    return "empty"


def wrong_case_count(root):
    _edit_json(root, numTraining=5)
    return "numTraining"


def region_labels(root):
    _edit_json(root, labels={"background": 0, "whole": [1, 2, 3]})
    return "whole"


def not_a_folder(root):
    shutil.rmtree(root)
    return "not a folder"


BAD_NNUNET = [missing_json, malformed_json, missing_field, missing_channel, missing_label,
              missing_image, shape_mismatch, affine_mismatch, undeclared_label, nan_voxels,
              truncated_file, empty_dataset, wrong_case_count, region_labels, not_a_folder]


def _assert_one_line_error(result, expected: str):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert expected in lines[0], f"{expected!r} not named in: {lines[0]}"


@pytest.mark.parametrize("damage", BAD_NNUNET, ids=lambda f: f.__name__)
def test_bad_nnunet_dataset_gives_one_line_and_exit_2(damage, phantom_dir, tmp_path):
    root = tmp_path / "ds"
    shutil.copytree(phantom_dir, root)
    expected = damage(root)
    _assert_one_line_error(run_cli("data", "check", str(root)), expected)


def test_msd_image_with_missing_channel(tmp_path):
    root = write_msd(tmp_path / "Task01")
    meta = json.loads((root / "dataset.json").read_text())
    meta["modality"]["2"] = "T2w"
    (root / "dataset.json").write_text(json.dumps(meta))
    _assert_one_line_error(run_cli("data", "check", str(root)), "modality declares 3")


def test_valid_dataset_checks_with_exit_0(phantom_dir):
    result = run_cli("data", "check", str(phantom_dir))
    assert result.returncode == 0, result.stderr
    assert "2 cases" in result.stdout and "grey matter" in result.stdout


# ---- every command: bad options, configs and files through the CLI ----------------------------
# Each case builds its input inside ``tmp`` and returns (argv, what the error line must name).
# The run must end with exit 2 and one ``error:`` line, and leave ``tmp`` exactly as it was, so
# nothing blocks the corrected command.

def _yaml(tmp, text: str) -> str:
    path = tmp / "config.yaml"
    path.write_text(text)
    return str(path)


def _config(tmp, ds3, **changes) -> str:
    import yaml

    config = {"name": "bad", "dataset": str(ds3), "generators": [{"name": "none"}],
              "segmenters": [{"name": "unet2d", "preset": "tiny"}], "device": "cpu", **changes}
    return _yaml(tmp, yaml.safe_dump(config))


def _file(tmp, name="a-file.txt") -> str:
    (tmp / name).write_text("a file, not a folder")
    return str(tmp / name)


def _copy(tmp, ds) -> Path:
    shutil.copytree(ds, tmp / "ds")
    return tmp / "ds"


def _rewrite_labels(root, transform):
    for path in sorted((root / "labelsTr").iterdir()):
        img = nib.load(path)
        nib.save(nib.Nifti1Image(transform(np.asarray(img.dataobj)), img.affine), path)


def _msd(tmp, edit) -> str:
    root = write_msd(tmp / "msd")
    meta = json.loads((root / "dataset.json").read_text())
    edit(meta)
    (root / "dataset.json").write_text(json.dumps(meta))
    return str(root)


def _scores(tmp, rows: str) -> str:
    (tmp / "scores.csv").write_text("method,case,score\n" + rows)
    return str(tmp / "scores.csv")


def _fit_folder(tmp, info: str, checkpoint: bytes | None = None) -> str:
    folder = tmp / "fit"
    (folder / "model").mkdir(parents=True)
    (folder / "generator.json").write_text(info)
    if checkpoint is not None:
        (folder / "model" / "stylegan2.pt").write_bytes(checkpoint)
    return str(folder)


def _own_output(tmp) -> str:
    from bench.data.outputs import mark_output

    mark_output(tmp / "out")
    (tmp / "out" / "dataset.json").write_text("{}")
    return str(tmp / "out")


def _users_folder(tmp) -> str:
    (tmp / "mine").mkdir()
    (tmp / "mine" / "notes.txt").write_text("the user's own file")
    return str(tmp / "mine")


def _fake_run(tmp) -> str:
    (tmp / "run").mkdir()
    return str(tmp / "run")


RUN = ("run",)
CLI_CASES = {
    # run: config file and fields
    "config-missing": lambda t, d: ([*RUN, str(t / "nope.yaml")], "nope.yaml"),
    "config-not-yaml": lambda t, d: ([*RUN, _yaml(t, "name: [a,\n")], "not valid YAML"),
    "config-a-list": lambda t, d: ([*RUN, _yaml(t, "- a\n- b\n")], "mapping"),
    "config-typo-field": lambda t, d: ([*RUN, _config(t, d, segmentors=[])], "segmentors"),
    "config-bad-name": lambda t, d: ([*RUN, _config(t, d, name="a/b")], "name"),
    "config-zero-count": lambda t, d: ([*RUN, _config(t, d, counts=[0])], "counts"),
    "config-unknown-metric": lambda t, d: ([*RUN, _config(t, d, metrics=["dise"])], "dise"),
    "config-unknown-primary-metric": lambda t, d: (
        [*RUN, _config(t, d, primary_metric="dise")], "primary_metric"),
    "config-primary-not-measured": lambda t, d: (
        [*RUN, _config(t, d, metrics=["dice"], primary_metric="hd95")], "primary_metric"),
    "config-alpha-above-one": lambda t, d: ([*RUN, _config(t, d, alpha=2)], "alpha"),
    "config-unknown-generator": lambda t, d: (
        [*RUN, _config(t, d, generators=[{"name": "gann"}])], "gann"),
    "config-unknown-segmenter-preset": lambda t, d: (
        [*RUN, _config(t, d, segmenters=[{"name": "unet2d", "preset": "huge"}])], "huge"),
    "config-segmenter-param-type": lambda t, d: (
        [*RUN, _config(t, d, segmenters=[{"name": "unet2d", "params": {"steps": "many"}}])],
        "steps"),
    "config-dataset-missing": lambda t, d: (
        [*RUN, _config(t, d, dataset=str(t / "gone"))], "gone"),
    "config-test-set-missing": lambda t, d: (
        [*RUN, _config(t, d, test_sets={"x": str(t / "gone")})], "gone"),
    "config-train-cases-too-many": lambda t, d: (
        [*RUN, _config(t, d, split={"train_cases": 50})], "train_cases"),
    "config-test-set-other-labels": lambda t, d: (
        [*RUN, _config(t, d, test_sets={"x": "phantom:A:2:2:T1+FLAIR"})], "channels"),
    # run: options
    "run-config-and-preset": lambda t, d: ([*RUN, _config(t, d), "--preset", "smoke"],
                                           "one of the two"),
    "run-unknown-preset": lambda t, d: ([*RUN, "--preset", "smok"], "smoke"),
    "run-set-not-yaml": lambda t, d: ([*RUN, _config(t, d), "--set", "counts=[1,"], "counts"),
    "run-set-into-scalar": lambda t, d: ([*RUN, _config(t, d), "--set", "name.x=1"], "name"),
    "run-set-without-equals": lambda t, d: ([*RUN, _config(t, d), "--set", "seed"], "seed"),
    "run-out-is-a-file": lambda t, d: ([*RUN, _config(t, d), "--out", _file(t)], "a-file.txt"),
    "run-out-under-a-file": lambda t, d: (
        [*RUN, _config(t, d), "--out", str(Path(_file(t)) / "run")], "a-file.txt"),
    "run-unknown-executor": lambda t, d: (
        [*RUN, _config(t, d), "--out", str(t / "r"), "--executor", "slurm"], "slurm"),
    # data
    "phantom-out-is-a-file": lambda t, d: (["data", "phantom", "--out", _file(t)],
                                           "a-file.txt"),
    "phantom-into-users-folder": lambda t, d: (["data", "phantom", "--out", _users_folder(t)],
                                               "mine"),
    "phantom-over-own-output": lambda t, d: (["data", "phantom", "--out", _own_output(t)],
                                             "--overwrite"),
    "phantom-unknown-site": lambda t, d: (["data", "phantom", "--out", str(t / "p"),
                                           "--site", "Z"], "site"),
    "phantom-unknown-channel": lambda t, d: (["data", "phantom", "--out", str(t / "p"),
                                              "--channels", "T1,XX"], "channels"),
    "show-unknown-format": lambda t, d: (["data", "show", str(d), "--out", str(t / "x.xyz")],
                                         "x.xyz"),
    "show-out-is-a-folder": lambda t, d: (["data", "show", str(d), "--out", str(t)], str(t)),
    "check-complex-image": lambda t, d: (["data", "check", _complex(t, d)], "complex"),
    "check-all-background-labels": lambda t, d: (["data", "check", _background(t, d)],
                                                 "all background"),
    "check-msd-path-outside": lambda t, d: (["data", "check", _msd(t, _outside)],
                                            "training[0].image"),
    "check-msd-duplicate-case": lambda t, d: (["data", "check", _msd(t, _duplicate)],
                                              "training[1]"),
    # stats
    "stats-alpha-above-one": lambda t, d: (["stats", _scores(t, "a,1,0.5\n"), "--alpha", "1.5"],
                                           "--alpha"),
    "stats-score-not-numeric": lambda t, d: (
        ["stats", _scores(t, "a,1,0.5\nb,1,high\n")], "score"),
    "stats-missing-column": lambda t, d: (
        ["stats", _scores(t, "a,1,0.5\n"), "--score-col", "dice"], "dice"),
    "stats-file-missing": lambda t, d: (["stats", str(t / "none.csv")], "none.csv"),
    "stats-out-is-a-file": lambda t, d: (
        ["stats", _scores(t, "a,1,0.5\nb,1,0.4\n"), "--out", _file(t)], "a-file.txt"),
    # generator
    "fit-unknown-generator": lambda t, d: (["generator", "fit", "gann", "--data", str(d),
                                            "--out", str(t / "g")], "gann"),
    "fit-out-is-a-file": lambda t, d: (["generator", "fit", "brainspade", "--data", str(d),
                                        "--out", _file(t)], "a-file.txt"),
    "fit-set-not-yaml": lambda t, d: (["generator", "fit", "brainspade", "--data", str(d),
                                       "--out", str(t / "g"), "--set", "size=[1,"], "size"),
    "sample-damaged-generator-json": lambda t, d: (
        ["generator", "sample", _fit_folder(t, '{"name": '), "-n", "1", "--out",
         str(t / "s")], "generator.json"),
    "sample-truncated-checkpoint": lambda t, d: (
        ["generator", "sample", _fit_folder(t, '{"name": "b-sg"}', b"PK\x03\x04trunc"), "-n",
         "1", "--out", str(t / "s")], "stylegan2.pt"),
    "sample-into-users-folder": lambda t, d: (
        ["generator", "sample", str(t), "-n", "1", "--out", _users_folder(t)], "mine"),
    # train
    "train-out-is-a-file": lambda t, d: (["train", "--data", str(d), "--out", _file(t)],
                                         "a-file.txt"),
    "train-unknown-segmenter": lambda t, d: (["train", "--data", str(d), "--out", str(t / "m"),
                                              "--segmenter", "unet9d"], "unet9d"),
    "train-set-not-yaml": lambda t, d: (["train", "--data", str(d), "--out", str(t / "m"),
                                         "--set", "steps=[1,"], "steps"),
    "train-unknown-strategy": lambda t, d: (["train", "--data", str(d), "--out", str(t / "m"),
                                             "--strategy", "reel"], "reel"),
    # report, status, fidelity
    "report-not-a-run": lambda t, d: (["report", _fake_run(t)], "results.sqlite"),
    "report-out-is-a-file": lambda t, d: (["report", _fake_run(t), "--out", _file(t)],
                                          "a-file.txt"),
    "status-not-a-run": lambda t, d: (["status", _fake_run(t)], "results.sqlite"),
    "fidelity-not-a-run": lambda t, d: (["fidelity", _fake_run(t)], "results.sqlite"),
}


def _complex(tmp, ds) -> str:
    root = _copy(tmp, ds)
    _replace_image(root, lambda d, a: (d.astype(np.complex64) * (1 + 1j), a))
    return str(root)


def _background(tmp, ds) -> str:
    root = _copy(tmp, ds)
    _rewrite_labels(root, np.zeros_like)
    return str(root)


def _outside(meta):
    meta["training"][0]["image"] = "../outside/BRATS_000.nii.gz"


def _duplicate(meta):
    meta["training"][1] = dict(meta["training"][0])


def _snapshot(root) -> dict:
    return {str(p.relative_to(root)): (p.stat().st_size if p.is_file() else None,
                                       p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("case", CLI_CASES)
def test_bad_cli_input_gives_one_line_and_leaves_nothing_behind(case, capsys, phantom3_dir,
                                                                tmp_path):
    from tests.conftest import call_cli

    work = tmp_path / "work"
    work.mkdir()
    argv, expected = CLI_CASES[case](work, phantom3_dir)
    before = _snapshot(work)
    _assert_one_line_error(call_cli(capsys, *argv), expected)
    assert _snapshot(work) == before, "the refused command left files behind"
