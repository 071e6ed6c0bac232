"""The conformance check: the example third-party adapter passes it through its entry point, and
an adapter that breaks one rule fails with a table that names the rule."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from bench.api.case import CaseSet
from bench.api.generator import SampleContext
from bench.api.registry import generators, segmenters
from bench.run.generator_conformance import check_generator
from bench.testing import assert_generator_conforms
from tests.conftest import call_cli

ADAPTER = Path(__file__).parents[1] / "fixtures" / "example_adapter"
sys.path.insert(0, str(ADAPTER))  # the package itself; its entry point is installed per test
from synth2seg_example.intensity import IntensityModel  # noqa: E402
from synth2seg_example.nearest import NearestMean  # noqa: E402

RULES = ("protocol", "fit", "sample", "labels", "channels", "spatial dims",
         "same seed, same samples", "other seed, other samples", "save → load",
         "interrupted fit resumes", "samples form a dataset")


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """The fixture package as pip installs it: a ``.dist-info`` with the entry points of its own
    pyproject.toml on sys.path (offline, no build)."""
    project = tomllib.loads((ADAPTER / "pyproject.toml").read_text())["project"]
    info = tmp_path / "site" / f"synth2seg_example-{project['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\n"
                                   f"Version: {project['version']}\n")
    lines = [f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in points.items())
             for group, points in project["entry-points"].items()]
    (info / "entry_points.txt").write_text("\n".join(lines))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    yield project["entry-points"]
    generators.unregister("example-intensity")  # loaded while installed: forget them
    segmenters.unregister("example-nearest-mean")


@pytest.fixture(scope="module")
def cases():
    """Three 4 mm phantom subjects: enough for every rule, small enough to be quick."""
    from bench.data.phantom import PhantomConfig, make_phantom

    return make_phantom(PhantomConfig(subjects=3, seed=7, resolution=4.0))


@pytest.fixture(scope="module")
def small(cases, tmp_path_factory):
    """The same on disk: what a user passes as --data."""
    from bench.data import write_nnunet

    return write_nnunet(cases, tmp_path_factory.mktemp("small") / "small")


def test_example_adapter_passes_the_check_through_its_entry_point(capsys, installed, small):
    assert "example-intensity" in installed["synth2seg.generators"]
    assert "example-intensity" in generators.names()
    result = call_cli(capsys, "generator", "check", "example-intensity", "--data", str(small))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all rules pass" in result.stdout and "FAIL" not in result.stdout
    for rule in RULES:
        assert rule in result.stdout, f"rule '{rule}' missing from the table"


def test_example_segmenter_passes_the_check_through_its_entry_point(capsys, installed, small):
    assert "example-nearest-mean" in segmenters.names()
    result = call_cli(capsys, "segmenter", "check", "example-nearest-mean", "--data", str(small))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all rules pass" in result.stdout
    for rule in ("protocol", "train", "predict", "same seed, same model"):
        assert rule in result.stdout


def test_the_example_segmenter_segments_the_phantom_better_than_chance(cases, tmp_path):
    """The example is a real baseline: it finds most of the phantom's tissue."""
    from bench.api import TrainContext, parse_strategy
    from metrics.segmentation import evaluate

    ctx = TrainContext(tmp_path, {"real": cases.subset([0, 1])})
    model = NearestMean().train(list(parse_strategy("real").stages), ctx)
    test = cases.subset([2])
    table = evaluate(test, NearestMean().predict(model, test, "cpu"), "heldout", hd95=False)
    dice = table[table.metric == "dice"].value.mean()
    assert dice > 0.5, f"mean Dice {dice:.2f}"


class IgnoresSeed(IntensityModel):
    """Broken on purpose: every seed gives the samples of seed 0."""

    def sample(self, n, ctx):
        return super().sample(n, SampleContext(seed=0, channels=ctx.channels))


class Restarts(IntensityModel):
    """Broken on purpose: throws its checkpoint away, so an interrupted fit starts over."""

    def fit(self, train, ctx):
        (ctx.workdir / "stats.npz").unlink(missing_ok=True)
        super().fit(train, ctx)


class PaintsAnUndeclaredLabel(IntensityModel):
    """Broken on purpose: a voxel of every sample carries label 9, which the data lacks."""

    def sample(self, n, ctx):
        samples = super().sample(n, ctx)
        for case in samples:
            case.label.flat[0] = 9
        return samples


class RenamesChannels(IntensityModel):
    """Broken on purpose: its samples call the T1 channel 'MPRAGE'."""

    def sample(self, n, ctx):
        samples = super().sample(n, ctx)
        return CaseSet(samples.cases, samples.labels, ["MPRAGE"], 3, samples.meta)


class ForgetsOnSave(IntensityModel):
    """Broken on purpose: load perturbs the class means, so the loaded model samples otherwise."""

    @classmethod
    def load(cls, path):
        model = super().load(path)
        model.mean = model.mean + 1.0
        return model


class NoVersion:
    name = "no-version"
    spatial_dims = 3
    Params = IntensityModel.Params
    presets: dict = {}

    def fit(self, train, ctx): ...

    def sample(self, n, ctx): ...

    def save(self, path): ...

    @classmethod
    def load(cls, path): ...


def test_a_generator_that_ignores_the_seed_fails_with_a_table_naming_the_rule(capsys, small):
    generators.register(IgnoresSeed, "ignores-seed")
    try:
        result = call_cli(capsys, "generator", "check", "ignores-seed", "--data", str(small))
    finally:
        generators.unregister("ignores-seed")
    assert result.returncode == 1, result.stdout + result.stderr
    row = next(line for line in result.stdout.splitlines() if "other seed" in line)
    assert "FAIL" in row and "seeds 0 and 1 give the same samples" in row
    assert "1 rule(s) failed: other seed, other samples" in result.stdout
    assert result.stdout.count("FAIL") == 1, "every other rule still passes"


@pytest.mark.parametrize("broken, failing, reason", [
    # the dataset validator refuses undeclared label values too
    (PaintsAnUndeclaredLabel, ["labels", "samples form a dataset"],
     "label values [9] are not declared"),
    (RenamesChannels, ["channels"], "channels ['MPRAGE'], the training data's are ['T1']"),
    (ForgetsOnSave, ["save → load"], "the loaded generator samples differently"),
])
def test_a_broken_rule_fails_with_its_reason_and_the_others_pass(cases, broken, failing, reason):
    results = check_generator(broken, cases)
    assert [r.rule for r in results if r.passed is False] == failing, results
    assert reason in next(r.detail for r in results if r.rule == failing[0])


def test_a_fit_that_starts_over_fails_the_resume_rule(cases):
    results = {r.rule: r for r in check_generator(Restarts, cases)}
    assert results["interrupted fit resumes"].passed is False
    assert "ran all 3 steps again" in results["interrupted fit resumes"].detail
    assert results["fit"].passed and results["save → load"].passed


def test_a_missing_member_fails_the_protocol_rule_and_the_helper_shows_the_table(cases):
    results = check_generator(NoVersion, cases)
    assert [(r.rule, r.passed) for r in results] == [("protocol", False)]
    assert "missing version" in results[0].detail
    with pytest.raises(AssertionError, match="breaks protocol") as failure:
        assert_generator_conforms(NoVersion, data=cases)
    assert "missing version" in str(failure.value) and "FAIL" in str(failure.value)


def test_the_helper_returns_the_results_when_every_rule_passes(cases):
    results = assert_generator_conforms(IntensityModel, data=cases, preset="smooth", n=3)
    assert [r.rule for r in results] == list(RULES) and all(r.passed for r in results)


def test_samples_paint_the_training_masks_with_each_class_intensity(cases, tmp_path):
    """The example is a real model: a class's painted mean is its training mean."""
    from bench.api.generator import FitContext

    model = IntensityModel(IntensityModel.Params(flip=False, noise=0.0))
    model.fit(cases, FitContext(tmp_path))
    case = model.sample(1, SampleContext(seed=0))[0]
    masks = [m for m in model.masks if np.array_equal(m, case.label)]
    assert masks, "an unflipped sample's label map is a training label map"
    for value in cases.labels:
        real = np.concatenate([c.image[0][c.label == value] for c in cases])
        assert case.image[0][case.label == value] == pytest.approx(real.mean(), rel=1e-4)


@pytest.mark.parametrize("args, message", [
    (("generator", "check", "no-such-gan"), "unknown generator 'no-such-gan'"),
    (("generator", "check", "b-sg", "--preset", "huge"), "unknown preset 'huge'"),
    (("generator", "check", "b-sg", "--set", "steps=-1"), "parameter 'steps'"),
    (("segmenter", "check", "unet2d", "--preset", "huge"), "unknown preset 'huge'"),
])
def test_user_mistakes_are_one_line_and_exit_2(capsys, small, args, message):
    result = call_cli(capsys, *args, "--data", str(small))
    assert result.returncode == 2 and message in result.stderr, result.stderr
