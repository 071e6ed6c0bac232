"""Real-data equivalence: the learning curve, its inversion and the bootstrap interval.

References are computed by hand from the definitions in :mod:`bench.report.curve_inversion`:
interpolation in log n between (2, 0.5), (4, 0.7), (8, 0.8) reaches 0.75 halfway from log 4 to
log 8, at sqrt(32) = 5.66 cases;
the pool adjacent violators algorithm (Barlow et al. 1972) replaces a decreasing pair by its mean.
"""

import numpy as np
import pytest

from bench.report.curve_inversion import invert, monotone_curve, real_equivalent

SIZES = [2, 4, 8]


def test_a_dice_between_two_points_is_interpolated_in_log_n():
    x, y = monotone_curve(SIZES, [0.5, 0.7, 0.8])
    assert invert(x, y, 0.75) == pytest.approx(np.sqrt(4 * 8))
    assert invert(x, y, 0.6) == pytest.approx(np.sqrt(2 * 4))


def test_a_dice_on_a_point_is_that_point():
    x, y = monotone_curve(SIZES, [0.5, 0.7, 0.8])
    assert invert(x, y, 0.5) == 2.0 and invert(x, y, 0.8) == pytest.approx(8.0)


def test_outside_the_curve_is_a_bound_never_an_extrapolation():
    x, y = monotone_curve(SIZES, [0.5, 0.7, 0.8])
    assert invert(x, y, 0.85) == np.inf
    assert invert(x, y, 0.45) == -np.inf


def test_a_non_monotone_curve_is_made_monotone_first():
    # 0.8 at 4 cases and 0.7 at 8 are pooled to 0.75 (PAVA, equal weights)
    x, y = monotone_curve(SIZES, [0.5, 0.8, 0.7])
    np.testing.assert_allclose(y, [0.5, 0.75, 0.75])
    assert invert(x, y, 0.6) == pytest.approx(2 * 2 ** (0.1 / 0.25))  # 2.64
    assert invert(x, y, 0.75) == 4.0  # a flat stretch: the fewest cases that reach it
    assert invert(x, y, 0.76) == np.inf


def test_points_at_one_size_are_averaged_before_the_fit():
    x, y = monotone_curve([2, 2, 4], [0.4, 0.6, 0.7])
    np.testing.assert_allclose(x, [2, 4])
    np.testing.assert_allclose(y, [0.5, 0.7])


def _curve(offsets: np.ndarray) -> np.ndarray:
    """(points, cases, seeds): per case a base score plus 0, 0.2, 0.3 at 2, 4, 8 cases."""
    return np.stack([offsets + gain for gain in (0.0, 0.2, 0.3)])[:, :, None]


def test_the_estimate_and_its_text_follow_the_hand_computed_curve():
    offsets = np.linspace(0.4, 0.6, 12)  # means 0.5, 0.7, 0.8
    method = (offsets + 0.25)[:, None]  # mean 0.75
    result = real_equivalent(SIZES, _curve(offsets), method, np.random.default_rng(0), 200)
    assert result.cases == pytest.approx(np.sqrt(32))
    assert result.text == "5.7"
    assert result.low <= np.sqrt(32) <= result.high


def test_the_bootstrap_resamples_curve_and_method_on_the_same_cases():
    """A method with the 4-case baseline's score on every case is worth 4 cases in every
    resample when cases are shared (an unpaired bootstrap would spread it)."""
    offsets = np.random.default_rng(1).uniform(0.3, 0.6, 20)
    curve = _curve(offsets)
    result = real_equivalent(SIZES, curve, curve[1], np.random.default_rng(0), 300)
    assert (result.cases, result.low, result.high) == pytest.approx((4.0, 4.0, 4.0))


def test_noisy_cases_give_an_interval_around_the_estimate():
    rng = np.random.default_rng(2)
    offsets = rng.uniform(0.3, 0.6, 30)
    curve = _curve(offsets) + rng.normal(0, 0.05, (3, 30, 1))
    method = (offsets + 0.25 + rng.normal(0, 0.05, 30))[:, None]
    result = real_equivalent(SIZES, curve, method, np.random.default_rng(0), 500)
    assert result.low < result.cases < result.high
    assert 2 <= result.low and result.high <= 8


def test_a_method_beyond_the_full_baseline_reads_greater_than_the_largest_size():
    offsets = np.linspace(0.4, 0.6, 10)
    method = (offsets + 0.5)[:, None]
    result = real_equivalent(SIZES, _curve(offsets), method, np.random.default_rng(0), 100)
    assert result.cases == np.inf
    assert (result.text, result.interval) == (">8", "[>8, >8]")


def test_a_method_below_the_smallest_curve_reads_less_than_the_smallest_size():
    offsets = np.linspace(0.4, 0.6, 10)
    method = (offsets - 0.3)[:, None]
    result = real_equivalent(SIZES, _curve(offsets), method, np.random.default_rng(0), 100)
    assert (result.text, result.interval) == ("<2", "[<2, <2]")


def test_seeds_are_resampled_too():
    """Two seeds of the method that disagree widen the interval; one seed cannot."""
    offsets = np.full(10, 0.5)
    curve = np.repeat(_curve(offsets), 2, axis=2)
    agree = np.full((10, 2), 0.75)
    disagree = np.stack([np.full(10, 0.72), np.full(10, 0.78)], axis=1)
    rng = np.random.default_rng
    same = real_equivalent(SIZES, curve, agree, rng(0), 300)
    spread = real_equivalent(SIZES, curve, disagree, rng(0), 300)
    assert same.low == same.high == pytest.approx(np.sqrt(32))
    assert spread.low == pytest.approx(4 * 2 ** 0.2) and spread.high == pytest.approx(
        4 * 2 ** 0.8)


PLATEAU = [2, 4, 8, 16]  # the baseline levels off at 8 cases: 0.5, 0.7, 0.75, 0.75


def test_equivalence_does_not_jump_on_a_flat_curve():
    """A method at the plateau read 8 at 0.75 and ">16" at 0.7501: a ten-thousandth of Dice
    doubled the claimed worth and more. Within a ROPE of 0.01 both read the same."""
    curve = np.stack([np.full(12, v) for v in (0.5, 0.7, 0.75, 0.75)])[:, :, None]
    texts = []
    for value in (0.75, 0.7501):
        method = np.full((12, 1), value)
        result = real_equivalent(PLATEAU, curve, method, np.random.default_rng(0), 100,
                                 rope=0.01)
        texts.append(result.text)
    # the smallest n whose fitted value reaches 0.75 - 0.01 = 0.74: 4 * 2 ** 0.8 = 6.96
    assert texts == ["≥7.0 (plateau)", "≥7.0 (plateau)"]


def test_equivalence_interpolates_in_log_n():
    """Learning curves are drawn against log n: 0.75, halfway from (4, 0.7) to (8, 0.8), is
    reached at exp((log 4 + log 8) / 2) = sqrt(32) = 5.66 cases, not at 6."""
    x, y = monotone_curve(SIZES, [0.5, 0.7, 0.8])
    assert invert(x, y, 0.75) == pytest.approx(np.sqrt(32))
    # a quarter of the way from 0.5 to 0.7 between 2 and 4 cases: 2 * 2 ** 0.25
    assert invert(x, y, 0.55) == pytest.approx(2 * 2 ** 0.25)
    # with a ROPE the target is the method's mean less the ROPE: 0.76 - 0.01 -> sqrt(32)
    assert invert(x, y, 0.76, rope=0.01) == pytest.approx(np.sqrt(32))


def test_equivalence_says_plateau_where_the_curve_is_flat():
    offsets = np.linspace(0.4, 0.6, 12)
    curve = np.stack([offsets + g for g in (0.0, 0.2, 0.25, 0.25)])[:, :, None]  # flat from 8
    at_plateau = real_equivalent(PLATEAU, curve, (offsets + 0.25)[:, None],
                                 np.random.default_rng(0), 200, rope=0.01)
    assert at_plateau.plateau and at_plateau.text == "≥7.0 (plateau)"
    # every resample is at the plateau too: the upper end is open, never a number
    assert at_plateau.interval == "[7.0, >16]"
    rising = real_equivalent(PLATEAU, curve, (offsets + 0.1)[:, None],
                             np.random.default_rng(0), 200, rope=0.01)
    # 0.6 - 0.01 = 0.59 on the rise from (2, 0.5) to (4, 0.7): 2 * 2 ** 0.45 = 2.73
    assert not rising.plateau and rising.text == "2.7"
    beyond = real_equivalent(PLATEAU, curve, (offsets + 0.3)[:, None],
                             np.random.default_rng(0), 100, rope=0.01)
    assert beyond.text == ">16"
