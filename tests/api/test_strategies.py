import pytest

from bench.api.errors import ConfigError
from bench.api.strategies import PAPER_ALIASES, Stage, parse_strategy


def test_stages_after_the_first_fine_tune():
    strategy = parse_strategy("real+synthetic>real")
    assert strategy.stages == (Stage("real+synthetic", False), Stage("real", True))
    assert strategy.needs_synthetic and not strategy.needs_target


@pytest.mark.parametrize("alias", sorted(PAPER_ALIASES))
def test_medgen3d_aliases_resolve(alias):
    assert parse_strategy(alias).name == PAPER_ALIASES[alias]


def test_transfer_strategies_end_on_the_target():
    strategy = parse_strategy("E3-4")
    assert [s.data for s in strategy.stages] == ["real+synthetic", "real", "target"]
    assert strategy.needs_target


def test_augmentation_is_a_flag_in_the_key():
    assert parse_strategy("real", augment=True).key == "real+aug"
    assert parse_strategy("real").key == "real"


def test_sampling_ratio_applies_to_mixed_stages_only():
    strategy = parse_strategy("real+synthetic>real", synthetic_fraction=0.25)
    assert strategy.stages[0].synthetic_fraction == 0.25
    assert strategy.stages[1].synthetic_fraction is None


def test_unknown_stage_names_the_strategy():
    with pytest.raises(ConfigError, match="strategy 'real>synth'.*unknown stage 'synth'"):
        parse_strategy("real>synth")


def test_ratio_out_of_range_is_refused():
    with pytest.raises(ConfigError, match="synthetic_fraction"):
        parse_strategy("real+synthetic", synthetic_fraction=1.5)
