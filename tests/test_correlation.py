"""Fidelity-utility correlation: Spearman's rho with a bootstrap interval."""

import numpy as np
import pandas as pd
import pytest

from bench.report.correlation import fidelity_utility, spearman_interval, utility_points


def test_spearman_by_hand():
    # ranks differ by 1 in four places: rho = 1 - 6 * 4 / (5 * (25 - 1)) = 0.8
    rho, p, low, high = spearman_interval([1, 2, 3, 4, 5], [2, 1, 4, 3, 5])
    assert rho == pytest.approx(0.8)
    assert low < 0.8 < high <= 1.0


def test_a_monotone_relation_has_an_interval_of_one_point():
    rho, _, low, high = spearman_interval([1, 2, 3, 4, 5, 6], [0.1, 0.2, 0.4, 0.5, 0.9, 1.0])
    assert (rho, low, high) == pytest.approx((1.0, 1.0, 1.0))


def test_too_few_or_constant_points_give_no_correlation():
    assert np.isnan(spearman_interval([1, 2], [3, 4])[0])
    assert np.isnan(spearman_interval([1, 1, 1, 1], [3, 4, 5, 6])[0])
    assert np.isnan(spearman_interval([1, 2, 3], [3, 4, 6])[2])  # rho, but no interval


def test_points_are_gains_over_the_baseline_per_test_set():
    board = pd.DataFrame({"method": ["real", "a", "b"], "count": [0, 10, 10],
                          "t:dice_mean": [0.7, 0.75, 0.6], "fidelity:fid": [np.nan, 5.0, 9.0]})
    points = utility_points(board, "dice", "real")
    assert points.gain.tolist() == pytest.approx([0.05, -0.1])
    assert points.fid.tolist() == [5.0, 9.0]
    table = fidelity_utility(points)
    assert np.isnan(table.spearman.iloc[0])  # two points: no correlation claimed


def test_reference_values_of_the_real_data_are_not_correlated():
    """A floor differs between 2D and 3D views, so it 'correlated' with gain on the demo
    (ρ = 0.76, p = 0.03) while saying nothing about any sample set."""
    board = pd.DataFrame({"method": ["real", "a", "b", "c"], "count": [0, 10, 10, 10],
                          "t:dice_mean": [0.7, 0.75, 0.6, 0.5],
                          "fidelity:fd_indomain": [np.nan, 1.0, 2.0, 3.0],
                          "fidelity:fd_indomain_floor": [np.nan, 0.1, 0.2, 0.3],
                          "fidelity:ms_ssim_real": [np.nan, 0.2, 0.2, 0.3]})
    points = utility_points(board, "dice", "real")
    assert set(fidelity_utility(points).metric) == {"fd_indomain"}


def test_report_correlates_fidelity_with_gain(tmp_path):
    from bench.report.leaderboard import write_report
    from tests.fake_runs import write_fake_run

    run = write_fake_run(tmp_path / "run", {"a": 0.06, "b": 0.03, "c": 0.0, "d": -0.04},
                         seeds=(0,), cases=6)
    files = write_report(run, tmp_path / "board")
    table = pd.read_csv(files["fidelity_utility.csv"])
    # the fake FD falls as the gain rises: rho = -1 on both test sets
    assert table.spearman.tolist() == pytest.approx([-1.0, -1.0])
    assert files["fidelity_utility.png"].is_file()
    assert "## Does fidelity predict utility?" in files["leaderboard.md"].read_text()
