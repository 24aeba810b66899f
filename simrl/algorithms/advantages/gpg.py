"""gpg: alpha (r - mean_group r), alpha = B / max(M, 1), B the step's responses and M how
many of them have a nonzero reward; no std normalisation.

Source: Chu et al. 2025 (GPG, arXiv 2504.02546); verl 0.9.1
`core_algos.compute_gpg_outcome_advantage` (`gpg`), whose code counts M as the batch's
nonzero rewards (`torch.count_nonzero(scores)`) and divides by `f_norm` = 1 (its
default; the trainer passes none). A group of one response gets baseline 0. It differs
from `grpo` (no std) and from `dr_grpo` by the batch-level factor alpha >= 1.
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms.advantage import AdvantageEstimator, register


def numpy_form(rewards: np.ndarray, p) -> np.ndarray:
    alpha = rewards.size / max(int(np.count_nonzero(rewards)), 1)
    g = rewards.shape[1]
    base = rewards.mean(axis=1, keepdims=True) if g > 1 else np.zeros((rewards.shape[0], 1))
    return alpha * (rewards - base)


def numba_form(ap, rew, adv, n_groups, G, lens, greedy):
    m = 0
    for j in range(n_groups):
        for i in range(G):
            if rew[j, i] != 0.0:
                m += 1
    alpha = (n_groups * G) / max(m, 1)
    for j in range(n_groups):
        base = 0.0
        if G > 1:
            for i in range(G):
                base += rew[j, i]
            base /= G
        for i in range(G):
            adv[j, i] = alpha * (rew[j, i] - base)


ENTRY = register(
    AdvantageEstimator(
        name="gpg",
        doc="(B / #nonzero rewards of the batch) (r - mean_group r)",
        source="arXiv 2504.02546; verl compute_gpg_outcome_advantage",
        numpy=numpy_form,
        numba=numba_form,
    )
)
