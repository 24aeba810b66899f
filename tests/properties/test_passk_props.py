"""theory.passk against exact computation: the closed form, exact rationals, and the
binomial expectation that makes Chen et al.'s estimator unbiased."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from scipy import stats
from simrl.theory import passk
from simrl.theory.passk import pass_at_k_exact, pass_at_k_unbiased

PROB = st.floats(0.0, 1.0, allow_nan=False, width=64)
TINY_PROB = st.floats(1e-300, 1e-9, allow_nan=False, width=64)
# scipy's binom.pmf overflows inside boost for p near the smallest normal float
PMF_PROB = st.floats(1e-12, 1.0, width=64) | st.sampled_from([0.0, 1.0])


@st.composite
def n_k(draw, max_n: int = 60) -> tuple[int, int]:
    n = draw(st.integers(1, max_n))
    return n, draw(st.integers(1, n))


def _chen_snippet(n: int, c: int, k: int) -> float:
    """Chen et al. 2021 (arXiv 2107.03374), Fig. 3: the numerically stable numpy form."""
    if n - c < k:
        return 1.0
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def _exact_rational(n: int, c: int, k: int) -> float:
    return float(1 - Fraction(math.comb(n - c, k), math.comb(n, k)))


# --- exact pass@k -------------------------------------------------------------------


@given(PROB, st.integers(1, 200))
@example(0.0, 1)
@example(1.0, 7)
def test_exact_matches_closed_form(p, k):
    # the closed form itself carries ~k ulp of absolute rounding error: (1 - p) rounds once,
    # then ** k multiplies that relative error by k
    closed = 1.0 - (1.0 - p) ** k
    np.testing.assert_allclose(pass_at_k_exact(p, k), closed, rtol=1e-12, atol=2 * k * 2.0**-53)


@given(TINY_PROB, st.integers(1, 50))
def test_exact_keeps_relative_precision_for_tiny_p(p, k):
    """1 - (1 - p)^k rounds to 0 or to multiples of 2^-53 here; the exact rational does not."""
    q = Fraction(p)
    want = float(1 - (1 - q) ** k)
    np.testing.assert_allclose(pass_at_k_exact(p, k), want, rtol=1e-13)


@given(PROB, PROB, st.integers(1, 100), st.integers(1, 100))
def test_exact_is_monotone_in_p_and_k(p1, p2, k1, k2):
    p1, p2 = sorted((p1, p2))
    k1, k2 = sorted((k1, k2))
    assert pass_at_k_exact(p1, k1) <= pass_at_k_exact(p2, k1)
    assert pass_at_k_exact(p1, k1) <= pass_at_k_exact(p1, k2)
    assert 0.0 <= pass_at_k_exact(p1, k1) <= 1.0


def test_exact_broadcasts():
    p = np.array([[0.0], [0.1], [1.0]])  # (3, 1)
    k = np.array([1, 2, 8])  # (3,)
    out = pass_at_k_exact(p, k)
    assert out.shape == (3, 3)
    np.testing.assert_allclose(out, 1.0 - (1.0 - p) ** k, rtol=1e-14)


@pytest.mark.parametrize("p, k", [(-0.1, 1), (1.5, 1), (np.nan, 1), (0.5, 0), (0.5, np.inf)])
def test_exact_rejects_bad_input(p, k):
    with pytest.raises(ValueError, match=r"p_correct|k"):
        pass_at_k_exact(p, k)


# --- Chen et al.'s unbiased estimator --------------------------------------------------


@given(n_k(), PMF_PROB)
@example((1, 1), 0.5)
@example((60, 60), 0.3)
@example((60, 1), 1e-3)
def test_unbiased_estimator_has_the_exact_expectation(nk, p):
    """sum_c Binomial(n, p).pmf(c) est(n, c, k) = 1 - (1 - p)^k (Chen et al. 2021, Eq. 1)."""
    n, k = nk
    c = np.arange(n + 1)  # (n + 1,)
    expectation = stats.binom.pmf(c, n, p) @ pass_at_k_unbiased(n, c, k)
    assert abs(expectation - pass_at_k_exact(p, k)) < 1e-10


@given(n_k(max_n=200), st.data())
def test_unbiased_matches_exact_rationals_and_chen_snippet(nk, data):
    n, k = nk
    c = data.draw(st.integers(0, n))
    est = pass_at_k_unbiased(n, c, k)
    assert 0.0 <= est <= 1.0
    np.testing.assert_allclose(est, _exact_rational(n, c, k), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(est, _chen_snippet(n, c, k), rtol=1e-10, atol=1e-13)


@given(n_k())
def test_unbiased_edge_cases(nk):
    n, k = nk
    assert pass_at_k_unbiased(n, 0, k) == 0.0  # no correct sample: no k-subset passes
    assert pass_at_k_unbiased(n, n, k) == 1.0
    np.testing.assert_allclose(pass_at_k_unbiased(n, np.arange(n + 1), 1), np.arange(n + 1) / n)
    # k = n: the only n-subset passes iff any sample is correct
    np.testing.assert_array_equal(pass_at_k_unbiased(n, np.arange(n + 1), n), np.arange(n + 1) > 0)


@given(n_k(max_n=40))
def test_unbiased_is_monotone_in_c(nk):
    n, k = nk
    est = pass_at_k_unbiased(n, np.arange(n + 1), k)
    assert np.all(np.diff(est) >= 0)


def test_unbiased_vectorises_over_n_c_and_k():
    n = np.array([[5], [10], [100]])  # (3, 1)
    c = np.array([0, 2, 5])  # (3,)
    k = 3
    out = pass_at_k_unbiased(n, c, k)
    assert out.shape == (3, 3)
    want = [[_exact_rational(int(nn), int(cc), k) for cc in c] for nn in n[:, 0]]
    np.testing.assert_allclose(out, want, rtol=1e-13)
    ks = np.array([1, 2, 5])
    np.testing.assert_allclose(
        pass_at_k_unbiased(10, 3, ks), [_exact_rational(10, 3, int(kk)) for kk in ks], rtol=1e-13
    )


def test_unbiased_keeps_relative_precision_when_small():
    # 1 correct in 10^9 samples, k = 1: exactly 1e-9; 1 - prod(...) would lose ~7 digits
    np.testing.assert_allclose(pass_at_k_unbiased(10**9, 1, 1), 1e-9, rtol=1e-14)
    np.testing.assert_allclose(
        pass_at_k_unbiased(10**6, 3, 2), _exact_rational(10**6, 3, 2), rtol=1e-13
    )


@pytest.mark.parametrize("max_grid", [1 << 22, 7_000])
def test_unbiased_handles_a_large_grid_in_chunks(monkeypatch, max_grid):
    """Wide products (min(c, k) ~ 5000 terms), one chunk or several: same answers."""
    monkeypatch.setattr(passk, "_MAX_GRID", max_grid)
    n = np.full(50, 10_000)
    c = np.arange(50) * 100
    out = pass_at_k_unbiased(n, c, 5_000)
    want = [_exact_rational(10_000, int(cc), 5_000) for cc in c]
    np.testing.assert_allclose(out, want, rtol=1e-11)


def test_unbiased_k_greater_than_n_names_both():
    with pytest.raises(ValueError, match=r"k = 6 > n = 5"):
        pass_at_k_unbiased(5, 2, 6)
    with pytest.raises(ValueError, match=r"k = 4 > n = 3"):
        pass_at_k_unbiased(np.array([10, 3]), np.array([1, 1]), 4)


@pytest.mark.parametrize(
    "n, c, k, match",
    [
        (5, 6, 2, "0 <= c <= n"),
        (5, -1, 2, "0 <= c <= n"),
        (5, 2, 0, "k must be >= 1"),
        (5, 2.5, 1, "c must be integer"),
    ],
)
def test_unbiased_rejects_bad_input(n, c, k, match):
    with pytest.raises(ValueError, match=match):
        pass_at_k_unbiased(n, c, k)


def test_unbiased_differs_from_plug_in():
    """The plug-in 1 - (1 - c/n)^k is biased; the estimator is not (guards a swapped formula)."""
    n, c, k = 10, 3, 4
    assert abs(pass_at_k_unbiased(n, c, k) - pass_at_k_exact(c / n, k)) > 0.05
