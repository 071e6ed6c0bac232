"""MONAI segmenters: training stages, fine-tuning, resume and prediction on the phantom."""

import numpy as np
import pytest
import torch

from bench.api import TrainContext, get_segmenter
from bench.api.presets import from_preset
from bench.api.slices import extract_slices
from bench.api.strategies import parse_strategy


def _ctx(tmp_path, phantom, **kwargs):
    data = {"real": phantom.subset([0, 1]), "val": phantom.subset([2])}
    return TrainContext(workdir=tmp_path, data=data, seed=0, **kwargs)


def _weights(path):
    state = torch.load(path, weights_only=True)
    return state.get("net", state)


def test_unet2d_trains_and_predicts_whole_volumes(phantom, tmp_path):
    segmenter = from_preset(get_segmenter("unet2d"), "tiny")
    model = segmenter.train(list(parse_strategy("real").stages), _ctx(tmp_path, phantom))
    predictions = segmenter.predict(model, phantom.subset([2]))
    assert predictions[0].shape == phantom[2].label.shape
    assert set(np.unique(predictions[0])) <= set(phantom.labels)


def test_unet2d_takes_2d_data_of_another_size(phantom, tmp_path):
    """Generated slices need not have the patch size; 2D test sets come back at their size."""
    slices = extract_slices(phantom.subset([1]), axis=2, size=(40, 44), min_foreground=0.2).cases
    ctx = TrainContext(tmp_path, {"real": phantom.subset([0]), "synthetic": slices}, seed=0)
    segmenter = from_preset(get_segmenter("unet2d"), "tiny")
    model = segmenter.train(list(parse_strategy("real+synthetic").stages), ctx)
    predictions = segmenter.predict(model, slices.subset([0, 1]))
    assert [p.shape for p in predictions] == [(40, 44), (40, 44)]


def test_finetune_stage_starts_from_the_previous_weights(phantom, tmp_path):
    cls = get_segmenter("unet2d")
    params = cls.Params(**{**cls.presets["tiny"], "finetune_steps": 0})
    segmenter = cls(params)
    model = segmenter.train(list(parse_strategy("real>real").stages), _ctx(tmp_path, phantom))
    first = _weights(tmp_path / "stage0_real" / "best.pt")
    second = _weights(model.path)
    fresh = segmenter.build(1, 4).state_dict()
    for key in first:
        assert torch.equal(first[key], second[key]), f"{key} was not carried into fine-tuning"
    assert any(not torch.equal(first[k], fresh[k]) for k in first)


def test_interrupted_training_resumes_to_the_same_weights(phantom, tmp_path):
    cls = get_segmenter("unet2d")
    full = cls(cls.Params(**{**cls.presets["tiny"], "steps": 4}))
    full.train(list(parse_strategy("real").stages), _ctx(tmp_path / "full", phantom,
                                                         augment=True))
    half = cls(cls.Params(**{**cls.presets["tiny"], "steps": 2}))
    half.train(list(parse_strategy("real").stages), _ctx(tmp_path / "resumed", phantom,
                                                         augment=True))
    full.train(list(parse_strategy("real").stages), _ctx(tmp_path / "resumed", phantom,
                                                         augment=True))
    a = _weights(tmp_path / "full" / "stage0_real" / "last.pt")
    b = _weights(tmp_path / "resumed" / "stage0_real" / "last.pt")
    assert torch.load(tmp_path / "resumed" / "stage0_real" / "last.pt",
                      weights_only=True)["step"] == 4
    for key in a:
        torch.testing.assert_close(a[key], b[key])


def test_epochs_count_passes_over_the_stage_data(phantom, tmp_path):
    cls = get_segmenter("unet2d")
    segmenter = cls(cls.Params(**{**cls.presets["tiny"], "epochs": 2, "batch": 32,
                                  "min_foreground": 0.5}))
    ctx = TrainContext(tmp_path, {"real": phantom.subset([0])}, seed=0)
    segmenter.train(list(parse_strategy("real").stages), ctx)
    n = len(extract_slices(phantom.subset([0]), axis=2, min_foreground=0.5))
    state = torch.load(tmp_path / "stage0_real" / "last.pt", weights_only=True)
    assert state["step"] == -(-2 * n // 32)


def test_mixing_ratio_needs_synthetic_data(phantom, tmp_path):
    from bench.api.errors import ConfigError

    segmenter = from_preset(get_segmenter("unet2d"), "tiny")
    with pytest.raises(ConfigError, match="needs synthetic"):
        segmenter.train(list(parse_strategy("real+synthetic").stages), _ctx(tmp_path, phantom))


@pytest.mark.parametrize("name", ["unet3d", "unetr",
                                  pytest.param("swin_unetr", marks=pytest.mark.slow)])
def test_3d_segmenters_train_and_predict(name, phantom, tmp_path):
    segmenter = from_preset(get_segmenter(name), "tiny")
    model = segmenter.train(list(parse_strategy("real").stages), _ctx(tmp_path, phantom))
    predictions = segmenter.predict(model, phantom.subset([2]))
    assert predictions[0].shape == phantom[2].label.shape


def test_unknown_preset_is_a_config_error():
    from bench.api.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown preset 'huge'"):
        from_preset(get_segmenter("unet2d"), "huge")


def test_a_swin_unetr_patch_below_64_is_refused_when_the_matrix_resolves():
    """32³ leaves Swin-UNETR a 1-voxel bottleneck that fails every cell in training."""
    from bench.api.errors import ConfigError
    from bench.run.config import load_config
    from bench.run.resolve import resolve_config

    def matrix(patch):
        return load_config({"name": "swin", "segmenters": [
            {"name": "swin_unetr", "preset": "tiny", "params": {"patch": patch}}]})

    with pytest.raises(ConfigError, match=r"swin_unetr': patch \(32, 32, 32\) must be at least 64"):
        resolve_config(matrix([32, 32, 32]))
    with pytest.raises(ConfigError, match="multiple of 32"):
        resolve_config(matrix([64, 64, 80]))
    assert resolve_config(matrix([64, 64, 96])).segmenters[0].params["patch"] == [64, 64, 96]


def test_training_stops_at_a_validation_plateau(phantom, tmp_path):
    """With patience 2 and weights that cannot change (lr 1e-12), validation never improves on
    its first score: the stage stops after 3 of its 50 steps."""
    cls = get_segmenter("unet2d")
    tiny = {**cls.presets["tiny"], "steps": 50, "val_every": 1, "lr": 1e-12}
    cls(cls.Params(**tiny, patience=2)).train(list(parse_strategy("real").stages),
                                              _ctx(tmp_path / "plateau", phantom))
    last = torch.load(tmp_path / "plateau" / "stage0_real" / "last.pt", weights_only=True)
    assert last["step"] == 3 and last["stale"] == 2


def test_no_stopping_rule_keeps_the_earlier_identity():
    """``patience`` 0 dumps as the params did before it existed: cached cells keep their keys."""
    cls = get_segmenter("unet2d")
    assert "patience" not in cls.Params().model_dump(mode="json")
    assert cls.Params(patience=3).model_dump(mode="json")["patience"] == 3


@pytest.mark.parametrize("name, params, expected", [
    ("unet2d", {"channels": (8,)}, "at least two"),
    ("unet2d", {"channels": (8, 16, 32), "patch": (30, 30)}, "divisible by 4"),
    ("unet3d", {"channels": (8, 16, 32, 64), "patch": (36, 36, 36)}, "divisible by 8"),
    ("unetr", {"patch": (40, 40, 40)}, "divisible by 16"),
])
def test_a_network_the_params_cannot_build_is_refused_when_the_matrix_resolves(
        name, params, expected):
    """These passed validation and failed inside the cell (exit 1, the run folder written)."""
    from bench.api.errors import ConfigError
    from bench.run.config import load_config, load_preset
    from bench.run.matrix import expand

    with pytest.raises(ConfigError, match=f"segmenter '{name}' parameter .*{expected}"):
        from_preset(get_segmenter(name), "tiny", **params)
    config = {**load_preset("smoke").model_dump(mode="json"),
              "segmenters": [{"name": name, "preset": "tiny", "params": params}]}
    with pytest.raises(ConfigError, match=expected):
        expand(load_config(config))


def test_the_training_record_says_whether_a_plateau_or_the_cap_stopped_a_stage(phantom, tmp_path):
    """A reader must see which cells were compared before their plateau: each stage's record
    (model info, kept in model.json) has the steps, the cap and the reason training stopped."""
    cls = get_segmenter("unet2d")
    tiny = {**cls.presets["tiny"], "steps": 4, "val_every": 1, "lr": 1e-12}
    stages = list(parse_strategy("real").stages)
    frozen = cls(cls.Params(**tiny, patience=2)).train(stages, _ctx(tmp_path / "p", phantom))
    capped = cls(cls.Params(**tiny, patience=5)).train(stages, _ctx(tmp_path / "c", phantom))
    (plateau,), (cap,) = frozen.info["training"], capped.info["training"]
    assert (plateau["steps"], plateau["cap"], plateau["stopped"], plateau["stale"]) == \
        (3, 4, "plateau", 2)
    assert (cap["steps"], cap["cap"], cap["stopped"], cap["stale"]) == (4, 4, "cap", 3)
    assert 0.0 <= cap["best_val_dice"] <= 1.0 and cap["stage"] == "stage0_real"
    assert cls(cls.Params(**tiny)).load(tmp_path / "c").info["training"] == [cap]
