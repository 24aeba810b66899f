"""grpo_passk: only the best response of a group gets an advantage, (r_max - r_2nd) /
(std_group r + std_eps); every other response gets 0.

Source: verl 0.9.1 `core_algos.compute_grpo_passk_outcome_advantage` (`grpo_passk`,
citing arXiv 2503.19595), with its default `norm_adv_by_std_in_grpo = True`; r_max and
r_2nd are the group's two largest rewards (torch.topk) and the std is torch.std (ddof
`std_ddof`, 1 as verl; `std_eps` verl's epsilon 1e-6). When the maximum is shared, r_max -
r_2nd = 0 and no response gets an advantage, so which tied response topk picks does not
matter; otherwise it is the unique argmax. A std + std_eps of 0 (all rewards equal,
std_eps = 0) gives 0, not verl's 0 / 0. verl refuses groups of fewer than 2 responses.
"""

from __future__ import annotations

import math

import numpy as np

from simrl.algorithms.advantage import AdvantageEstimator, register
from simrl.validate import require

PARAMS = ("std_eps", "std_ddof")
STD_EPS, STD_DDOF = 0, 1


def check(a) -> None:
    require(
        a.exact or a.group_size >= 2,
        "algo.group_size",
        a.group_size,
        "must be >= 2 for advantage 'grpo_passk' (verl: Pass@k needs 2 samples per group)",
    )


def numpy_form(rewards: np.ndarray, p) -> np.ndarray:
    adv = np.zeros_like(rewards, dtype=float)
    for j, r in enumerate(rewards):
        top = np.argsort(-r, kind="stable")[:2]
        gap = r[top[0]] - r[top[1]]
        den = r.std(ddof=p.std_ddof) + p.std_eps
        adv[j, top[0]] = gap / den if den > 0 else 0.0
    return adv


def numba_form(ap, rew, adv, n_groups, G, lens, greedy):
    std_eps, ddof = ap[STD_EPS], ap[STD_DDOF]
    for j in range(n_groups):
        best = 0
        for i in range(1, G):
            if rew[j, i] > rew[j, best]:
                best = i
        second = -math.inf
        tot = 0.0
        for i in range(G):
            tot += rew[j, i]
            if i != best and rew[j, i] > second:
                second = rew[j, i]
        mean = tot / G
        ss = 0.0
        for i in range(G):
            d = rew[j, i] - mean
            ss += d * d
            adv[j, i] = 0.0
        den = math.sqrt(ss / (G - ddof)) + std_eps
        adv[j, best] = (rew[j, best] - second) / den if den > 0 else 0.0


ENTRY = register(
    AdvantageEstimator(
        name="grpo_passk",
        doc="the group's best response gets (r_max - r_2nd) / (std_group r + std_eps), others 0",
        source="verl compute_grpo_passk_outcome_advantage (arXiv 2503.19595)",
        numpy=numpy_form,
        numba=numba_form,
        params=PARAMS,
        check=check,
    )
)
