"""psr, nsr and w_reinforce: positive and negative sample reinforcement, and their
weighted sum, as advantages without a baseline.

Source: Zhu et al. 2025 (The Surprising Effectiveness of Negative Reinforcement in LLM
Reasoning, arXiv 2506.01347): the PSR and NSR objectives and W-REINFORCE = lambda PSR +
NSR with lambda = 0.1 (equation numbers not checked here), as the authors' code computes them on rewards r in {0, 1}
(TianHongZXY/RLVR-Decomposed `verl/trainer/ppo/core_algos.py`
`compute_psr_nsr_outcome_advantage`, gamma 1): `psr` A = r (incorrect responses get 0),
`nsr` A = r - 1 (correct ones get 0), `w_reinforce` A = lambda r where r = 1, r - 1
where r = 0, and r unchanged for any other reward (the code's masks are r == 1 and
r == 0; a reward off {0, 1}, e.g. with DAPO's overlong penalty, keeps A = r).
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms.advantage import AdvantageEstimator, register
from simrl.validate import NONNEG, param

FIELDS = {
    "w_reinforce_lambda": (
        float,
        param(0.1, "weight lambda of the positive samples in advantage 'w_reinforce'", NONNEG),
    ),
}


def numpy_psr(rewards: np.ndarray, p) -> np.ndarray:
    return np.array(rewards, dtype=float)


def numpy_nsr(rewards: np.ndarray, p) -> np.ndarray:
    return rewards - 1.0


def numpy_weighted(rewards: np.ndarray, p) -> np.ndarray:
    adv = np.array(rewards, dtype=float)
    adv[rewards == 1.0] *= p.w_reinforce_lambda
    adv[rewards == 0.0] -= 1.0
    return adv


def numba_psr(ap, rew, adv, n_groups, G, lens, greedy):
    for j in range(n_groups):
        for i in range(G):
            adv[j, i] = rew[j, i]


def numba_nsr(ap, rew, adv, n_groups, G, lens, greedy):
    for j in range(n_groups):
        for i in range(G):
            adv[j, i] = rew[j, i] - 1.0


def numba_weighted(ap, rew, adv, n_groups, G, lens, greedy):
    lam = ap[0]
    for j in range(n_groups):
        for i in range(G):
            r = rew[j, i]
            if r == 1.0:
                adv[j, i] = r * lam
            elif r == 0.0:
                adv[j, i] = r - 1.0
            else:
                adv[j, i] = r


SOURCE = (
    "arXiv 2506.01347 (PSR, NSR, W-REINFORCE); RLVR-Decomposed compute_psr_nsr_outcome_advantage"
)
PSR = register(
    AdvantageEstimator(
        name="psr",
        doc="A = r: positive sample reinforcement only (no baseline)",
        source=SOURCE,
        numpy=numpy_psr,
        numba=numba_psr,
    )
)
NSR = register(
    AdvantageEstimator(
        name="nsr",
        doc="A = r - 1: negative sample reinforcement only (no baseline)",
        source=SOURCE,
        numpy=numpy_nsr,
        numba=numba_nsr,
    )
)
W_REINFORCE = register(
    AdvantageEstimator(
        name="w_reinforce",
        doc="A = lambda for r = 1, -1 for r = 0: lambda PSR + NSR",
        source=SOURCE,
        numpy=numpy_weighted,
        numba=numba_weighted,
        params=("w_reinforce_lambda",),
        fields=FIELDS,
    )
)
