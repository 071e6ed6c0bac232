"""Content-addressed fits and sample sets."""

import numpy as np
import pytest

from bench.api import SampleContext
from bench.api.case import Case, CaseSet
from bench.api.errors import DataError
from bench.api.registry import generators
from bench.api.slices import fit_case
from bench.data import geometry
from bench.run.artifacts import ensure_fit, ensure_samples, fit_key, load_samples, sample_key
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


def test_fits_of_axially_sliced_data_keep_their_keys_and_another_slicing_axis_is_another_fit(
        phantom):
    """Generators cut along the data's slicing axis: on the same arrays another axis is another
    fit; axial data keeps the key its fits had before the axis was read from the data."""
    assert fit_key(oracle(), phantom, 0) == "19a79a6bc3c1f3bb"
    bsg = resolve("generator", GeneratorSpec(name="b-sg", preset="demo"))
    assert fit_key(bsg, phantom, 0) == "a5cebd99e5b69207"
    sagittal = geometry.apply(phantom, geometry.Plan(None, 0))
    assert fit_key(bsg, sagittal, 0) != fit_key(bsg, phantom, 0)


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


class HalfGrid(PhantomOracle):
    """A 2D generator that works on a coarser grid: the oracle's middle axial slices at half the
    in-plane size, i.e. twice the voxel size, as brainSPADE and StyleGAN2 work at 64 x 64."""

    name = "half-grid"
    spatial_dims = 2

    def sample(self, n, ctx):
        volumes = super().sample(n, ctx)
        cases = []
        for case in volumes:
            k = case.label.shape[2] // 2
            middle = Case(case.id, case.image[..., k], case.label[..., k], case.spacing[:2])
            half = tuple(s // 2 for s in middle.spatial_shape)
            cases.append(fit_case(middle, half, "resize"))
        return CaseSet(cases, volumes.labels, volumes.channels, 2, volumes.meta)


generators.register(HalfGrid)


def test_samples_are_brought_to_the_real_voxel_size(phantom, tmp_path):
    """A segmenter sees voxels: samples on a coarser grid would show it brains of half the size."""
    assert sample_key("f", 2, SampleContext(), (2.0, 2.0)) != \
        sample_key("f", 2, SampleContext(), (1.0, 1.0))  # samples of another size are new ones
    store = Store(tmp_path / "results.sqlite")
    spec = oracle("half-grid")
    fit = ensure_fit(spec, phantom, 0, tmp_path, store, "cpu")
    samples = load_samples(ensure_samples(spec, fit, 2, SampleContext(), tmp_path, store,
                                          phantom), 2)
    real = phantom[0]
    for case in samples:
        assert case.spacing == pytest.approx(real.spacing[:2], rel=0.05)
        assert abs(case.spatial_shape[0] - real.spatial_shape[0]) <= 1
        assert abs(case.spatial_shape[1] - real.spatial_shape[1]) <= 1
        brain = (case.label > 0).sum() * np.prod(case.spacing)
        middle = real.label[..., real.label.shape[2] // 2]
        real_brain = (middle > 0).sum() * np.prod(real.spacing[:2])
        assert brain == pytest.approx(real_brain, rel=0.1)
    store.close()


def test_2d_samples_take_the_in_plane_voxel_size_across_the_slicing_axis(sagittal_slabs,
                                                                         tmp_path):
    """Slices of data sliced along axis 0 (8 mm slabs, 2 mm in plane) are 2 x 2 mm: the size
    of the real slices a segmenter cuts along that axis, not the spacing of axes 0 and 1."""
    store = Store(tmp_path / "results.sqlite")
    spec = oracle("half-grid")
    fit = ensure_fit(spec, sagittal_slabs, 0, tmp_path, store, "cpu")
    samples = load_samples(ensure_samples(spec, fit, 1, SampleContext(), tmp_path, store,
                                          sagittal_slabs), 1)
    assert samples[0].spacing == pytest.approx((2.0, 2.0), rel=0.05)
    store.close()
