"""simrl/residual_stats.py: a prediction scored against the exact values."""

import numpy as np

from simrl.residual_stats import STATS, fit_stats


def test_fit_stats_of_a_perfect_and_of_a_scaled_prediction():
    exact = np.linspace(-1, 1, 41)
    exact = exact[exact != 0]
    perfect = fit_stats(exact, exact)
    assert perfect["median_rel_err"] == 0 and perfect["sign_agree"] == 1
    assert np.isclose(perfect["r2"], 1) and np.isclose(perfect["slope"], 1)
    half = fit_stats(exact, 0.5 * exact)
    assert np.isclose(half["median_rel_err"], 0.5) and np.isclose(half["slope"], 2.0)
    flipped = fit_stats(exact, -exact)
    assert flipped["sign_agree"] == 0 and flipped["r2"] < 0


def test_fit_stats_leaves_out_non_finite_and_zero_changes():
    exact = np.array([1.0, 2.0, np.nan, 0.0, 3.0, 4.0])
    pred = np.array([1.0, 2.0, 5.0, 7.0, np.nan, 4.0])
    assert fit_stats(exact, pred)["n"] == 3


def test_fit_stats_has_the_same_keys_with_too_few_points():
    # a run with < 3 usable updates must still answer every statistic a prereg outcome asks
    # for (rank_corr included), as NaN
    few = fit_stats(np.array([1.0, 0.0, 2.0]), np.array([1.0, 1.0, np.nan]))
    assert tuple(few) == STATS and all(np.isnan(v) for v in few.values())
    assert tuple(fit_stats(np.arange(1.0, 5.0), np.arange(1.0, 5.0))) == STATS
