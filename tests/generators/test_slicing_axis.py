"""Generators learn from the run's canonical, resampled cases and cut them where the 2D
segmenters and the fidelity views cut them: along the dataset's slicing axis (issue 34)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.api.errors import ConfigError
from bench.api.generator import FitContext, SampleContext
from bench.api.slices import extract_slices
from bench.run.artifacts import build_generator
from bench.run.config import GeneratorSpec
from bench.run.resolve import resolve
from generators.stylegan2 import BSG

PRESETS = Path(__file__).parents[2] / "bench" / "presets" / "generators"
# Identities before the slicing axis came from the data: every resolved param is part of one,
# so these are the keys of earlier fits, samples and cells.
IDENTITIES = {
    ("b-sg", "tiny"): "ba49889293e700da", ("b-sg", "demo"): "2a21e63947117055",
    ("b-sg", "paper"): "e3e09eda20beb3a1", ("mc-sg", "tiny"): "62cc2d168d6a0ac8",
    ("mc-sg", "demo"): "5ca2538c8d710dc5", ("mc-sg", "paper"): "12ffe7a9fc863634",
    ("brainspade", "tiny"): "cb303fd92e97f035", ("brainspade", "demo"): "f7ba76ccd9a7a575",
    ("brainspade", "paper"): "e82ec8036a929359", ("medgen3d", "tiny"): "ce60a266abbca10e",
    ("medgen3d", "demo"): "40d7a387d7dbce08", ("medgen3d", "paper"): "d3fe94a5dd971081",
}


def tiny(name: str, **params):
    return build_generator(GeneratorSpec(name=name, preset="tiny", params=params))


def test_reading_the_axis_from_the_data_keeps_every_preset_identity():
    found = {(name, preset): resolve("generator", GeneratorSpec(name=name, preset=preset))
             .identity for name, preset in IDENTITIES}
    assert found == IDENTITIES, "a generator's identity changed: earlier runs would refit"


def test_the_axis_param_cannot_ask_for_another_axis_than_the_datas():
    with pytest.raises(ConfigError, match="params?.*axis.*slicing axis"):
        tiny("b-sg", axis=0)


@pytest.fixture(scope="module", params=["b-sg", "brainspade"])
def slice_generator(request, sagittal_slabs, tmp_path_factory):
    """A 2D generator fitted on a dataset whose slicing axis is 0."""
    model = tiny(request.param)
    model.fit(sagittal_slabs, FitContext(workdir=tmp_path_factory.mktemp(request.param), seed=0))
    return model


def _size(model) -> tuple[int, int]:
    p = model.params
    return tuple(p.size) if model.name == "brainspade" else (p.resolution, p.resolution)


def test_slice_generators_learn_slices_along_the_datasets_slicing_axis(slice_generator,
                                                                       sagittal_slabs):
    view = extract_slices(sagittal_slabs, axis=0, size=_size(slice_generator),
                          min_foreground=slice_generator.params.min_foreground)
    assert slice_generator.state.training_slices == len(view), \
        "the training slices are not the slices along the data's slicing axis (0)"
    samples = slice_generator.sample(2, SampleContext(seed=0))
    assert samples[0].spacing == pytest.approx(view.cases[0].spacing), \
        "samples are not slices of the in-plane grid of the slicing axis"


def test_the_fitted_slicing_axis_is_saved_and_loaded(slice_generator, tmp_path):
    slice_generator.save(tmp_path / "model")
    meta = json.loads((tmp_path / "model" / "meta.json").read_text())
    assert meta["state"]["slice_axis"] == 0 and meta["params"]["axis"] == 2
    assert type(slice_generator).load(tmp_path / "model").state.slice_axis == 0


def test_a_folder_fitted_before_the_axis_was_recorded_loads_as_axial():
    """The shipped demo fits were saved before: they were fitted on axial slices."""
    assert BSG.load(PRESETS / "b-sg" / "model").state.slice_axis == 2


def test_medgen3d_sequences_run_along_the_datasets_slicing_axis(sagittal_slabs, tmp_path):
    model = tiny("medgen3d")
    model.fit(sagittal_slabs, FitContext(workdir=tmp_path / "work", seed=0))
    assert model.state.slice_axis == 0
    (sample,) = model.sample(1, SampleContext(seed=0))
    assert sample.spatial_shape == sagittal_slabs[0].spatial_shape  # in the cases' space
    assert sample.spacing == sagittal_slabs[0].spacing
    model.save(tmp_path / "model")
    assert type(model).load(tmp_path / "model").state.slice_axis == 0
