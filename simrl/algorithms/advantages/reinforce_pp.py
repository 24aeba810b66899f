"""reinforce_pp and reinforce_pp_baseline: verl's REINFORCE++ advantages, whitened over
the step's batch of tokens.

Source: Hu 2025 (REINFORCE++, arXiv 2501.03262); verl 0.9.1
`verl/trainer/ppo/core_algos.py` `compute_reinforce_plus_plus_outcome_advantage`
(`reinforce_plus_plus`) and `compute_reinforce_plus_plus_baseline_outcome_advantage`
(`reinforce_plus_plus_baseline`), with `verl/utils/torch_functional.py` `masked_whiten`.
verl's code is followed, under verl's rule:

- the score r of a response sits on its last token; `reinforce_pp` takes the
  reward-to-go with verl's default `algorithm.gamma = 1` (every token of the response
  gets r; simrl has no gamma field: a gamma < 1 makes the advantage vary along the
  response, which the per-response advantage interface does not carry);
  `reinforce_pp_baseline` takes r - mean_group r (a group of one response: baseline 0)
  on every token of the response;
- `masked_whiten` over all the batch's response tokens: mean m = sum_t x_t / (N + 1e-8),
  var = [sum_t (x_t - m)^2 / (N + 1e-8)] N / (N - 1) (unbiased; N = the batch's token
  count, the 1e-8 guards are masked_mean's), A = (x - m) / sqrt(var + 1e-8).

Whitening is over *tokens*: a response of length L counts L times in the mean and the
variance. On the bandit (every response is one token) that is whitening over the batch's
responses; on the sequence task (and the bridge) a long response weighs more, so the
advantages are not those of response-level whitening (`reads_lengths`). verl raises when
N = 1 (the unbiased variance divides by N - 1): `check` refuses a step of one response.
"""

from __future__ import annotations

import math

import numpy as np

from simrl.algorithms.advantage import AdvantageEstimator, register
from simrl.validate import require

#: verl_F.masked_mean's guard on the token count and masked_whiten's on the variance
MEAN_EPS = 1e-8
VAR_EPS = 1e-8


def check(a) -> None:
    require(
        a.exact or a.group_size >= 2 or a.prompts_per_step >= 2,
        "algo.group_size",
        a.group_size,
        f"must be >= 2 for advantage {a.advantage!r} unless algo.prompts_per_step >= 2 (verl's "
        "unbiased token whitening divides by the token count - 1)",
    )


def whiten(x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """verl masked_whiten of per-response values x, each repeated over its length."""
    n = lengths.sum()
    mean = (lengths * x).sum() / (n + MEAN_EPS)
    var = (lengths * (x - mean) ** 2).sum() / (n + MEAN_EPS) * (n / (n - 1))
    return (x - mean) / np.sqrt(var + VAR_EPS)


def numpy_form(rewards: np.ndarray, p, lengths: np.ndarray) -> np.ndarray:
    return whiten(rewards, lengths)


def numpy_baseline(rewards: np.ndarray, p, lengths: np.ndarray) -> np.ndarray:
    g = rewards.shape[1]
    base = rewards.mean(axis=1, keepdims=True) if g > 1 else np.zeros((rewards.shape[0], 1))
    return whiten(rewards - base, lengths)


def numba_form(ap, rew, adv, n_groups, G, lens, greedy):
    n = 0.0
    tot = 0.0
    for j in range(n_groups):
        for i in range(G):
            n += lens[j, i]
            tot += lens[j, i] * rew[j, i]
    mean = tot / (n + 1e-8)
    ss = 0.0
    for j in range(n_groups):
        for i in range(G):
            d = rew[j, i] - mean
            ss += lens[j, i] * d * d
    var = ss / (n + 1e-8) * (n / (n - 1.0))
    inv = 1.0 / math.sqrt(var + 1e-8)
    for j in range(n_groups):
        for i in range(G):
            adv[j, i] = (rew[j, i] - mean) * inv


def numba_baseline(ap, rew, adv, n_groups, G, lens, greedy):
    # adv holds r - mean_group r first, then is whitened in place
    for j in range(n_groups):
        base = 0.0
        if G > 1:
            for i in range(G):
                base += rew[j, i]
            base /= G
        for i in range(G):
            adv[j, i] = rew[j, i] - base
    n = 0.0
    tot = 0.0
    for j in range(n_groups):
        for i in range(G):
            n += lens[j, i]
            tot += lens[j, i] * adv[j, i]
    mean = tot / (n + 1e-8)
    ss = 0.0
    for j in range(n_groups):
        for i in range(G):
            d = adv[j, i] - mean
            ss += lens[j, i] * d * d
    var = ss / (n + 1e-8) * (n / (n - 1.0))
    inv = 1.0 / math.sqrt(var + 1e-8)
    for j in range(n_groups):
        for i in range(G):
            adv[j, i] = (adv[j, i] - mean) * inv


ENTRY = register(
    AdvantageEstimator(
        name="reinforce_pp",
        doc="r whitened over the step's batch of tokens (verl masked_whiten, gamma 1)",
        source="arXiv 2501.03262; verl compute_reinforce_plus_plus_outcome_advantage",
        numpy=numpy_form,
        numba=numba_form,
        check=check,
        reads_lengths=True,
    )
)
BASELINE = register(
    AdvantageEstimator(
        name="reinforce_pp_baseline",
        doc="r - mean_group r, whitened over the step's batch of tokens (verl masked_whiten)",
        source="arXiv 2501.03262; verl compute_reinforce_plus_plus_baseline_outcome_advantage",
        numpy=numpy_baseline,
        numba=numba_baseline,
        check=check,
        reads_lengths=True,
    )
)
