"""Style images reach the sampler, generator fit data reaches the fit, counts in cases scale to
slices; all three are part of the keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel, ConfigDict

from bench.api.case import Case, CaseSet
from bench.api.errors import DataError
from bench.api.generator import CHANNELS, STYLE, FitContext, SampleContext
from bench.api.registry import generators
from bench.api.slices import slices_per_case
from bench.data import load_dataset
from bench.run.config import GeneratorSpec, load_config
from bench.run.matrix import expand
from bench.run.plan import samples_per_count
from bench.run.resolve import resolve, resolve_config
from bench.run.runner import Runner, prepare_data
from bench.run.store import Store


class _NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StyleRecorder:
    """A 2D generator that records the style images it is given and returns blank slices."""

    name: ClassVar[str] = "style-recorder"
    version: ClassVar[str] = "1"
    spatial_dims: ClassVar[int] = 2
    Params: ClassVar[type[BaseModel]] = _NoParams
    presets: ClassVar[dict[str, dict]] = {}
    sampling_options: ClassVar[frozenset[str]] = frozenset({STYLE, CHANNELS})
    seen: ClassVar[list] = []  # (style ids or None, n) per sample call
    fitted_on: ClassVar[list] = []  # (case ids, channels) per fit call

    def __init__(self, params=None):
        self.params = params or _NoParams()
        self.spec: dict = {}

    def fit(self, train: CaseSet, ctx: FitContext) -> None:
        StyleRecorder.fitted_on.append((list(train.ids), list(train.channels)))
        self.spec = {"labels": {str(k): v for k, v in train.labels.items()},
                     "channels": list(train.channels)}

    def sample(self, n: int, ctx: SampleContext) -> CaseSet:
        StyleRecorder.seen.append((None if ctx.style is None else list(ctx.style.ids), n))
        channels = ctx.channels or self.spec["channels"]
        labels = {int(k): v for k, v in self.spec["labels"].items()}
        cases = []
        for i in range(n):
            label = np.zeros((8, 8), np.int16)
            label[i % 8, :] = i % max(labels) + 1
            cases.append(Case(f"s{i}", np.zeros((len(channels), 8, 8), np.float32), label,
                              (1.0, 1.0)))
        return CaseSet(cases, labels, channels, 2, {"source": self.name})

    def save(self, path: Path) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / "spec.json").write_text(json.dumps(self.spec))

    @classmethod
    def load(cls, path: Path) -> StyleRecorder:
        generator = cls()
        generator.spec = json.loads((Path(path) / "spec.json").read_text())
        return generator


@pytest.fixture(autouse=True)
def _registered():
    generators.register(StyleRecorder)
    StyleRecorder.seen.clear()
    StyleRecorder.fitted_on.clear()
    yield


def _config(dataset, **generator) -> dict:
    return {"name": "style", "dataset": str(dataset),
            "split": {"val": 0.0, "test": 0.34, "seed": 0},
            "generators": [{"name": "none"}, {"name": "style-recorder", **generator}],
            "counts": [2], "strategies": ["real", "synthetic"],
            "segmenters": [{"name": "unet2d", "preset": "tiny"}],
            "fidelity": {"enabled": False}}


def _prepare(config: dict, run_dir: Path) -> dict:
    matrix = load_config(config)
    store = Store(run_dir / "results.sqlite")
    try:
        return Runner(matrix, run_dir)._prepare_generators(expand(matrix), prepare_data(matrix),
                                                           store, "cpu")
    finally:
        store.close()


def test_style_images_reach_the_sampler_and_change_the_sample_key(phantom3_dir, lesion_dir,
                                                                    tmp_path):
    plain = _prepare(_config(phantom3_dir), tmp_path / "a")
    styled = _prepare(_config(phantom3_dir, style=str(lesion_dir)), tmp_path / "b")
    assert StyleRecorder.seen[0][0] is None
    assert StyleRecorder.seen[1][0] == load_dataset(lesion_dir).ids
    assert Path(next(iter(plain.values()))).name != Path(next(iter(styled.values()))).name


def test_entries_differing_only_in_style_are_two_methods_sharing_one_fit(phantom3_dir,
                                                                         lesion_dir):
    config = _config(phantom3_dir)
    config["generators"] = [{"name": "style-recorder", "label": "S_iod"},
                            {"name": "style-recorder", "label": "S_ood",
                             "style": str(lesion_dir)}]
    plain, styled = resolve_config(load_config(config)).generators
    assert plain.fit_identity == styled.fit_identity
    assert plain.identity != styled.identity
    assert len({c.method_id for c in expand(load_config(config))}) == 3


def test_a_test_case_used_as_a_style_image_is_leakage(phantom3_dir, tmp_path):
    with pytest.raises(DataError, match=r"is also style \("):
        _prepare(_config(phantom3_dir, style=str(phantom3_dir)), tmp_path / "run")


FIT_DATA = "phantom:A:2:2:T1+FLAIR:seed=5"  # other subjects than phantom3_dir's, two sequences


def test_fit_data_is_what_the_generator_learns_from_and_part_of_its_identity(phantom3_dir,
                                                                             tmp_path):
    from bench.run.plan import describe

    plain = _prepare(_config(phantom3_dir), tmp_path / "a")
    elsewhere = _prepare(_config(phantom3_dir, fit_data=FIT_DATA), tmp_path / "b")
    real = prepare_data(load_config(_config(phantom3_dir))).parts["real"]
    assert StyleRecorder.fitted_on[0] == (real.ids, ["T1"])
    assert StyleRecorder.fitted_on[1] == (["phantomA_s5_000", "phantomA_s5_001"],
                                          ["T1", "FLAIR"])
    assert StyleRecorder.seen[1] == (None, 2)  # sampled in the run's channel (T1) all the same
    assert Path(next(iter(plain.values()))).name != Path(next(iter(elsewhere.values()))).name
    config = load_config(_config(phantom3_dir, fit_data=FIT_DATA))
    other = resolve_config(config).generators[0]
    assert other.fit_identity != resolve_config(load_config(_config(phantom3_dir))) \
        .generators[0].fit_identity
    assert f"fitted on: {FIT_DATA}" in "\n".join(describe(config))


def test_fit_data_holding_a_test_subject_is_leakage(phantom3_dir, tmp_path):
    """phantom3_dir is phantom:A:3 with seed 7; its held-out T1 is inside the T1 + FLAIR set."""
    with pytest.raises(DataError, match=r"is also generator fit data \(phantom:A:3"):
        _prepare(_config(phantom3_dir, fit_data="phantom:A:3:2:T1+FLAIR:seed=7"),
                 tmp_path / "run")
    assert StyleRecorder.fitted_on == []


def test_fit_data_must_have_the_runs_labels_and_channels(phantom3_dir, lesion_dir, tmp_path):
    with pytest.raises(DataError, match=r"generator fit_data .*lesions: labels"):
        _prepare(_config(phantom3_dir, fit_data=str(lesion_dir)), tmp_path / "a")
    with pytest.raises(DataError, match=r"channels \['FLAIR'\] lack the training data's "
                                        r"\['T1'\]"):
        _prepare(_config(phantom3_dir, fit_data="phantom:C:1:seed=5"), tmp_path / "b")


def test_no_memorisation_figure_for_a_generator_fitted_on_other_data(phantom3_dir, tmp_path):
    """Distances to a training split the generator never saw cannot show it copying."""
    def memorisation_rows(run_dir: Path, **generator) -> pd.DataFrame:
        config = _config(phantom3_dir, **generator)
        config["fidelity"] = {"extractors": ["in-domain"], "planes": ["axial"]}
        matrix = load_config(config)
        data, cells = prepare_data(matrix), expand(matrix)
        runner = Runner(matrix, run_dir)
        store = Store(run_dir / "results.sqlite")
        try:
            samples = runner._prepare_generators(cells, data, store, "cpu")
            runner._measure_fidelity(cells, data, store, "cpu", samples, redo=True)
            rows = store.fidelity()
        finally:
            store.close()
        return rows[rows.metric.isin(["memorisation", "nn_ratio"])]

    own = memorisation_rows(tmp_path / "own")
    other = memorisation_rows(tmp_path / "other", fit_data=FIT_DATA)
    assert own.value.notna().all()
    assert other.value.isna().all() and len(other) == 2
    assert other.note.str.startswith(f"not measured: the generator was fitted on {FIT_DATA}").all()


def test_a_fitted_generator_takes_no_fit_data(phantom3_dir):
    from bench.api.errors import ConfigError

    with pytest.raises(ConfigError, match="with 'fitted' takes no fit_data"):
        load_config(_config(phantom3_dir, fitted="somewhere", fit_data=FIT_DATA))


def test_counts_in_cases_sample_count_times_the_slices_per_training_case(phantom3_dir,
                                                                         tmp_path):
    config = _config(phantom3_dir, count_unit="cases")
    folders = _prepare(config, tmp_path / "run")
    real = prepare_data(load_config(config)).parts["real"]
    per_case = slices_per_case(real)
    assert per_case > 1
    assert StyleRecorder.seen[-1][1] == 2 * per_case
    assert len(load_dataset(Path(next(iter(folders.values()))) / "dataset")) == 2 * per_case
    methods = {c.method for c in expand(load_config(config))}
    assert "style-recorder n=2 cases · synthetic · unet2d:tiny" in methods


def test_counts_in_cases_count_the_slices_along_the_slicing_axis(sagittal_slabs):
    """A generated patient is as many slices as a real one gives along the axis the 2D
    generators cut: axis 0 for data in 8 mm sagittal slabs, not axis 2."""
    generator = resolve("generator", GeneratorSpec(name="style-recorder", count_unit="cases"))
    per_case = samples_per_count(generator, sagittal_slabs)
    assert per_case == slices_per_case(sagittal_slabs, axis=0)
    assert per_case != slices_per_case(sagittal_slabs, axis=2)


def test_slices_per_case_is_the_mean_number_of_slices_with_a_tenth_foreground():
    def volume(kept: int) -> Case:
        label = np.zeros((10, 10, 12), np.int16)
        label[:, :5, :kept] = 1  # half of each of the first `kept` axial slices
        label[0, 0, kept:] = 1  # 1 % of the other slices: below the 10 % threshold
        return Case(f"v{kept}", np.zeros((1, 10, 10, 12), np.float32), label, (1.0,) * 3)

    cases = CaseSet([volume(3), volume(6)], {0: "background", 1: "x"}, ["T1"], 3)
    assert slices_per_case(cases) == round((3 + 6) / 2)


def test_a_test_set_of_another_sequence_needs_match_channel_names_false(phantom, tmp_path):
    """brainSPADE 3.2 far-OoD: T1-trained models tested on FLAIR (one channel each)."""
    from bench.data import write_nnunet

    flair = phantom.replace(list(phantom.subset([2])))
    flair = CaseSet(flair.cases, flair.labels, ["FLAIR"], 3, dict(flair.meta))
    folder = write_nnunet(flair, tmp_path / "flair")
    train = write_nnunet(phantom.subset([0, 1]), tmp_path / "train")
    config = {"name": "far", "dataset": str(train), "test_sets": {"far": str(folder)},
              "split": {"val": 0.0, "test": 0.0}, "fidelity": {"enabled": False}}
    with pytest.raises(DataError, match="channels \\['FLAIR'\\] do not match"):
        prepare_data(load_config(config))
    data = prepare_data(load_config({**config, "match_channel_names": False}))
    assert data.tests["far"].channels == ["FLAIR"]
