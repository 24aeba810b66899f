"""The kernels' generated dispatch (simrl/engine/kernels/dispatch.py) sends every code of
the KL estimators, aggregation modes and rewards to that entry's numba form, which
agrees with the entry's numpy form (the parity suites check the same end to end)."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit
from simrl.theory.entropy import log_softmax

from simrl.algorithms.aggregation import weights
from simrl.algorithms.aggregations import AGGREGATIONS
from simrl.algorithms.kl_estimator import sampled_kl
from simrl.algorithms.kl_estimators import KL_ESTIMATORS
from simrl.algorithms.reward import PromptFacts
from simrl.algorithms.rewards import REWARDS
from simrl.engine.kernels.dispatch import (
    aggregation_weight,
    exact_kl_grad,
    group_rewards,
    sampled_kl_grad,
)

X = np.array([-2.0, -0.3, 0.0, 0.7, 1.5])  # logp - logp_ref


@njit
def _sampled(code, x, r, out):
    for i in range(x.shape[0]):
        out[i] = sampled_kl_grad(code, x[i], r[i])


@njit
def _exact(code, scale, logp, prob, ref_logp, ref_prob, g):
    for s in range(g.shape[0]):
        exact_kl_grad(code, scale, logp, prob, ref_logp, ref_prob, s, g)


@njit
def _weights(code, exact, n_tokens, n_seq, max_len, lengths, scale, out):
    for i in range(lengths.shape[0]):
        out[i] = aggregation_weight(code, exact, n_tokens, n_seq, max_len, lengths[i], scale)


@njit
def _rewards(code, s, ans, correct, fmt, label, u, param, winner, lik, out):
    group_rewards(code, s, ans, 0, ans.shape[1], correct, fmt, label, u, 0, param, winner, lik, out)


@pytest.mark.parametrize("name", [e.name for e in KL_ESTIMATORS if e.sampled])
def test_sampled_kl_dispatch(name):
    e = KL_ESTIMATORS[name]
    got = np.empty_like(X)
    logp_old = X - np.array([0.1, -0.2, 0.0, 0.3, -0.4])  # ratio exp(logp - logp_old) != 1
    _sampled(e.code, X, np.exp(X - logp_old), got)
    want = sampled_kl(e, X, np.zeros_like(X), logp_old)[1]
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", [e.name for e in KL_ESTIMATORS if not e.sampled])
def test_exact_kl_dispatch(name):
    rng = np.random.default_rng(0)
    logp, ref_logp = log_softmax(rng.normal(size=(3, 4))), log_softmax(rng.normal(size=(3, 4)))
    e = KL_ESTIMATORS[name]
    g = np.zeros((3, 4))
    _exact(e.code, 0.5, logp, np.exp(logp), ref_logp, np.exp(ref_logp), g)
    np.testing.assert_allclose(g, 0.5 * e.numpy(logp, ref_logp)[1], rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("scale", [0.0, 7.0])
@pytest.mark.parametrize("name", AGGREGATIONS.names)
def test_aggregation_dispatch(name, scale):
    """A minibatch of 3 responses of lengths 2, 4, 1 padded to 4: each token's weight
    (with loss_scale_factor 0, i.e. T, and 7)."""
    lengths = np.array([2, 4, 1])
    mask = (np.arange(4)[None, :] < lengths[:, None]).astype(float)  # (B, T)
    e = AGGREGATIONS[name]
    token_lengths = np.repeat(lengths, lengths)
    got = np.empty(token_lengths.size)
    _weights(e.code, False, int(mask.sum()), 3, 4, token_lengths, scale or 4.0, got)
    want = weights(e, mask, scale)[mask > 0]
    np.testing.assert_allclose(got, want, rtol=1e-15)


@pytest.mark.parametrize("name", REWARDS.names)
def test_reward_dispatch(name):
    """The numba form with the kernels' plurality winner against the numpy form."""
    e = REWARDS[name]
    correct = np.array([[False, True, False, True, False]])  # (S, K)
    answers = np.array([[0, 1, 2, 3, 4, 1, 2, 1]])  # (1, G): 1 has the plurality
    u = np.array([0.05, 0.95, 0.3, 0.6, 0.15, 0.45, 0.5, 0.01])
    p, flip = 0.5, 0.2
    param = 0.0 if e.param is None else {"p": p, "flip": flip, "unlikeliness_beta": 0.3}[e.param]
    # the responses' likelihoods (read by a reward with reads_likelihood), with a tie
    lik = np.array([[0.2, 0.5, 0.1, 0.05, 0.2, 0.5, 0.1, 0.5]])
    out = np.empty((1, 8))
    _rewards(e.code, 0, answers, correct, np.array([4]), np.array([2]), u, param, 1, lik, out)
    facts = PromptFacts(correct[0], 4, 2)
    kw = {"lik": lik[0], "param": param} if e.reads_likelihood else {}
    want = e.numpy(answers[0], facts, u, 0.5, p=p, flip=flip, **kw)
    np.testing.assert_array_equal(out[0], want)
