"""grpo_batch: (r - mean_group r) / (std of all the step's rewards + std_eps), TRL's
`scale_rewards = "batch"`.

Source: TRL 1.16.0 `trl/trainer/grpo_trainer.py` `GRPOTrainer._generate_and_score_completions`
(`multi_objective_aggregation = "sum_then_normalize"`, `scale_rewards == "batch"`): the
group mean is subtracted, the std is `trl.trainer.utils.nanstd` of the whole batch's
rewards (Bessel-corrected: `std_ddof` = 1; a batch of one reward has std 0), and TRL adds
1e-4 (hard-coded there; simrl's `std_eps`, default 1e-6, is the field: set 1e-4 to match
TRL). The other TRL modes are simrl's `grpo` (`"group"`, with std_eps 1e-4) and
`dr_grpo` (`"none"`). A std + std_eps of 0 gives advantage 0 (all rewards equal).
"""

from __future__ import annotations

import math

import numpy as np

from simrl.algorithms.advantage import AdvantageEstimator, register

PARAMS = ("std_eps", "std_ddof")
STD_EPS, STD_DDOF = 0, 1


def numpy_form(rewards: np.ndarray, p) -> np.ndarray:
    mean = rewards.mean(axis=1, keepdims=True)
    std = rewards.std(ddof=p.std_ddof) if rewards.size > 1 else 0.0
    den = std + p.std_eps
    if den > 0:
        return (rewards - mean) / den
    return np.zeros_like(rewards, dtype=float)


def numba_form(ap, rew, adv, n_groups, G, lens, greedy):
    std_eps, ddof = ap[STD_EPS], ap[STD_DDOF]
    n = n_groups * G
    tot = 0.0
    for j in range(n_groups):
        for i in range(G):
            tot += rew[j, i]
    mean = tot / n if n > 0 else 0.0
    ss = 0.0
    for j in range(n_groups):
        for i in range(G):
            d = rew[j, i] - mean
            ss += d * d
    std = math.sqrt(ss / (n - ddof)) if n > 1 else 0.0
    den = std + std_eps
    for j in range(n_groups):
        gm = 0.0
        for i in range(G):
            gm += rew[j, i]
        gm /= G
        for i in range(G):
            adv[j, i] = (rew[j, i] - gm) / den if den > 0 else 0.0


ENTRY = register(
    AdvantageEstimator(
        name="grpo_batch",
        doc="(r - mean_group r) / (std of the step's rewards + std_eps): TRL scale_rewards='batch'",
        source='TRL 1.16.0 GRPOTrainer._generate_and_score_completions, scale_rewards="batch"',
        numpy=numpy_form,
        numba=numba_form,
        params=PARAMS,
    )
)
