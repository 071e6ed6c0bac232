"""Content-addressed fits and sample sets."""

import pytest

from bench.api import SampleContext
from bench.api.case import CaseSet
from bench.api.errors import DataError
from bench.api.registry import generators
from bench.run.artifacts import ensure_fit, ensure_samples, fit_key, load_samples
from bench.run.config import GeneratorSpec
from bench.run.resolve import resolve
from bench.run.store import Store
from generators.baselines import PhantomOracle


class WrongLabels(PhantomOracle):
    """An oracle whose samples carry a label the real data does not have."""

    name = "wrong-labels"

    def sample(self, n, ctx):
        cases = super().sample(n, ctx)
        return CaseSet(cases.cases, {**cases.labels, 9: "extra"}, cases.channels, 3, cases.meta)


generators.register(WrongLabels)


def oracle(name="phantom-oracle"):
    return resolve("generator", GeneratorSpec(name=name))


def test_fit_key_follows_data_seed_and_identity(phantom):
    spec = oracle()
    key = fit_key(spec, phantom, 0)
    assert key == fit_key(spec, phantom, 0)
    assert key != fit_key(spec, phantom, 1)
    assert key != fit_key(spec, phantom.subset([0, 1]), 0)
    assert key != fit_key(oracle("wrong-labels"), phantom, 0)
    relabelled = resolve("generator", GeneratorSpec(name="phantom-oracle", label="other"))
    assert fit_key(relabelled, phantom, 0) == key  # a label is not an identity


def test_fit_and_samples_are_built_once_and_prefixes_are_shared(phantom, tmp_path):
    store = Store(tmp_path / "results.sqlite")
    spec = oracle()
    fit = ensure_fit(spec, phantom, 0, tmp_path, store, "cpu")
    assert ensure_fit(spec, phantom, 0, tmp_path, store, "cpu") == fit
    folder = ensure_samples(spec, fit, 2, SampleContext(), tmp_path, store, phantom)
    assert ensure_samples(spec, fit, 2, SampleContext(), tmp_path, store, phantom) == folder
    assert list(store.artifacts().builds) == [1, 1]
    one, two = load_samples(folder, 1), load_samples(folder, 2)
    assert one.ids == two.ids[:1] == ["sample_00000"]
    store.close()


def test_samples_with_other_labels_are_refused_and_not_stored(phantom, tmp_path):
    store = Store(tmp_path / "results.sqlite")
    spec = oracle("wrong-labels")
    fit = ensure_fit(spec, phantom, 0, tmp_path, store, "cpu")
    with pytest.raises(DataError, match="generator 'wrong-labels' samples .* labels"):
        ensure_samples(spec, fit, 1, SampleContext(), tmp_path, store, phantom)
    assert not list((tmp_path / "samples").glob("*/done.json"))
    assert list(store.artifacts().kind) == ["fit"]
    store.close()
