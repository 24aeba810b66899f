"""rloo: r_i - mean_{j != i} r_j, the leave-one-out baseline; equals G/(G-1) (r_i - mean r).

Source: Ahmadian et al. 2024 (arXiv 2402.14740) Eq. 5.
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms.advantage import AdvantageEstimator, register
from simrl.validate import require


def check(a) -> None:
    require(
        a.exact or a.group_size >= 2,
        "algo.group_size",
        a.group_size,
        "must be >= 2 for advantage 'rloo'",
    )


def numpy_form(rewards: np.ndarray, p) -> np.ndarray:
    g = rewards.shape[1]
    loo_mean = (rewards.sum(axis=1, keepdims=True) - rewards) / (g - 1)
    return rewards - loo_mean


def numba_form(ap, rew, adv, n_groups, G, lens, greedy):
    for j in range(n_groups):
        tot = 0.0
        for i in range(G):
            tot += rew[j, i]
        for i in range(G):
            adv[j, i] = rew[j, i] - (tot - rew[j, i]) / (G - 1)


ENTRY = register(
    AdvantageEstimator(
        name="rloo",
        doc="r_i - mean_{j != i} r_j, the leave-one-out baseline",
        source="Ahmadian et al. 2024 (arXiv 2402.14740) Eq. 5",
        numpy=numpy_form,
        numba=numba_form,
        check=check,
    )
)
