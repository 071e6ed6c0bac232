"""`synth2seg train`: one segmenter, one strategy, per-case metrics on real test sets."""

import json

import pandas as pd
import pytest

from bench.data import write_nnunet
from bench.data.phantom import PhantomConfig, make_phantom
from tests.conftest import call_cli, run_cli
from tests.suites.test_bad_inputs import _assert_one_line_error

TINY = ("--segmenter", "unet2d", "--preset", "tiny", "--device", "cpu", "--no-hd95")


def test_train_refuses_a_test_set_that_holds_training_cases(phantom3_dir, phantom_dir,
                                                            tmp_path, capsys):
    """``phantom_dir`` holds two of ``phantom3_dir``'s three subjects: at least one of them is
    a training case whatever the split."""
    result = call_cli(capsys, "train", "--data", str(phantom3_dir), *TINY, "--out",
                      str(tmp_path / "run"), "--test", f"again={phantom_dir}")
    _assert_one_line_error(result, "test set 'again' case")
    assert "must never be seen in training" in result.stderr
    assert not (tmp_path / "run" / "model").exists()


def test_train_writes_per_case_metrics_for_every_test_set(phantom3_dir, other_phantom_dir,
                                                          tmp_path):
    out = tmp_path / "run"
    result = run_cli("train", "--data", str(phantom3_dir), *TINY, "--out", str(out),
                     "--test", f"again={other_phantom_dir}")
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(out / "metrics.csv")
    assert list(table.columns) == ["test_set", "case", "class", "metric", "value"]
    assert set(table.test_set) == {"heldout", "again"}
    assert set(table["class"]) == {"CSF", "grey matter", "white matter"}
    dice = table[table.metric == "dice"].value
    assert dice.between(0, 1).all()
    split = json.loads((out / "split.json").read_text())
    assert sum(len(ids) for ids in split.values()) == 3
    assert not set(split["real"]) & set(split["test"])
    assert set(table[table.test_set == "heldout"].case) == set(split["test"])
    assert "heldout" in result.stdout and "dice" in result.stdout
    assert (out / "model" / "model.json").exists()


def test_train_with_synthetic_data_and_a_mixing_ratio(phantom3_dir, other_phantom_dir,
                                                     tmp_path):
    out = tmp_path / "run"
    result = run_cli("train", "--data", str(phantom3_dir), *TINY, "--out", str(out),
                     "--strategy", "real+synthetic>real", "--synthetic", str(other_phantom_dir),
                     "--synthetic-fraction", "0.5", "--augment")
    assert result.returncode == 0, result.stderr
    assert {p.name for p in (out / "model").iterdir() if p.is_dir()} == {
        "stage0_real+synthetic", "stage1_real"}


@pytest.mark.parametrize(("extra", "expected"), [
    (("--segmenter", "unet4d"), "unknown segmenter 'unet4d'"),
    (("--strategy", "real>>synthetic"), "strategy 'real>>synthetic': unknown stage ''"),
    (("--strategy", "synthetic>real"), "strategy 'synthetic>real' trains on synthetic data"),
    (("--strategy", "real>target"), "strategy 'real>target' fine-tunes on the target domain"),
    (("--set", "stepz=3"), "parameter 'stepz'"),
    (("--device", "tpu"), "device 'tpu'"),
])
def test_bad_training_options_give_one_line(extra, expected, phantom3_dir, tmp_path, capsys):
    args = ["train", "--data", str(phantom3_dir), *TINY, "--out", str(tmp_path / "r"), *extra]
    _assert_one_line_error(call_cli(capsys, *args), expected)


def test_synthetic_labels_must_match_the_real_ones(phantom3_dir, tmp_path, capsys):
    lesions = write_nnunet(make_phantom(PhantomConfig(subjects=1, seed=3, lesions=True)),
                           tmp_path / "synthetic")
    result = call_cli(capsys, "train", "--data", str(phantom3_dir), *TINY,
                      "--out", str(tmp_path / "r"),
                      "--strategy", "real+synthetic", "--synthetic", str(lesions))
    _assert_one_line_error(result, f"synthetic dataset {lesions}: labels")
    assert "'tumour'" in result.stderr


def test_a_test_set_with_other_channels_is_refused_before_training(phantom3_dir, lesion_dir,
                                                                   tmp_path, capsys):
    out = tmp_path / "r"
    result = call_cli(capsys, "train", "--data", str(phantom3_dir), *TINY, "--out", str(out),
                     "--test", f"ood={lesion_dir}")
    _assert_one_line_error(result, "test set 'ood' dataset")
    assert "do not match the training data's ['T1']" in result.stderr
    assert not (out / "model").exists()
