"""No test case may be seen in training (issue "Trustworthy numbers", defect 3)."""

import dataclasses

import numpy as np
import pytest

from bench.api.errors import DataError
from bench.api.presets import from_preset
from bench.api.segmenter import TrainContext
from bench.api.strategies import parse_strategy
from bench.data import open_dataset
from bench.data.leakage import check_no_leakage
from bench.data.phantom import subject_id
from bench.run.config import load_preset
from segmenters.monai_models import UNet2D
from segmenters.nnunet import _validation
from segmenters.training import Trained
from tests.conftest import call_cli


def test_test_cases_inside_the_training_data_are_refused_naming_both_roles(phantom):
    with pytest.raises(DataError, match=r"test set 'heldout' case phantomA_s7_002 is also "
                                        r"target case phantomA_s7_002"):
        check_no_leakage({"training": phantom.subset([0, 1]), "target": phantom.subset([2])},
                         {"heldout": phantom.subset([2])})


def test_a_renamed_copy_of_a_training_case_is_still_leakage(phantom):
    copy = dataclasses.replace(phantom[0], id="someone_else")
    with pytest.raises(DataError, match="case someone_else is also training case"):
        check_no_leakage({"training": phantom.subset([0])}, {"x": phantom.replace([copy])})
    check_no_leakage({"training": phantom.subset([0])}, {"x": phantom.subset([1, 2])})


def test_a_test_volume_inside_a_multi_channel_training_volume_is_leakage():
    """The T1 of a T1 + FLAIR training subject is that subject's T1 test volume."""
    t1, both = open_dataset("phantom:A:2"), open_dataset("phantom:A:1:2:T1+FLAIR")
    with pytest.raises(DataError, match="case phantomA_s0_000 is also generator fit data case "
                                        "phantomA_s0_000"):
        check_no_leakage({"generator fit data": both}, {"heldout": t1})
    check_no_leakage({"generator fit data": both}, {"heldout": t1.subset([1])})


def test_a_constant_channel_is_not_a_subject(phantom):
    blank = dataclasses.replace(phantom[0], image=np.zeros_like(phantom[0].image))
    other = dataclasses.replace(phantom[1], image=np.zeros_like(phantom[1].image))
    check_no_leakage({"training": phantom.replace([blank])}, {"x": phantom.replace([other])})


def test_phantom_specs_share_a_subject_only_when_they_mean_the_same_subject():
    small, large = open_dataset("phantom:B:1"), open_dataset("phantom:B:2")
    other = open_dataset("phantom:B:2:seed=1")
    assert small.ids == large.ids[:1] == ["phantomB_s0_000"]
    np.testing.assert_array_equal(small[0].image, large[0].image)
    assert not set(other.ids) & set(large.ids)
    assert not np.array_equal(other[0].image, large[0].image)


def test_test_cases_inside_the_training_data_medgen3d_e3_is_disjoint():
    """The E3 preset's target (fine-tuning + validation) and test subjects never coincide."""
    config = load_preset("medgen3d-e3")

    def ids(spec: str) -> set[str]:
        from bench.data import _phantom_config

        parsed = _phantom_config(spec)
        return {subject_id(parsed, i) for i in range(parsed.subjects)}

    tests = set().union(*(ids(spec) for spec in config.test_sets.values()))
    assert tests and not ids(config.target) & tests
    assert not ids(config.dataset) & tests


def test_a_config_reusing_a_test_folder_as_its_target_is_refused(phantom3_dir, tmp_path, capsys):
    config = tmp_path / "matrix.yaml"
    config.write_text(f"name: leak\ndataset: phantom:A:3\ntarget: {phantom3_dir}\n"
                      f"test_sets: {{site: {phantom3_dir}}}\nstrategies: [real>target]\n"
                      "segmenters: [{name: unet2d, preset: tiny}]\n"
                      "split: {val: 0.0, test: 0.0, target_val: 0.0}\n")
    result = call_cli(capsys, "run", str(config), "--out", str(tmp_path / "run"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "test set 'site' case" in result.stderr and "is also target case" in result.stderr
    assert not (tmp_path / "run" / "cells").exists()


def test_the_target_stage_picks_its_checkpoint_on_target_validation(monkeypatch, phantom,
                                                                     tmp_path):
    seen = []

    def fake_train(net, items, weights, val, loop, workdir, *args):
        seen.append([v["image"] for v in val])
        workdir.mkdir(parents=True, exist_ok=True)
        return Trained(workdir / "best.pt", 1, "cap", 0, None)

    monkeypatch.setattr("segmenters.monai_models.train_network", fake_train)
    segmenter = from_preset(UNet2D, "tiny")
    source_val, target_val = phantom.subset([1]), open_dataset("phantom:B:1")
    data = {"real": phantom.subset([0]), "val": source_val, "target": phantom.subset([2]),
            "target_val": target_val}
    segmenter.train(list(parse_strategy("real>target").stages), TrainContext(tmp_path, data))
    expected = [v["image"] for v in segmenter._items(target_val, train=False)]
    source = [v["image"] for v in segmenter._items(source_val, train=False)]
    assert len(seen) == 2
    assert len(seen[1]) == len(expected)
    assert all(np.array_equal(a, b) for a, b in zip(seen[1], expected, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(seen[0], source, strict=True))


def test_nnunet_target_stage_validates_on_the_target_domain():
    names = {"real": ["r0"], "val": ["v0"], "target": ["t0", "t1"], "target_val": ["tv0"]}
    stages = parse_strategy("real>target").stages
    assert [_validation(s, names) for s in stages] == [["v0"], ["tv0"]]

