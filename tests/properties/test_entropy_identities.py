"""theory.entropy against exact computation: the gradient, the first-order change, KL gradients."""

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from simrl.kl import exact_forward, exact_reverse
from tests.properties.strategies import logits, logits_and_direction
from theory import entropy, entropy_gradient, first_order_entropy_change, log_softmax, softmax


def _numeric_directional(f, z, d, h=1e-6):
    return (f(z + h * d) - f(z - h * d)) / (2 * h)


@given(logits_and_direction())
@example((np.array([0.0, 0.0]), np.array([1.0, -1.0])))
def test_entropy_gradient_is_the_directional_derivative(zd):
    z, d = zd
    np.testing.assert_allclose(
        (entropy_gradient(z) * d).sum(), _numeric_directional(entropy, z, d), atol=1e-7
    )


@given(logits())
def test_entropy_gradient_sums_to_zero_and_shift_invariance(z):
    assert abs(entropy_gradient(z).sum()) < 1e-12
    np.testing.assert_allclose(entropy(z + 3.7), entropy(z), atol=1e-12)


@given(logits_and_direction(), st.floats(1e-4, 1e-2))
def test_first_order_error_is_second_order(zd, eps):
    """|H(z + e d) - H(z) - first_order(e d)| <= C e^2 with C bounded by the Hessian norm;
    the entropy Hessian of a softmax is bounded by a constant times (1 + max|l|)."""
    z, d = zd
    exact = entropy(z + eps * d) - entropy(z)
    pred = first_order_entropy_change(z, eps * d)
    bound = 4.0 * (1.0 + np.abs(log_softmax(z)).max()) * eps**2 * np.abs(d).max() ** 2
    assert abs(exact - pred) <= bound + 1e-13


@given(logits_and_direction(), logits())
def test_kl_gradients_are_directional_derivatives(zd, ref_seed):
    z, d = zd
    rng = np.random.default_rng(len(ref_seed))
    ref = log_softmax(rng.normal(size=z.shape))
    for fn in (exact_reverse, exact_forward):
        _, grad = fn(log_softmax(z), ref)
        numeric = _numeric_directional(lambda x, fn=fn: fn(log_softmax(x), ref)[0], z, d)
        np.testing.assert_allclose((grad * d).sum(), numeric, atol=1e-6)


@given(logits(), logits())
def test_kls_are_nonnegative_and_zero_at_ref(z, w):
    if z.shape != w.shape:
        w = np.resize(w, z.shape)
    lp, lr = log_softmax(z), log_softmax(w)
    assert exact_reverse(lp, lr)[0] >= -1e-12 and exact_forward(lp, lr)[0] >= -1e-12
    assert abs(exact_reverse(lp, lp)[0]) < 1e-12 and abs(exact_forward(lp, lp)[0]) < 1e-12
    np.testing.assert_allclose(softmax(z).sum(), 1.0)
