"""optimal_token_baseline: a baseline per token position of each group,
B_t = sum_i G_{i,t} W_{i,t} / (sum_i W_{i,t} + 1e-8) over the group's responses that
reach position t, W_{i,t} = sum_{j <= t} (1 - 2 pi_old(y_{i,j}) + sum_v pi_old(v | s_{i,j})^2)
(the cumulative squared norm of the softmax score, ||e_y - pi||^2, along the response),
A_{i,t} = G_{i,t} - B_t; G_{i,t} the return, here the response's (outcome) reward r_i on
every token (verl's reward-to-go of a reward on the last token). A group of one response
gets no baseline (A = r). With verl's `handle_zero_tail` (its default, True): when one
response of the group is strictly the longest, its baseline is 0 from the second-longest
response's length on (there no other response shares the position).

Source: verl 0.9.1 `verl/trainer/ppo/core_algos.py`,
`compute_optimal_token_baseline_advantage` (registered as `optimal_token_baseline`), its
inputs `old_log_probs` (pi_old of the sampled token), `sum_pi_squared` (sum over the
vocabulary of pi_old^2 at the token's state) and `epsilon = 1e-8`; no rollout importance
weights (`rollout_is_weights = None`: the sampler is pi_old here). verl's docstring
states the rule as B_t* = E[G_t W_t] / E[W_t], the variance-minimising baseline with
||grad log pi||^2 replaced by the score norm with respect to the logits, summed along the
prefix ("cumulative path-variance proxy"); verl cites no paper, so the code is the
source: simrl follows it, including the zero tail.

The rule is per token: the estimator has `token_baseline`. Its numpy form takes the
per-token norms (`scores`, (n_groups, G, T), 0 past a response's end) and returns
per-token advantages (n_groups, G, T); its numba form (called like every estimator's,
per response) writes A = r, and the kernels then subtract the per-position baselines
from the token advantages (engine/kernels/token_baseline.py), reading pi_old from their
cache. On the bandit every response is one token: B = sum_i r_i w_i / (sum_i w_i + 1e-8),
w_i = 1 - 2 pi_old(a_i | s) + sum_a pi_old(a | s)^2. Refused with `algo.exact` (an exact
entry's advantage is r - E r). The bridge reads pi_old(y) and sum pi_old^2 from its
sampler's record (simrl/bridge/sampler.py `score_norms`: the sampler's q, which is pi_old
unless top-p, top-k or staleness change it; the reference engines pass the sampler's
probabilities alike).
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms.advantage import AdvantageEstimator, register
from simrl.validate import require

EPS = 1e-8  # verl's `epsilon` default


def numpy_form(rewards: np.ndarray, p, lengths: np.ndarray, scores: np.ndarray) -> np.ndarray:
    n_groups, G, T = scores.shape
    L = lengths.astype(np.int64)
    mask = (np.arange(T)[None, None, :] < L[:, :, None]).astype(float)
    returns = rewards[:, :, None] * mask
    W = np.cumsum(scores * mask, axis=2)
    adv = returns.copy()
    if G == 1:  # verl: a group of one trajectory has no baseline
        return adv
    base = (returns * W * mask).sum(axis=1) / ((W * mask).sum(axis=1) + EPS)  # (n, T)
    baselines = np.repeat(base[:, None, :], G, axis=1)
    for j in range(n_groups):  # verl's handle_zero_tail
        order = np.sort(L[j])
        longest, second = order[-1], order[-2]
        at = np.flatnonzero(L[j] == longest)
        if at.size == 1 and longest > second:
            baselines[j, at[0], second:] = 0.0
    return (returns - baselines) * mask


def numba_form(ap, rew, adv, n_groups, G, lens, greedy):
    # the return; the kernels subtract the per-token baselines (token_baseline)
    for j in range(n_groups):
        for i in range(G):
            adv[j, i] = rew[j, i]


def check(a) -> None:
    require(
        not a.exact,
        "algo.exact",
        a.exact,
        "must be false with algo.advantage = 'optimal_token_baseline' (an exact entry's "
        "advantage is r - E r, not a sampled token's)",
    )


ENTRY = register(
    AdvantageEstimator(
        name="optimal_token_baseline",
        doc="r - a per-position baseline weighted by the cumulative score norms "
        "sum (1 - 2 pi_old(y) + sum pi_old^2) (verl)",
        source="verl 0.9.1 core_algos.compute_optimal_token_baseline_advantage",
        numpy=numpy_form,
        numba=numba_form,
        check=check,
        reads_lengths=True,
        token_baseline=True,
    )
)
