"""Every bad dataset gives exit code 2 and one line that names the file, never a traceback."""

import json
import shutil

import nibabel as nib
import numpy as np
import pytest

from tests.conftest import run_cli
from tests.test_io import write_msd


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
