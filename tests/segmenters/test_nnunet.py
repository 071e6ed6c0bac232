"""nnU-Net v2 behind the Segmenter protocol."""

import json

import numpy as np
import pytest

from bench.api.errors import ConfigError
from bench.api.presets import from_preset
from bench.api.segmenter import TrainContext
from bench.api.slices import extract_slices
from bench.api.strategies import parse_strategy
from bench.data import load_dataset
from segmenters.nnunet import DATASET, NnUNetSegmenter, _environment, _write_dataset


def test_every_role_goes_into_one_run_local_dataset(phantom, tmp_path):
    slices = extract_slices(phantom.subset([2]), axis=2, min_foreground=0.3).cases
    data = {"real": phantom.subset([0]), "val": phantom.subset([1]), "synthetic": slices}
    names = _write_dataset(data, tmp_path / DATASET)
    assert names["real"] == ["real_0000"] and names["val"] == ["val_0000"]
    assert len(names["synthetic"]) == len(slices)
    written = load_dataset(tmp_path / DATASET)
    assert len(written) == 2 + len(slices)
    synthetic = written[written.ids.index("synthetic_0000")]
    assert synthetic.spatial_shape == (*slices[0].spatial_shape, 1)  # 2D as depth one
    np.testing.assert_array_equal(synthetic.label[..., 0], slices[0].label)


def test_nnunet_variables_point_into_the_run_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("nnUNet_raw", "/data/users/own/raw")
    env = _environment(tmp_path, from_preset(NnUNetSegmenter, "tiny").params)
    for key in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        assert env[key].startswith(str(tmp_path))


def test_a_mixing_ratio_is_refused_not_ignored(phantom, tmp_path):
    strategy = parse_strategy("real+synthetic", synthetic_fraction=0.3)
    ctx = TrainContext(tmp_path, {"real": phantom.subset([0]), "synthetic": phantom.subset([1])})
    with pytest.raises(ConfigError, match="synthetic_fraction"):
        from_preset(NnUNetSegmenter, "tiny").train(list(strategy.stages), ctx)
    assert not (tmp_path / "nnunet").exists()


@pytest.mark.slow
def test_nnunet_trains_fine_tunes_and_predicts(phantom, tmp_path):
    seg = from_preset(NnUNetSegmenter, "tiny")
    data = {"real": phantom.subset([0]), "synthetic": phantom.subset([1]),
            "val": phantom.subset([2])}
    model = seg.train(list(parse_strategy("synthetic>real").stages), TrainContext(tmp_path, data))
    assert (model.path / "checkpoint_final.pth").exists() and model.path.name == "fold_1"
    splits = json.loads((tmp_path / "nnunet" / "preprocessed" / DATASET / "splits_final.json")
                        .read_text())
    assert splits == [{"train": ["synthetic_0000"], "val": ["val_0000"]},
                      {"train": ["real_0000"], "val": ["val_0000"]}]
    log = (tmp_path / "nnunet.log").read_text()
    assert "Loading pretrained weights from file" in log and "fold_0/checkpoint_final.pth" in log
    (pred,) = seg.predict(model, phantom.subset([2]))
    assert pred.shape == phantom[2].label.shape
    assert set(np.unique(pred)) <= {0, 1, 2, 3}
    # a second train call finds every fold finished and retrains nothing
    seg.train(list(parse_strategy("synthetic>real").stages), TrainContext(tmp_path, data))
    assert log.count("Training done") == 2
    assert (tmp_path / "nnunet.log").read_text().count("already trained") == 2
