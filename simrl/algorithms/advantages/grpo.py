"""grpo: (r - mean_group r) / (std_group r + std_eps).

Source: Shao et al. 2024 (DeepSeekMath, arXiv 2402.03300) Eq. 3, outcome supervision; the
std with ddof std_ddof (1 = torch.std, as TRL and verl `compute_grpo_outcome_advantage`).
A group whose std + std_eps is 0 (equal rewards and std_eps = 0) gets advantage 0, the
limit of r - mean = 0 over a vanishing denominator, in every engine (numpy would give
0 / 0 = NaN; numba would raise).
"""

from __future__ import annotations

import math

import numpy as np

from simrl.algorithms.advantage import AdvantageEstimator, register
from simrl.validate import NONNEG, Range, param, require

FIELDS = {
    "std_eps": (
        float,
        param(1e-6, "epsilon added to the group std in grpo (verl 1e-6; TRL uses 1e-4)", NONNEG),
    ),
    "std_ddof": (
        int,
        param(
            1,
            "ddof of the group std in grpo (1 = torch.std, as TRL and verl)",
            Range(0, 1, integer=True),
        ),
    ),
}
PARAMS = ("std_eps", "std_ddof")
STD_EPS, STD_DDOF = 0, 1


def check(a) -> None:
    require(
        a.exact or a.std_ddof == 0 or a.group_size >= 2,
        "algo.group_size",
        a.group_size,
        "must be >= 2 for advantage 'grpo' with std_ddof = 1",
    )


def numpy_form(rewards: np.ndarray, p) -> np.ndarray:
    mean = rewards.mean(axis=1, keepdims=True)
    den = rewards.std(axis=1, ddof=p.std_ddof, keepdims=True) + p.std_eps
    if np.all(den > 0):
        return (rewards - mean) / den
    return np.divide(rewards - mean, den, out=np.zeros_like(rewards), where=den > 0)


def numba_form(ap, rew, adv, n_groups, G, lens, greedy):
    std_eps, ddof = ap[STD_EPS], ap[STD_DDOF]
    for j in range(n_groups):
        tot = 0.0
        for i in range(G):
            tot += rew[j, i]
        mean = tot / G
        ss = 0.0
        for i in range(G):
            d = rew[j, i] - mean
            ss += d * d
        den = math.sqrt(ss / (G - ddof)) + std_eps
        for i in range(G):
            adv[j, i] = (rew[j, i] - mean) / den if den > 0 else 0.0


ENTRY = register(
    AdvantageEstimator(
        name="grpo",
        doc="(r - mean_group r) / (std_group r + std_eps); std with ddof std_ddof",
        source="Shao et al. 2024 (arXiv 2402.03300) Eq. 3; verl compute_grpo_outcome_advantage",
        numpy=numpy_form,
        numba=numba_form,
        params=PARAMS,
        fields=FIELDS,
        check=check,
    )
)
