"""The demo's pre-fitted generators: refitted by `make demo-generators`, shipped small, found by
the demo preset, and each traceable to the command, data and budget that made it."""

from __future__ import annotations

import json

import pytest
import torch

from bench.api.generator import SampleContext
from bench.api.registry import get_generator
from bench.data import _phantom_config
from bench.run import demo_generators
from bench.run.config import PRESETS, load_preset
from bench.run.resolve import resolve_config
from bench.run.sources import read_info


def test_refit_publishes_a_half_precision_fit_that_loads_and_samples(tmp_path, monkeypatch):
    monkeypatch.setattr(demo_generators, "FITS", {"b-sg": ("tiny", {"steps": 3})})
    demo_generators.main(["--work", str(tmp_path / "work"), "--out", str(tmp_path / "out")])
    published, fitted = tmp_path / "out" / "b-sg", tmp_path / "work" / "b-sg"
    assert not (published / "work").exists()  # checkpoints stay behind
    nets = torch.load(published / "model" / "fitted.pt", weights_only=True)["nets"]
    dtypes = {v.dtype for weights in nets.values() for v in weights.values()}
    assert torch.float16 in dtypes and torch.float32 not in dtypes
    full = torch.load(fitted / "model" / "fitted.pt", weights_only=True)["nets"]
    for net, weights in full.items():  # halving only rounds
        for key, value in weights.items():
            if value.is_floating_point():
                assert torch.allclose(nets[net][key].float(), value, rtol=1e-3, atol=1e-4)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())["b-sg"]
    assert manifest["command"].startswith("synth2seg generator fit b-sg --data "
                                          f"{demo_generators.DATA} --preset tiny --set steps=3")
    assert manifest["data_fingerprint"] == read_info(published)["data"]
    assert manifest["fit_seconds"] > 0 and manifest["bytes"] > 0
    cases = get_generator("b-sg").load(published / "model").sample(2, SampleContext(seed=0))
    assert len(cases) == 2 and all(torch.isfinite(torch.as_tensor(c.image)).all() for c in cases)


def test_a_presets_relative_fitted_path_is_the_folder_beside_the_presets(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not where the presets are
    demo = load_preset("demo")
    fitted = [g.fitted for g in demo.generators if g.fitted]
    assert fitted and all(str(PRESETS) in path for path in fitted)


def test_the_demo_samples_the_shipped_fits_made_on_subjects_it_does_not_have():
    demo = load_preset("demo")
    resolved = resolve_config(demo)  # refuses a missing, foreign or outdated fit
    fitted = [g for g in resolved.generators if g.fitted]
    assert {g.name for g in fitted} >= {"brainspade", "b-sg", "mc-sg"}
    manifest = json.loads((PRESETS / "generators" / "manifest.json").read_text())
    # a phantom subject is (site, seed, index): another seed shares no subject with the demo
    demo_specs = [demo.dataset, *demo.test_sets.values()]
    used = {(c.site, c.seed) for c in map(_phantom_config, demo_specs)}
    for g in fitted:
        info = read_info(PRESETS / "generators" / g.name)
        assert manifest[g.name]["data_fingerprint"] == info["data"]
        fit_data = _phantom_config(manifest[g.name]["data"])
        assert (fit_data.site, fit_data.seed) not in used
        assert len(info["cases"]) == fit_data.subjects  # every image it learned from is listed


@pytest.mark.parametrize("name", sorted(demo_generators.FITS))
def test_shipped_fits_stay_small(name):
    size = sum(p.stat().st_size for p in (PRESETS / "generators" / name).rglob("*"))
    total = sum(p.stat().st_size for p in (PRESETS / "generators").rglob("*"))
    assert size < 15e6 and total < 25e6
