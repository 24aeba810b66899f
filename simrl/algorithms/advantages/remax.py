"""remax: r minus the reward of the prompt's greedy response, b(s) = r(argmax path of
pi_old(.|s)).

Source: Li et al. 2024 (ReMax, arXiv 2310.10505: the greedy response's reward as the
baseline); verl 0.9.1
`core_algos.compute_remax_outcome_advantage` (`remax`): advantage = return -
`reward_baselines` on every response token, the baseline being the reward of a greedy
(`do_sample = False`) response to the same prompt, scored like the others. Here the
greedy response is exact rather than generated: on the bandit the argmax answer of
pi_old(.|s) (the first of tied maxima), on the sequence task the argmax token at every
state from the prompt's root to a leaf, with the leaf's expected reward under the
environment's answer distribution (exact when the answer is the policy's or a leaf's
only one) plus DAPO's overlong penalty; the bridge decodes greedily with the model and
scores the completion (rewards, overlong penalty). The reward must be deterministic
(`true`, `format`, `incorrect`): a random reward's greedy value is itself a draw, so the
config refuses `random`, `noisy` and `self_consistency` (which votes over the group) in
one line (simrl/config_checks.py).
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms.advantage import AdvantageEstimator, register


def numpy_form(rewards: np.ndarray, p, greedy: np.ndarray) -> np.ndarray:
    return rewards - greedy[:, None]


def numba_form(ap, rew, adv, n_groups, G, lens, greedy):
    for j in range(n_groups):
        for i in range(G):
            adv[j, i] = rew[j, i] - greedy[j]


ENTRY = register(
    AdvantageEstimator(
        name="remax",
        doc="r - the reward of the prompt's greedy response under pi_old (exact)",
        source="ReMax (arXiv 2310.10505); verl compute_remax_outcome_advantage",
        numpy=numpy_form,
        numba=numba_form,
        reads_greedy=True,
    )
)
