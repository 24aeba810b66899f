"""Advantage estimators: rewards of a batch of groups (n_groups, G) -> advantages (n_groups, G).

Every response of a group answers the same prompt; a sequence-level advantage is later
broadcast to the response's tokens.
"""

from __future__ import annotations

import numpy as np

from simrl.registry import Registry

ADVANTAGES = Registry("advantage estimator")


@ADVANTAGES.register(
    "grpo",
    "(r - mean_group r) / (std_group r + std_eps); Shao et al. 2024 (DeepSeekMath, arXiv "
    "2402.03300) Eq. 3 outcome supervision; std with ddof std_ddof (1 = torch.std as in "
    "TRL and verl compute_grpo_outcome_advantage)",
)
def grpo(rewards: np.ndarray, *, std_eps: float, std_ddof: int) -> np.ndarray:
    mean = rewards.mean(axis=1, keepdims=True)
    std = rewards.std(axis=1, ddof=std_ddof, keepdims=True)
    return (rewards - mean) / (std + std_eps)


@ADVANTAGES.register(
    "dr_grpo",
    "r - mean_group r, no std normalisation; Liu et al. 2025 (Dr. GRPO, arXiv 2503.20783) Sec. 3.2",
)
def dr_grpo(rewards: np.ndarray, **_: object) -> np.ndarray:
    return rewards - rewards.mean(axis=1, keepdims=True)


@ADVANTAGES.register(
    "rloo",
    "r_i - mean_{j != i} r_j, the leave-one-out baseline; Ahmadian et al. 2024 (arXiv "
    "2402.14740) Eq. 5; equals G/(G-1) (r_i - mean r)",
)
def rloo(rewards: np.ndarray, **_: object) -> np.ndarray:
    g = rewards.shape[1]
    loo_mean = (rewards.sum(axis=1, keepdims=True) - rewards) / (g - 1)
    return rewards - loo_mean


@ADVANTAGES.register(
    "reinforce",
    "r - mean of all rewards in the step's batch (REINFORCE with a batch-mean baseline; "
    "Williams 1992)",
)
def reinforce(rewards: np.ndarray, **_: object) -> np.ndarray:
    return rewards - rewards.mean()
