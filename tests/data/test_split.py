"""Deterministic splits and the dataset specs the CLI accepts."""

import pytest

from bench.api.errors import ConfigError, DataError
from bench.data import open_dataset
from bench.data.split import fingerprint, split_cases


def test_split_is_disjoint_complete_and_seeded(phantom):
    parts = split_cases(phantom, {"train": 0.4, "val": 0.3, "test": 0.3}, seed=1)
    ids = [i for part in parts.values() for i in part.ids]
    assert sorted(ids) == sorted(phantom.ids) and len(set(ids)) == 3
    assert [len(p) for p in parts.values()] == [1, 1, 1]
    again = split_cases(phantom, {"train": 0.4, "val": 0.3, "test": 0.3}, seed=1)
    assert {k: v.ids for k, v in again.items()} == {k: v.ids for k, v in parts.items()}
    other = [split_cases(phantom, {"train": 0.4, "val": 0.3, "test": 0.3}, seed=s)["test"].ids
             for s in range(6)]
    assert len({tuple(t) for t in other}) > 1


def test_zero_fraction_gives_an_empty_part(phantom):
    parts = split_cases(phantom, {"train": 0.7, "val": 0.0, "test": 0.3})
    assert len(parts["val"]) == 0 and len(parts["train"]) == 2


def test_too_few_cases_is_a_config_error(phantom):
    with pytest.raises(ConfigError, match="3 cases cannot be split"):
        split_cases(phantom, {"train": 0.4, "a": 0.2, "b": 0.2, "c": 0.2})


def test_fingerprint_follows_the_data(phantom):
    assert fingerprint(phantom.subset([0, 1])) == fingerprint(phantom.subset([0, 1]))
    assert fingerprint(phantom.subset([0, 1])) != fingerprint(phantom.subset([0, 2]))


def test_bad_phantom_spec_is_a_data_error():
    with pytest.raises(DataError, match="phantom:D"):
        open_dataset("phantom:D")
