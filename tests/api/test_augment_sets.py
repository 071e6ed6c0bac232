"""Named augmentation sets: the papers' ranges as data, old booleans as aliases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.api.augment_sets import AUGMENTATION_SETS
from bench.api.errors import ConfigError
from bench.api.segmenter import TrainContext
from bench.api.strategies import parse_strategy
from bench.run.config import load_config
from bench.run.matrix import expand
from segmenters.augment import augmentation_set

BASE = {"name": "aug", "dataset": "phantom:A:6", "strategies": ["real"],
        "segmenters": [{"name": "unet2d", "preset": "tiny"}]}


def _square(size: int = 64) -> dict:
    label = np.zeros((1, size, size), np.float32)
    label[0, 16:48, 16:48] = 1
    image = np.random.default_rng(0).normal(size=(1, size, size)).astype(np.float32) + label
    return {"image": torch.as_tensor(image), "label": torch.as_tensor(label)}


def test_false_and_true_stay_aliases_of_none_and_default_with_the_old_cell_keys():
    assert parse_strategy("real", False).key == "real"
    assert parse_strategy("real", True).augment == "default"
    assert parse_strategy("real", True).key == "real+aug"
    assert TrainContext(workdir=None, data={}, augment=True).augment == "default"


def test_named_sets_are_an_axis_of_the_matrix():
    cells = expand(load_config({**BASE, "augmentation": ["none", "vu", "brainspade"]}))
    assert sorted(c.strategy.key for c in cells) == ["real", "real+aug:brainspade",
                                                     "real+aug:vu"]


def test_an_unknown_set_is_refused_naming_the_field():
    with pytest.raises(ConfigError, match="augmentation.*unknown augmentation set 'vuu'"):
        load_config({**BASE, "augmentation": ["vuu"]})


def test_nnunet_refuses_a_set_its_trainers_cannot_apply():
    config = {**BASE, "augmentation": ["vu"],
              "segmenters": [{"name": "nnunet", "preset": "tiny"}]}
    with pytest.raises(ConfigError, match="nnunet.*cannot apply augmentation 'vu'"):
        expand(load_config(config))
    expand(load_config({**config, "augmentation": ["none", "nnunet"]}))


def test_brainspade_set_changes_intensities_only():
    transform = augmentation_set(2, seed=0, name="brainspade", patch=(64, 64))
    sample = _square()
    changed = 0
    for seed in range(8):
        transform.set_random_state(seed=seed)
        out = transform(dict(sample))
        np.testing.assert_array_equal(np.asarray(out["label"]), np.asarray(sample["label"]))
        changed += not np.allclose(np.asarray(out["image"]), np.asarray(sample["image"]))
    assert changed > 0, "the brainSPADE set never changed an image in 8 draws"


def test_vu_set_keeps_the_object_size_within_its_zoom_range():
    """Vu et al.: zoom 0.9-1.1, rotation within 1 degree, shift within 5 percent, left-right
    flips: the square's area stays within 0.9^2 ... 1.1^2 of the original and it moves at
    most 5 percent of the patch."""
    transform = augmentation_set(2, seed=0, name="vu", patch=(64, 64))
    sample = _square()
    area = float(sample["label"].sum())
    for seed in range(10):
        transform.set_random_state(seed=seed)
        label = np.asarray(transform(dict(sample))["label"])[0]
        assert 0.9 ** 2 * 0.93 <= label.sum() / area <= 1.1 ** 2 * 1.07, seed
        ys, xs = np.nonzero(label > 0.5)
        assert abs(ys.mean() - 31.5) <= 0.05 * 64 + 1 and abs(xs.mean() - 31.5) <= 0.05 * 64 + 1


def test_every_set_builds_for_2d_and_3d_and_none_builds_nothing():
    assert augmentation_set(2, 0, "none") is None
    for name, spec in AUGMENTATION_SETS.items():
        if spec is None:
            continue
        for dims, patch in ((2, (32, 32)), (3, (16, 16, 16))):
            sample = {"image": torch.rand(1, *patch), "label": torch.zeros(1, *patch)}
            out = augmentation_set(dims, 0, name, patch)(sample)
            assert tuple(out["image"].shape) == (1, *patch), name
