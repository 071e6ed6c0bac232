"""Every generator family: randomness from explicit seeds (the caller's global random state is
left alone) and a typed fitted state that one shared helper saves and loads."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bench.api.errors import DataError
from bench.api.generator import FitContext, SampleContext
from bench.run.artifacts import build_generator
from bench.run.config import GeneratorSpec
from generators.brainspade import BrainSPADE
from generators.brainspade.model import BrainSPADEState
from generators.medgen3d.model import MedGen3DState
from generators.state import FILE
from generators.stylegan2.model import StyleGAN2State

STATES = {"brainspade": BrainSPADEState, "b-sg": StyleGAN2State, "medgen3d": MedGen3DState}


def global_state() -> tuple[torch.Tensor, tuple]:
    return torch.random.get_rng_state(), np.random.get_state()


def assert_same_state(before: tuple, after: tuple, what: str) -> None:
    assert torch.equal(before[0], after[0]), f"{what} changed torch's global random state"
    assert after[1][0] == before[1][0] and np.array_equal(after[1][1], before[1][1]) \
        and after[1][2:] == before[1][2:], f"{what} changed NumPy's global random state"


@pytest.fixture(scope="module", params=sorted(STATES))
def fitted(request, phantom, tmp_path_factory):
    """(generator fitted on the tiny preset, global state before the fit, after the fit)."""
    generator = build_generator(GeneratorSpec(name=request.param, preset="tiny"))
    before = global_state()
    generator.fit(phantom, FitContext(workdir=tmp_path_factory.mktemp(request.param), seed=0))
    return generator, before, global_state()


def assert_same_cases(a, b) -> None:
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.image, y.image)
        np.testing.assert_array_equal(x.label, y.label)


# ---- randomness ------------------------------------------------------------------------------
def test_fit_leaves_the_global_random_state_as_it_was(fitted):
    generator, before, after = fitted
    assert_same_state(before, after, f"{generator.name}.fit")


def test_sampling_neither_seeds_nor_moves_the_global_random_state(fitted, monkeypatch):
    generator = fitted[0]

    def refuse(*args):
        raise AssertionError("sampling seeded a global random number generator")

    monkeypatch.setattr(torch, "manual_seed", refuse)
    monkeypatch.setattr(np.random, "seed", refuse)
    before = global_state()
    generator.sample(2, SampleContext(seed=1))
    assert_same_state(before, global_state(), f"{generator.name}.sample")


def test_loading_leaves_the_global_random_state_as_it_was(fitted, tmp_path):
    generator = fitted[0]
    generator.save(tmp_path / "model")
    before = global_state()
    type(generator).load(tmp_path / "model")
    assert_same_state(before, global_state(), f"{generator.name}.load")


def test_samples_depend_on_the_seed_alone(fitted):
    generator = fitted[0]
    a = generator.sample(2, SampleContext(seed=3))
    torch.manual_seed(12345)  # whatever the caller's global state: the same samples
    b = generator.sample(2, SampleContext(seed=3))
    assert_same_cases(a, b)
    other = generator.sample(2, SampleContext(seed=4))
    assert not np.array_equal(a[0].image, other[0].image), "another seed must give other samples"


# ---- fitted state ----------------------------------------------------------------------------
def test_fitted_state_is_typed_and_save_load_samples_identically(fitted, tmp_path):
    generator = fitted[0]
    assert type(generator.state) is STATES[generator.name]
    generator.save(tmp_path / "model")
    loaded = type(generator).load(tmp_path / "model")
    assert type(loaded.state) is STATES[generator.name]
    assert loaded.state.labels == generator.state.labels
    assert loaded.state.intensity == generator.state.intensity
    assert_same_cases(generator.sample(2, SampleContext(seed=5)),
                      loaded.sample(2, SampleContext(seed=5)))
    meta = json.loads((tmp_path / "model" / "meta.json").read_text())
    assert meta["name"] == generator.name
    assert meta["params"] == generator.params.model_dump(mode="json")
    assert meta["state"]["channels"] == generator.state.channels


def test_a_saved_state_missing_a_field_is_one_clear_error(fitted, tmp_path):
    generator = fitted[0]
    generator.save(tmp_path / "model")
    path = tmp_path / "model" / FILE
    blob = torch.load(path, weights_only=True)
    del blob["state"]["channels"]
    torch.save(blob, path)
    with pytest.raises(DataError) as error:
        type(generator).load(tmp_path / "model")
    message = str(error.value)
    assert "\n" not in message
    assert str(path) in message and "'channels'" in message and "generator fit" in message


def test_a_folder_of_another_generator_is_refused(fitted, tmp_path):
    generator = fitted[0]
    generator.save(tmp_path / "model")
    other = BrainSPADE if generator.name != "brainspade" else type(
        build_generator(GeneratorSpec(name="b-sg", preset="tiny")))
    with pytest.raises(DataError, match=f"fitted '{generator.name}', not '{other.name}'"):
        other.load(tmp_path / "model")


def test_a_folder_saved_by_an_older_version_asks_for_a_refit(tmp_path):
    torch.save({"params": {}, "state": {"labels": {}}, "nets": {}}, tmp_path / "brainspade.pt")
    with pytest.raises(DataError, match="brainspade.pt, saved by an older synth2seg.*generator "
                                        "fit"):
        BrainSPADE.load(tmp_path)


# ---- on a GPU ----------------------------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_sampling_on_a_gpu_leaves_its_random_state_as_it_was(fitted):
    generator = fitted[0]
    before = torch.cuda.get_rng_state()
    a = generator.sample(2, SampleContext(seed=1, device="cuda"))
    assert torch.equal(torch.cuda.get_rng_state(), before), "sampling moved the GPU's RNG"
    assert_same_cases(a, generator.sample(2, SampleContext(seed=1, device="cuda")))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fitting_on_a_gpu_leaves_its_random_state_as_it_was(phantom, tmp_path):
    generator = build_generator(GeneratorSpec(name="b-sg", preset="tiny"))
    torch.cuda.init()
    before = torch.cuda.get_rng_state(), torch.random.get_rng_state()
    generator.fit(phantom, FitContext(workdir=tmp_path, device="cuda", seed=0))
    assert torch.equal(torch.cuda.get_rng_state(), before[0]), "fit moved the GPU's RNG"
    assert torch.equal(torch.random.get_rng_state(), before[1])
