"""reinforce: r - the mean of all rewards in the step's batch (REINFORCE with a batch-mean
baseline).

Source: Williams 1992 (REINFORCE; Machine Learning 8), with a constant baseline b.
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms.advantage import AdvantageEstimator, register


def numpy_form(rewards: np.ndarray, p) -> np.ndarray:
    return rewards - rewards.mean()


def numba_form(ap, rew, adv, n_groups, G, lens, greedy):
    tot = 0.0
    for j in range(n_groups):
        for i in range(G):
            tot += rew[j, i]
    mean = tot / (n_groups * G) if n_groups > 0 else 0.0
    for j in range(n_groups):
        for i in range(G):
            adv[j, i] = rew[j, i] - mean


ENTRY = register(
    AdvantageEstimator(
        name="reinforce",
        doc="r - mean of all rewards in the step's batch (batch-mean baseline)",
        source="Williams 1992, REINFORCE with a constant baseline",
        numpy=numpy_form,
        numba=numba_form,
    )
)
