"""opo: r - the group's length-weighted mean reward, sum_i L_i r_i / sum_i L_i.

Source: Hao et al. 2025 (On-Policy RL with Optimal Reward Baseline, arXiv 2505.23585);
verl 0.9.1 `core_algos.compute_opo_outcome_advantage` (`opo`): a group of one response
gets baseline 0; no epsilon in the division. On the bandit (every length 1) it equals
`dr_grpo`; on the sequence task and the bridge longer responses weigh more in the
baseline (`reads_lengths`).
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms.advantage import AdvantageEstimator, register


def numpy_form(rewards: np.ndarray, p, lengths: np.ndarray) -> np.ndarray:
    if rewards.shape[1] == 1:
        return rewards.copy()
    base = (lengths * rewards).sum(axis=1, keepdims=True) / lengths.sum(axis=1, keepdims=True)
    return rewards - base


def numba_form(ap, rew, adv, n_groups, G, lens, greedy):
    for j in range(n_groups):
        base = 0.0
        if G > 1:
            num = 0.0
            den = 0.0
            for i in range(G):
                num += lens[j, i] * rew[j, i]
                den += lens[j, i]
            base = num / den
        for i in range(G):
            adv[j, i] = rew[j, i] - base


ENTRY = register(
    AdvantageEstimator(
        name="opo",
        doc="r - the group's length-weighted mean reward",
        source="arXiv 2505.23585; verl compute_opo_outcome_advantage",
        numpy=numpy_form,
        numba=numba_form,
        reads_lengths=True,
    )
)
