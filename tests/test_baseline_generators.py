"""The `none` and `phantom-oracle` generators."""

import numpy as np
import pytest

from bench.api import FitContext, SampleContext, get_generator
from bench.api.errors import ConfigError


def test_oracle_draws_new_subjects_of_the_same_process(phantom, tmp_path):
    """Labels, channels, save → load and seeds: tests/test_builtin_conformance.py."""
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
