"""theory.clipping.expected_sign_weighted_gradient (NOTES.md, "Clipping bias, generalised:
the sign asymmetry"): PPO's weights give Eq. (2), sign-free weights give 0, and any
sign-dependent weights match a Monte Carlo estimate over sampled groups."""

import numpy as np
import pytest

from theory.clipping import (
    expected_clipped_gradient_closed_form,
    expected_sign_weighted_gradient,
    group_advantages,
)

Z_OLD = np.log(np.array([0.6, 0.3, 0.1]))
Z_THETA = np.log(np.array([0.45, 0.3, 0.25]))  # ratios 0.75, 1.0, 2.5 (pi renormalised)


def ppo(lo, hi):
    return (lambda r: np.where(r <= 1 + hi, r, 0.0)), (lambda r: np.where(r >= 1 - lo, r, 0.0))


@pytest.mark.parametrize("advantage", ["grpo", "dr_grpo"])
def test_ppo_weights_give_eq2(advantage):
    kp, km = ppo(0.2, 0.2)
    got = expected_sign_weighted_gradient(Z_OLD, Z_THETA, 8, 0.5, kp, km, advantage)
    want = expected_clipped_gradient_closed_form(Z_OLD, Z_THETA, 8, 0.5, 0.2, 0.2, advantage)
    assert np.abs(want).max() > 1e-3  # the band binds here
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-14)


def test_sign_free_weights_give_zero():
    def cispo(r):
        return np.clip(r, 0.0, 1.2)

    got = expected_sign_weighted_gradient(Z_OLD, Z_THETA, 8, 0.5, cispo, cispo)
    np.testing.assert_allclose(got, 0.0, atol=1e-15)


def test_vespo_like_weights_match_monte_carlo():
    def phi(k, lam):
        return lambda w: np.exp(lam + k * np.log(w) - lam * w)

    kp, km = phi(2.0, 3.0), phi(3.0, 2.0)
    G, p, n = 8, 0.5, 400_000
    rng = np.random.default_rng(0)
    pi_old = np.exp(Z_OLD - np.logaddexp.reduce(Z_OLD))
    pi = np.exp(Z_THETA - np.logaddexp.reduce(Z_THETA))
    rho = pi / pi_old
    answers = rng.choice(3, size=(n, G), p=pi_old)
    rewards = (rng.random((n, G)) < p).astype(float)
    adv = group_advantages(rewards, "grpo")
    r = rho[answers]
    c = -adv * np.where(adv > 0, kp(r), km(r)) / G  # (n, G)
    rows = np.repeat(np.arange(n), G)
    w = np.bincount(rows * 3 + answers.ravel(), weights=c.ravel(), minlength=3 * n).reshape(n, 3)
    g = w - pi[None, :] * w.sum(axis=1, keepdims=True)
    mean, se = g.mean(axis=0), g.std(axis=0, ddof=1) / np.sqrt(n)
    want = expected_sign_weighted_gradient(Z_OLD, Z_THETA, G, p, kp, km)
    assert np.abs(want).max() > 5 * se.max()  # the sign asymmetry is visible
    assert (np.abs(mean - want) < 5 * se).all()
