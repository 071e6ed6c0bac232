"""Issue 37, items 8-13: inputs that used to give wrong results with no warning are refused with
one line (or, inside a run, fail their cell with one line naming the cause)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import yaml

from bench.api.errors import DataError
from tests.conftest import call_cli
from tests.test_io import write_msd


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
