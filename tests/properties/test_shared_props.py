"""theory.shared: entropy change with shared parameters (log-linear softmax policies).

Each first-order form is held against the exact entropy change of a finite step: the error
must shrink like eta^2 (halving eta divides it by about 4). The kernel form of the logit
change, the closed-form natural step and the overlap are held against dense references.
"""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from theory.entropy import (
    cui_theorem1,
    entropy,
    first_order_entropy_change,
    first_order_remainder_bound,
    softmax,
)
from theory.shared import (
    cui_theorem1_shared,
    kernel_logit_change,
    linear_logits,
    logit_change,
    natural_shared_step,
    natural_step_pinv,
    objective_gradient,
    plain_step,
    policy_overlap,
    policy_overlap_dense,
    spill_first_order,
)


@st.composite
def problems(draw, max_s: int = 5, max_k: int = 4, max_d: int = 3):
    S = draw(st.integers(2, max_s))
    K = draw(st.integers(2, max_k))
    d = draw(st.integers(1, max_d))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    theta = rng.normal(scale=draw(st.sampled_from([0.5, 1.5])), size=(S, K))
    phi = rng.normal(scale=draw(st.sampled_from([0.0, 0.3, 1.0])), size=(S, K, d))
    w = rng.normal(size=d)
    rewards = rng.random((S, K))
    n_batch = draw(st.integers(1, S - 1))
    batch = np.sort(rng.choice(S, size=n_batch, replace=False))
    return theta, phi, w, rewards, batch


def _ratio_of_errors(err_fn, eta):
    return err_fn(eta), err_fn(eta / 2)


@given(problems())
def test_plain_step_through_the_kernel_is_the_chain_rule(prob):
    theta, phi, w, _, _ = prob
    g = np.random.default_rng(0).normal(size=theta.shape)
    dtheta, dw = plain_step(phi, g, 0.3)
    np.testing.assert_allclose(
        logit_change(phi, dtheta, dw), kernel_logit_change(phi, g, 0.3), atol=1e-12
    )
    # and z is linear: the logits after the step are z + dz exactly (to rounding)
    z0 = linear_logits(theta, phi, w)
    z1 = linear_logits(theta + dtheta, phi, w + dw)
    np.testing.assert_allclose(z1 - z0, logit_change(phi, dtheta, dw), atol=1e-12)


@given(problems())
def test_generalised_theorem1_is_first_order_in_eta(prob):
    theta, phi, w, rewards, batch = prob
    z0 = linear_logits(theta, phi, w)

    def err(eta):
        v = objective_gradient(theta, phi, w, rewards, batch)
        dtheta, dw = plain_step(phi, -v, eta)  # ascent on J
        dz = logit_change(phi, dtheta, dw)
        exact = entropy(z0 + dz) - entropy(z0)
        gap = np.abs(exact - cui_theorem1_shared(theta, phi, w, rewards, batch, eta))
        assert np.all(gap <= first_order_remainder_bound(z0, dz) + 1e-15)  # rigorous
        return gap.max()

    e1, e2 = err(0.004), err(0.002)
    if e1 > 1e-12:
        assert e2 < 0.3 * e1  # ~ 1/4: the error is quadratic in the step


@given(problems())
def test_spill_is_the_whole_first_order_change_off_the_batch(prob):
    theta, phi, w, rewards, batch = prob
    out = np.setdiff1d(np.arange(theta.shape[0]), batch)
    eta = 0.01
    full = cui_theorem1_shared(theta, phi, w, rewards, batch, eta)
    spill = spill_first_order(theta, phi, w, rewards, batch, eta)
    np.testing.assert_allclose(full[out], spill[out], atol=1e-14)
    # exact held-out change against the spill, to O(eta^2)
    v = objective_gradient(theta, phi, w, rewards, batch)
    dtheta, dw = plain_step(phi, -v, eta)
    assert np.all(dtheta[out] == 0)  # held-out states move only through w
    z0 = linear_logits(theta, phi, w)
    exact = entropy(linear_logits(theta + dtheta, phi, w + dw)) - entropy(z0)
    assert np.abs(exact[out] - spill[out]).max() <= 50 * eta**2


@given(problems())
def test_phi_zero_reduces_to_cui_theorem1_and_no_spill(prob):
    theta, phi, w, rewards, batch = prob
    phi = np.zeros_like(phi)
    eta = 0.05
    shared = cui_theorem1_shared(theta, phi, w, rewards, batch, eta)
    z = linear_logits(theta, phi, w)
    adv = rewards - (softmax(z) * rewards).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(shared[batch], cui_theorem1(z[batch], adv[batch], eta), atol=1e-14)
    out = np.setdiff1d(np.arange(theta.shape[0]), batch)
    assert np.all(shared[out] == 0)


@given(problems(max_s=4, max_k=3, max_d=2))
def test_natural_step_closed_form_equals_the_pseudo_inverse(prob):
    theta, phi, w, rewards, batch = prob
    z = linear_logits(theta, phi, w)
    v = objective_gradient(theta, phi, w, rewards, batch)
    adv = rewards - (softmax(z) * rewards).sum(axis=1, keepdims=True)
    ref_t, ref_w = natural_step_pinv(theta, phi, w, v, batch, 0.1)
    got_t, got_w = natural_shared_step(phi, adv, batch, 0.1)
    np.testing.assert_allclose(got_w, ref_w, atol=1e-8)
    np.testing.assert_allclose(got_t, ref_t, atol=1e-8)
    # batch states move by eta A mod constants (Cui's Theorem 2 per trained state)
    dz = logit_change(phi, got_t, got_w)
    resid = dz[batch] - 0.1 * adv[batch]
    np.testing.assert_allclose(resid - resid.mean(axis=1, keepdims=True), 0.0, atol=1e-10)


@given(problems(max_s=4, max_k=4, max_d=3), st.booleans())
def test_overlap_against_dense_jacobians(prob, tabular):
    theta, phi, w, _, _ = prob
    z = linear_logits(theta, phi, w)
    got = policy_overlap(phi, z, tabular)
    np.testing.assert_allclose(got, policy_overlap_dense(phi, z, tabular), atol=1e-12)
    assert -1e-12 <= got <= 1 + 1e-12


def test_overlap_limits():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(5, 4))
    assert policy_overlap(np.zeros((5, 4, 3)), z) == 0.0  # no shared gradient
    same = np.broadcast_to(rng.normal(size=(4, 3)), (5, 4, 3)).copy()
    zs = np.broadcast_to(z[0], (5, 4)).copy()
    assert abs(policy_overlap(same, zs, tabular=False) - 1.0) < 1e-12  # one habit


def test_first_order_of_actual_dz_is_per_state():
    # the per-state first-order form needs only the actual dz (any optimiser)
    rng = np.random.default_rng(4)
    z, dz = rng.normal(size=(3, 5)), 1e-3 * rng.normal(size=(3, 5))
    err = np.abs(entropy(z + dz) - entropy(z) - first_order_entropy_change(z, dz)).max()
    assert err < 1e-5
