"""Trustworthy numbers: every key and method id comes from one resolved configuration.

Each test is named after a defect it guards against (issue "Trustworthy numbers").
"""

import pytest
from pydantic import BaseModel, ConfigDict

from bench.api.errors import ConfigError
from bench.api.registry import generators
from bench.run.artifacts import fit_key
from bench.run.config import GeneratorSpec, load_config
from bench.run.matrix import expand
from bench.run.resolve import resolve, resolve_config
from generators.baselines import PhantomOracle
from generators.stylegan2 import BSG

BASE = {"name": "t", "counts": [10], "strategies": ["real", "synthetic"],
        "segmenters": [{"name": "unet2d", "preset": "tiny"}]}


def test_two_methods_one_identity_is_refused_without_labels():
    config = load_config({**BASE, "generators": [
        {"name": "b-sg", "preset": "tiny", "params": {"lr": 0.001}},
        {"name": "b-sg", "preset": "tiny", "params": {"lr": 0.002}}]})
    with pytest.raises(ConfigError, match=r"generators\[0\] and generators\[1\] are both "
                                          r"labelled 'b-sg:tiny'.*'label:'"):
        expand(config)


def test_two_methods_one_identity_labelled_apart_get_their_own_keys_and_rows():
    config = load_config({**BASE, "generators": [
        {"name": "b-sg", "preset": "tiny", "params": {"lr": 0.001}, "label": "slow"},
        {"name": "b-sg", "preset": "tiny", "params": {"lr": 0.002}, "label": "fast"}]})
    synthetic = [c for c in expand(config) if c.count]
    assert len({c.generator.identity for c in synthetic}) == 2
    assert len({c.method for c in synthetic}) == len({c.method_id for c in synthetic}) == 2
    assert len({c.key for c in synthetic}) == 2


def test_one_configuration_under_two_labels_is_refused():
    default_lr = BSG.Params.model_fields["lr"].default
    assert "lr" not in BSG.presets["tiny"]
    config = load_config({**BASE, "generators": [
        {"name": "b-sg", "preset": "tiny", "label": "a"},
        {"name": "b-sg", "preset": "tiny", "params": {"lr": default_lr}, "label": "b"}]})
    with pytest.raises(ConfigError, match="resolve to the same generator"):
        expand(config)


def test_segmenters_differing_only_in_params_need_labels():
    config = load_config({**BASE, "strategies": ["real"], "segmenters": [
        {"name": "unet2d", "preset": "tiny", "params": {"steps": 4}},
        {"name": "unet2d", "preset": "tiny", "params": {"steps": 8}}]})
    with pytest.raises(ConfigError, match=r"segmenters\[0\] and segmenters\[1\]"):
        expand(config)


def test_stale_caches_edited_preset_values_change_every_key(monkeypatch, phantom):
    spec = GeneratorSpec(name="b-sg", preset="tiny")
    before = resolve("generator", spec)
    config = load_config({**BASE, "generators": [{"name": "b-sg", "preset": "tiny"}]})
    cell_before = [c for c in expand(config) if c.count][0]
    edited = {**BSG.presets["tiny"], "steps": BSG.presets["tiny"]["steps"] * 2}
    monkeypatch.setitem(BSG.presets, "tiny", edited)
    after = resolve("generator", spec)
    cell_after = [c for c in expand(config) if c.count][0]
    assert after.identity != before.identity
    assert fit_key(after, phantom, 0) != fit_key(before, phantom, 0)
    assert cell_after.key != cell_before.key
    assert cell_after.method_id != cell_before.method_id
    assert cell_after.method == cell_before.method  # same label, another configuration


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    steps: int = 10


class _EditedParams(_Params):
    steps: int = 20  # the same class after someone edited a default


def _adapter(params_class):
    return type("Adapter", (PhantomOracle,), {"name": "edited", "Params": params_class})


def test_stale_caches_edited_params_defaults_change_the_identity(phantom):
    spec = GeneratorSpec(name="edited")
    generators.register(_adapter(_Params))
    before = resolve("generator", spec)
    generators.register(_adapter(_EditedParams))
    after = resolve("generator", spec)
    assert (before.params, after.params) == ({"steps": 10}, {"steps": 20})
    assert after.identity != before.identity
    assert fit_key(after, phantom, 0) != fit_key(before, phantom, 0)


def test_segmenter_cells_follow_resolved_values_not_the_preset_name(monkeypatch):
    from segmenters.monai_models import UNet2D

    config = load_config({**BASE, "strategies": ["real"]})
    before = expand(config)[0]
    monkeypatch.setitem(UNet2D.presets, "tiny", {**UNet2D.presets["tiny"], "steps": 5})
    after = expand(config)[0]
    assert after.key != before.key and after.method == before.method


def test_the_manifest_lists_each_components_resolved_params():
    config = load_config({**BASE, "generators": [{"name": "b-sg", "preset": "tiny"}]})
    manifest = resolve_config(config).manifest()
    (generator,) = manifest["generators"]
    assert generator["name"] == "b-sg" and generator["preset"] == "tiny"
    assert generator["params"]["steps"] == BSG.presets["tiny"]["steps"]
    assert set(generator["params"]) == set(BSG.Params.model_fields)
    assert manifest["segmenters"][0]["params"]["steps"] == 4


def test_arms_dropped_synthetic_strategy_without_generator_is_refused():
    config = load_config({**BASE, "generators": [], "strategies": ["real", "synthetic"]})
    with pytest.raises(ConfigError, match="strategy 'synthetic' trains on synthetic data"):
        expand(config)


def test_arms_dropped_unused_generator_is_refused():
    config = load_config({**BASE, "generators": [{"name": "phantom-oracle"}],
                          "strategies": ["real"]})
    with pytest.raises(ConfigError, match="generator 'phantom-oracle' is never used"):
        expand(config)


def test_arms_dropped_baseline_naming_no_method_is_refused():
    config = load_config({**BASE, "generators": [{"name": "phantom-oracle"}],
                          "baseline": "real only · real · unet2d"})
    with pytest.raises(ConfigError, match="baseline 'real only · real · unet2d' is not a method"):
        expand(config)
    ok = load_config({**BASE, "generators": [{"name": "phantom-oracle"}],
                      "baseline": "real only · real · unet2d:tiny"})
    assert expand(ok)


def test_arms_dropped_unused_target_and_mixing_ratio_are_refused():
    with pytest.raises(ConfigError, match="'target' is set but no strategy"):
        expand(load_config({**BASE, "generators": [{"name": "phantom-oracle"}],
                            "target": "phantom:B:2"}))
    with pytest.raises(ConfigError, match="'synthetic_fraction' is set"):
        expand(load_config({**BASE, "generators": [{"name": "phantom-oracle"}],
                            "synthetic_fraction": 0.5}))
