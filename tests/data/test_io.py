"""Reading and writing the nnU-Net v2 raw and MSD layouts."""

import json

import nibabel as nib
import numpy as np
import pytest

from bench.api.case import Case, CaseSet
from bench.api.errors import DataError
from bench.data import load_dataset, write_nnunet


def test_nnunet_round_trip_keeps_everything(phantom, tmp_path):
    written = phantom.subset([0, 1])
    back = load_dataset(write_nnunet(written, tmp_path / "ds"))
    assert back.ids == written.ids
    assert back.labels == written.labels and back.channels == written.channels
    for a, b in zip(written, back, strict=True):
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.label, b.label)
        np.testing.assert_allclose(a.pv, b.pv)
        np.testing.assert_allclose(a.affine, b.affine)
        assert b.spacing == a.spacing and b.meta == a.meta


def test_nnunet_layout_is_what_nnunet_expects(phantom, tmp_path):
    root = write_nnunet(phantom.subset([0]), tmp_path / "ds")
    meta = json.loads((root / "dataset.json").read_text())
    assert meta["channel_names"] == {"0": "T1"}
    assert meta["labels"]["background"] == 0 and meta["labels"]["white matter"] == 3
    assert meta["numTraining"] == 1 and meta["file_ending"] == ".nii.gz"
    case_id = phantom[0].id
    assert (root / "imagesTr" / f"{case_id}_0000.nii.gz").is_file()
    assert nib.load(root / "labelsTr" / f"{case_id}.nii.gz").shape == phantom[0].spatial_shape


def test_rewriting_removes_cases_of_the_earlier_export(phantom, tmp_path):
    write_nnunet(phantom, tmp_path / "ds")
    back = load_dataset(write_nnunet(phantom.subset([0]), tmp_path / "ds", overwrite=True))
    assert back.ids == [phantom[0].id]


def test_writing_into_a_non_empty_folder_is_refused_without_overwrite(phantom, tmp_path):
    write_nnunet(phantom.subset([0]), tmp_path / "ds")
    with pytest.raises(DataError, match="not empty"):
        write_nnunet(phantom.subset([0]), tmp_path / "ds")


def test_2d_cases_are_stored_as_volumes_of_depth_one(tmp_path):
    label = np.zeros((6, 5), np.uint8)
    label[2:4, 1:3] = 1
    cases = CaseSet([Case("s0", np.ones((2, 6, 5), np.float32), label, (1.0, 1.5))],
                    {0: "background", 1: "fg"}, ["T1", "FLAIR"], 2)
    root = write_nnunet(cases, tmp_path / "ds2d")
    assert nib.load(root / "labelsTr" / "s0.nii.gz").shape == (6, 5, 1)
    back = load_dataset(root)
    assert back.spatial_dims == 2 and back[0].spacing == (1.0, 1.5)
    np.testing.assert_array_equal(back[0].label, label)


def write_msd(root, n_cases=2, channels=("FLAIR", "T1w"), shape=(8, 9, 7)):
    """A tiny dataset in the Medical Segmentation Decathlon layout (4D images, channels last)."""
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    rng = np.random.default_rng(0)
    training = []
    for i in range(n_cases):
        name = f"BRATS_{i:03d}.nii.gz"
        affine = np.diag([1.0, 1.0, 1.5, 1.0])
        image = rng.random((*shape, len(channels))).astype(np.float32)
        label = np.zeros(shape, np.uint8)
        label[2:5, 2:5, 2:4] = 1 + i % 2
        nib.save(nib.Nifti1Image(image, affine), root / "imagesTr" / name)
        nib.save(nib.Nifti1Image(label, affine), root / "labelsTr" / name)
        training.append({"image": f"./imagesTr/{name}", "label": f"./labelsTr/{name}"})
    meta = {"name": "BRATS", "modality": {str(i): c for i, c in enumerate(channels)},
            "labels": {"0": "background", "1": "edema", "2": "tumour"},
            "numTraining": n_cases, "training": training, "test": []}
    (root / "dataset.json").write_text(json.dumps(meta))
    return root


def test_msd_layout_is_read_with_channels_first(tmp_path):
    cases = load_dataset(write_msd(tmp_path / "Task01"))
    assert cases.channels == ["FLAIR", "T1w"] and len(cases) == 2
    assert cases[0].image.shape == (2, 8, 9, 7)
    assert cases[0].spacing == (1.0, 1.0, 1.5)
    assert cases.labels == {0: "background", 1: "edema", 2: "tumour"}


def test_msd_can_be_converted_to_nnunet(tmp_path):
    cases = load_dataset(write_msd(tmp_path / "Task01"))
    back = load_dataset(write_nnunet(cases, tmp_path / "converted"))
    np.testing.assert_array_equal(back[1].image, cases[1].image)
    np.testing.assert_array_equal(back[1].label, cases[1].label)
