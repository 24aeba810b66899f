"""dr_grpo: r - mean_group r, no std normalisation.

Source: Liu et al. 2025 (Dr. GRPO, arXiv 2503.20783) Sec. 3.2.
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms.advantage import AdvantageEstimator, register


def numpy_form(rewards: np.ndarray, p) -> np.ndarray:
    return rewards - rewards.mean(axis=1, keepdims=True)


def numba_form(ap, rew, adv, n_groups, G, lens, greedy):
    for j in range(n_groups):
        tot = 0.0
        for i in range(G):
            tot += rew[j, i]
        mean = tot / G
        for i in range(G):
            adv[j, i] = rew[j, i] - mean


ENTRY = register(
    AdvantageEstimator(
        name="dr_grpo",
        doc="r - mean_group r, no std normalisation",
        source="Liu et al. 2025 (Dr. GRPO, arXiv 2503.20783) Sec. 3.2",
        numpy=numpy_form,
        numba=numba_form,
    )
)
