"""The `none` and `phantom-oracle` generators."""

import numpy as np
import pytest

from bench.api import FitContext, SampleContext, get_generator
from bench.api.errors import ConfigError


def test_oracle_draws_new_subjects_of_the_same_process(phantom, tmp_path):
    """Labels, channels, save → load and seeds: tests/run/test_builtin_conformance.py."""
    oracle = get_generator("phantom-oracle")()
    oracle.fit(phantom, FitContext(tmp_path))
    samples = oracle.sample(2, SampleContext(seed=0))
    assert samples[0].image.shape == phantom[0].image.shape
    for sample in samples:
        for real in phantom:
            assert not np.array_equal(sample.label, real.label)
    prefix = oracle.sample(1, SampleContext(seed=0))
    np.testing.assert_array_equal(prefix[0].image, samples[0].image)


def test_oracle_refuses_data_that_is_not_the_phantom(phantom, tmp_path):
    foreign = phantom.replace(phantom.cases)
    foreign.meta = {"source": "/data/Dataset501"}
    with pytest.raises(ConfigError, match="needs the embedded phantom"):
        get_generator("phantom-oracle")().fit(foreign, FitContext(tmp_path))


def test_none_has_no_samples(phantom, tmp_path):
    none = get_generator("none")()
    none.fit(phantom, FitContext(tmp_path))
    with pytest.raises(ConfigError, match="'real' strategy only"):
        none.sample(3, SampleContext())


def test_oracle_takes_the_style_images_site_and_sequences(phantom, tmp_path):
    """The positive control of a styled arm: subjects of the style's site, in its sequences."""
    from bench.data.phantom import PhantomConfig, make_phantom

    oracle = get_generator("phantom-oracle")()
    oracle.fit(phantom, FitContext(tmp_path))
    style = make_phantom(PhantomConfig(subjects=1, site="C", seed=9))
    styled = oracle.sample(2, SampleContext(seed=0, style=style))
    assert {c.meta["site"] for c in styled} == {"C"}
    assert styled.channels == style.channels != phantom.channels
    plain = oracle.sample(2, SampleContext(seed=0))
    assert {c.meta["site"] for c in plain} == {"A"}
    foreign = phantom.replace(phantom.cases)
    foreign.meta = {"source": "/data/Dataset501"}
    with pytest.raises(ConfigError, match="phantom subjects of one site"):
        oracle.sample(1, SampleContext(style=foreign))


def test_oracle_draws_lesions_at_the_ratio_asked_for(lesion_phantom, tmp_path):
    oracle = get_generator("phantom-oracle")()
    oracle.fit(lesion_phantom, FitContext(tmp_path))
    none = oracle.sample(6, SampleContext(seed=0, lesion_ratio=0.0))
    every = oracle.sample(6, SampleContext(seed=0, lesion_ratio=1.0))
    assert not any(c.meta["lesion"] for c in none)
    assert all(c.meta["lesion"] for c in every)


def test_oracle_refuses_a_lesion_ratio_without_lesions(phantom, tmp_path):
    oracle = get_generator("phantom-oracle")()
    oracle.fit(phantom, FitContext(tmp_path))
    with pytest.raises(ConfigError, match="lesion phantom"):
        oracle.sample(1, SampleContext(lesion_ratio=0.5))
