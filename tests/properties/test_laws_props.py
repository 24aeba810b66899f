"""theory.laws: the entropy-performance law R = -a exp(H) + b (Cui et al. 2025) recovered
from exact data, its intervals' coverage under noise, and the extrapolation score."""

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats
from simrl.theory.laws import extrapolation_score, fit_entropy_law

COEF = st.floats(-5.0, 5.0, allow_nan=False, width=64)
ENTROPY = st.floats(0.0, 4.0, allow_nan=False, width=64)


@st.composite
def entropies(draw, min_n: int = 3, max_n: int = 40) -> np.ndarray:
    """(n,) entropies whose exp(H) spreads enough for a well-conditioned slope."""
    n = draw(st.integers(min_n, max_n))
    H = draw(arrays(np.float64, n, elements=ENTROPY))
    x = np.exp(H)
    assume(x.std() > 0.05 * x.mean())
    return H


@given(entropies(), COEF, COEF)
@example(np.array([0.0, 1.0, 2.0]), 1.0, 0.5)
def test_exact_law_is_recovered(H, a, b):
    R = -a * np.exp(H) + b
    fit = fit_entropy_law(H, R)
    np.testing.assert_allclose([fit.a, fit.b], [a, b], rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(fit.ceiling, -a + b, rtol=1e-8, atol=1e-8)
    assert fit.resid_std < 1e-8 * (1 + abs(a) * np.exp(H).max() + abs(b))
    if abs(a) > 1e-3:  # R varies: r2 is defined, and 1
        np.testing.assert_allclose(fit.r2, 1.0, atol=1e-10)
    np.testing.assert_allclose(fit.predict(H), R, rtol=1e-8, atol=1e-8)


@given(entropies(min_n=4), COEF, COEF, st.integers(0, 2**32 - 1))
def test_fit_matches_scipy_linregress(H, a, b, seed):
    """OLS of R on exp(H): a = -slope, b = intercept, with scipy's standard errors."""
    R = -a * np.exp(H) + b + np.random.default_rng(seed).normal(0.0, 0.1, H.size)
    fit = fit_entropy_law(H, R)
    ref = stats.linregress(np.exp(H), R)
    np.testing.assert_allclose(fit.a, -ref.slope, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(fit.b, ref.intercept, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(fit.se_a, ref.stderr, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(fit.se_b, ref.intercept_stderr, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(fit.r2, ref.rvalue**2, rtol=1e-7, atol=1e-9)
    # the ceiling's variance is var a + var b - 2 cov(a, b) (laws.py uses the equal closed form)
    np.testing.assert_allclose(
        fit.se_ceiling**2, fit.se_a**2 + fit.se_b**2 - 2 * fit.cov_ab, rtol=1e-6, atol=1e-14
    )
    assert fit.ceiling == pytest.approx(fit.b - fit.a, rel=1e-12, abs=1e-12)
    t = stats.t.ppf(0.975, H.size - 2)
    for (lo, hi), est, se in [
        (fit.ci_a, fit.a, fit.se_a),
        (fit.ci_b, fit.b, fit.se_b),
        (fit.ci_ceiling, fit.ceiling, fit.se_ceiling),
    ]:
        np.testing.assert_allclose([lo, hi], [est - t * se, est + t * se], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("a, b, sigma", [(0.3, 0.8, 0.02), (-1.0, 2.0, 0.2)])
def test_intervals_cover_at_the_nominal_rate(a, b, sigma):
    """95% intervals for a, b and the ceiling, 2000 fits of n = 6 points with normal noise.

    With 4 degrees of freedom a z-interval would cover ~88%, and an interval for the
    ceiling that dropped cov(a, b) would cover ~98% (here x_bar > 1): the band
    [0.93, 0.97] (about 4 binomial sd around 0.95) separates both from the right answer.
    """
    rng = np.random.default_rng(20250528)
    H = np.linspace(0.3, 1.8, 6)  # (n,)
    truth = {"a": a, "b": b, "ceiling": -a + b}
    hits = {name: 0 for name in truth}
    reps = 2000
    for _ in range(reps):
        R = -a * np.exp(H) + b + rng.normal(0.0, sigma, H.size)
        fit = fit_entropy_law(H, R)
        for name, value in truth.items():
            lo, hi = getattr(fit, f"ci_{name}")
            hits[name] += lo <= value <= hi
    for name, count in hits.items():
        assert 0.93 <= count / reps <= 0.97, (name, count / reps)


def test_alpha_widens_and_narrows_the_interval():
    H = np.linspace(0.2, 2.0, 10)
    R = -0.5 * np.exp(H) + 1.0 + np.random.default_rng(0).normal(0, 0.05, H.size)
    w90, w99 = (np.diff(fit_entropy_law(H, R, alpha=al).ci_ceiling)[0] for al in (0.10, 0.01))
    assert w99 > w90 > 0


@pytest.mark.parametrize(
    "H, R, match",
    [
        ([0.1, 0.2], [0.5, 0.4], "at least 3"),
        ([0.1, np.nan, 0.3], [0.5, 0.4, 0.3], "finite"),
        ([0.1, 0.2, 0.3], [0.5, np.inf, 0.3], "finite"),
        ([0.7, 0.7, 0.7, 0.7], [0.1, 0.2, 0.3, 0.4], "constant"),
        ([0.1, 0.2, 0.3], [0.5, 0.4], "equal length"),
    ],
)
def test_bad_input_is_refused(H, R, match):
    with pytest.raises(ValueError, match=match):
        fit_entropy_law(H, R)


def test_alpha_out_of_range_is_refused():
    with pytest.raises(ValueError, match="alpha"):
        fit_entropy_law([0.1, 0.2, 0.3], [0.5, 0.4, 0.3], alpha=1.5)


# --- extrapolation ------------------------------------------------------------------


@given(st.integers(8, 60), st.floats(0.2, 0.8), COEF, COEF)
def test_extrapolation_of_an_exact_law_is_exact(n, frac, a, b):
    H = np.linspace(3.0, 0.05, n)  # entropy falling over a run
    assume(int(np.floor(frac * n)) >= 3)
    R = -a * np.exp(H) + b
    score = extrapolation_score(H, R, fit_fraction=frac)
    assert score.n_fit == int(np.floor(frac * n)) and score.n_fit + score.n_test == n
    assert score.rmse < 1e-8 * (1 + abs(a) + abs(b)) * 30
    assert score.mae <= score.rmse + 1e-15
    if abs(a) > 1e-3:
        np.testing.assert_allclose(score.r2, 1.0, atol=1e-8)
    if score.n_test >= 3:
        assert abs(score.ceiling_error) < 1e-7 * (1 + abs(a) + abs(b)) * 30
    else:
        assert np.isnan(score.ceiling_error)


def test_extrapolation_scores_the_held_out_part_only():
    """The early part follows the law; the late part breaks from it by a known offset."""
    H = np.linspace(2.0, 0.1, 20)
    R = -0.4 * np.exp(H) + 1.2
    R[10:] += 0.05  # a shift the early fit cannot see
    score = extrapolation_score(H, R, fit_fraction=0.5)
    np.testing.assert_allclose([score.fit.a, score.fit.b], [0.4, 1.2], atol=1e-10)
    np.testing.assert_allclose([score.rmse, score.mae], [0.05, 0.05], atol=1e-10)
    np.testing.assert_allclose(score.ceiling_error, -0.05, atol=1e-10)
    sst = ((R[10:] - R[10:].mean()) ** 2).sum()
    np.testing.assert_allclose(score.r2, 1 - 10 * 0.05**2 / sst, rtol=1e-10)


def test_extrapolation_needs_enough_points_on_each_side():
    H, R = np.linspace(2, 0, 5), np.linspace(0, 1, 5)
    with pytest.raises(ValueError, match="at least 3 fitted"):
        extrapolation_score(H, R, fit_fraction=0.5)  # fits 2
    with pytest.raises(ValueError, match="fit_fraction"):
        extrapolation_score(H, R, fit_fraction=1.0)
