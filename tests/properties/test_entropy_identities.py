"""theory.entropy against exact computation: gradient, first and second order with their
remainder bounds, Cui et al.'s Theorems 1 and 2, the one-token formula, KL estimators."""

import mpmath
import numpy as np
from hypothesis import assume, example, given
from hypothesis import strategies as st
from simrl.theory import entropy, entropy_gradient, first_order_entropy_change, log_softmax, softmax
from simrl.theory.entropy import (
    cui_theorem1,
    cui_theorem2,
    first_order_remainder_bound,
    sampled_token_entropy_change,
    second_order_entropy_change,
    second_order_remainder_bound,
)

from simrl.kl import KL_ESTIMATORS, exact_forward, exact_reverse
from tests.properties.strategies import logits, logits_and_direction


def _directional(f, z, d, h=1e-6):
    """Central difference of f along d (f returns a scalar)."""
    return (f(z + h * d) - f(z - h * d)) / (2 * h)


def _mp_entropy(z) -> float:
    """Entropy of softmax(z) with 60 significant digits (mpmath)."""
    with mpmath.workdps(60):
        zs = [mpmath.mpf(float(x)) for x in z]
        m = max(zs)
        w = [mpmath.e ** (x - m) for x in zs]
        tot = mpmath.fsum(w)
        return float(-mpmath.fsum((wi / tot) * mpmath.log(wi / tot) for wi in w))


@given(logits_and_direction(wide=False))
@example((np.array([0.0, 0.0]), np.array([1.0, -1.0])))
def test_entropy_gradient_is_the_directional_derivative(zd):
    z, d = zd
    np.testing.assert_allclose(
        (entropy_gradient(z) * d).sum(), _directional(entropy, z, d), atol=1e-7
    )


@given(logits())
@example(np.array([50.0, -50.0]))
@example(np.array([50.0, 50.0, -50.0, 49.9999]))
def test_entropy_matches_mpmath_at_extreme_logits(z):
    assert abs(entropy(z) - _mp_entropy(z)) <= 1e-13 + 1e-12 * _mp_entropy(z)


@given(logits(), st.floats(-100, 100))
def test_shift_invariance_and_gradient_sums_to_zero(z, c):
    np.testing.assert_allclose(entropy(z + c), entropy(z), atol=1e-12)
    assert abs(entropy_gradient(z).sum()) < 1e-12


@given(logits_and_direction(), st.floats(1e-4, 0.5))
def test_remainders_are_within_their_bounds(zd, eps):
    z, d = zd
    dz = eps * d
    exact = entropy(z + dz) - entropy(z)
    noise = 1e-13 * (1.0 + entropy(z))  # cancellation in the exact difference
    assert (
        abs(exact - first_order_entropy_change(z, dz)) <= first_order_remainder_bound(z, dz) + noise
    )
    assert (
        abs(exact - second_order_entropy_change(z, dz))
        <= second_order_remainder_bound(z, dz) + noise
    )


def _smallest_halving_ratio(error, eps: float, floor: float) -> float:
    """min over successive halvings of error(e / 2) / error(e), from e = eps while the error
    is above the float-noise floor. A single ratio can exceed its order's 2^-n where the
    leading terms nearly cancel; the smallest over a few halvings cannot, if the order holds."""
    ratios, e = [], eps
    while error(e) > floor and len(ratios) < 6:
        ratios.append(error(e / 2) / error(e))
        e /= 2
    return min(ratios, default=0.0)


@given(logits_and_direction(max_k=16, wide=False))
def test_first_order_error_is_quadratic_and_second_order_cubic(zd):
    """Halving the step divides the first-order error by at least ~4 and the second-order
    error by at least ~8 (more where symmetry cancels the next term, e.g. at a uniform pi)."""
    z, d = zd

    def exact(e):
        return entropy(z + e * d) - entropy(z)

    first = lambda e: abs(exact(e) - first_order_entropy_change(z, e * d))  # noqa: E731
    second = lambda e: abs(exact(e) - second_order_entropy_change(z, e * d))  # noqa: E731
    assert _smallest_halving_ratio(first, 0.02, 1e-9) < 0.3
    assert _smallest_halving_ratio(second, 0.02, 1e-11) < 0.16


@given(logits(max_k=16, wide=False), st.data())
def test_cui_theorem1_is_the_first_order_term_of_the_exact_pg_step(z, data):
    """The exact policy gradient of J = E_pi r, computed by finite differences, is pi * A;
    the first-order entropy change of the step eta * grad J is Cui's Theorem 1."""
    k = z.size
    r = np.array(data.draw(st.lists(st.floats(0, 1), min_size=k, max_size=k)))
    eta = 0.1
    grad = np.array(
        [_directional(lambda x: (softmax(x) * r).sum(), z, np.eye(k)[j]) for j in range(k)]
    )
    adv = r - (softmax(z) * r).sum()
    np.testing.assert_allclose(
        cui_theorem1(z, adv, eta), first_order_entropy_change(z, eta * grad), atol=1e-8
    )
    np.testing.assert_allclose(
        cui_theorem2(z, adv, eta), first_order_entropy_change(z, eta * adv), atol=1e-15
    )


@given(logits(max_k=16, wide=False), st.data(), st.floats(-3, 3))
def test_one_token_formula_is_the_first_order_term_of_that_tokens_update(z, data, w):
    """dz = eta * w * grad_z log pi(a), the gradient taken by finite differences."""
    a = data.draw(st.integers(0, z.size - 1))
    eta = 0.05
    grad = np.array(
        [_directional(lambda x: log_softmax(x)[a], z, np.eye(z.size)[j]) for j in range(z.size)]
    )
    np.testing.assert_allclose(
        sampled_token_entropy_change(z, a, w, eta),
        first_order_entropy_change(z, eta * w * grad),
        atol=1e-8,
    )


@given(logits(max_k=16, wide=False), st.data())
def test_expected_one_token_change_is_the_change_of_the_expected_step(z, data):
    """Linearity: E_{a~pi}[one-token first order] = first order of E_{a~pi}[dz(a)]."""
    k = z.size
    w = np.array(data.draw(st.lists(st.floats(-2, 2), min_size=k, max_size=k)))
    pi = softmax(z)
    per_token = np.array([sampled_token_entropy_change(z, a, w[a], 0.1) for a in range(k)])
    expected_dz = 0.1 * sum(pi[a] * w[a] * (np.eye(k)[a] - pi) for a in range(k))
    np.testing.assert_allclose(
        (pi * per_token).sum(), first_order_entropy_change(z, expected_dz), atol=1e-12
    )


@given(logits(max_k=16), logits(max_k=16))
def test_k1_and_k3_are_unbiased_for_reverse_kl(z, w):
    """E_{a~pi}[k1] = E_{a~pi}[k3] = KL(pi || ref), by exact expectation (Schulman 2020)."""
    w = np.resize(w, z.shape)
    lp, lr = log_softmax(z), log_softmax(w)
    assume(np.isfinite(lp).all() and np.isfinite(lr).all() and (lr - lp).max() < 50)
    pi = np.exp(lp)
    kl, _ = exact_reverse(lp[None], lr[None])
    for name in ("k1", "k3"):
        value, _ = KL_ESTIMATORS[name].fn(lp, lr)
        np.testing.assert_allclose((pi * value).sum(), kl[0], atol=1e-9 * (1 + kl[0]))


@given(logits_and_direction(max_k=16, wide=False), logits(max_k=16, wide=False))
def test_kl_gradients_are_directional_derivatives(zd, w):
    z, d = zd
    ref = log_softmax(np.resize(w, z.shape))
    for fn in (exact_reverse, exact_forward):
        _, grad = fn(log_softmax(z), ref)
        numeric = _directional(lambda x, fn=fn: fn(log_softmax(x), ref)[0], z, d)
        np.testing.assert_allclose((grad * d).sum(), numeric, atol=1e-6)


@given(logits(max_k=16), logits(max_k=16))
def test_kls_are_nonnegative_and_zero_at_ref(z, w):
    lp, lr = log_softmax(z), log_softmax(np.resize(w, z.shape))
    assert exact_reverse(lp, lr)[0] >= -1e-12 and exact_forward(lp, lr)[0] >= -1e-12
    assert abs(exact_reverse(lp, lp)[0]) < 1e-12 and abs(exact_forward(lp, lp)[0]) < 1e-12
