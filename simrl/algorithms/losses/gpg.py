"""gpg: GPG, Group Policy Gradient: the plain policy gradient -A log pi, no ratio, no clip.

Source: Chu et al. 2025, GPG: A Simple and Strong Reinforcement Learning Baseline for
Model Reasoning (arXiv 2504.02546); the rule is verl 0.9.1's
`compute_policy_loss_gpg` (verl/trainer/ppo/core_algos.py): loss -A log pi, so
d loss / d logp = -A whatever the ratio (every epoch's gradient is the on-policy one,
with no correction for the policy having moved). It is also verl's
`compute_policy_loss_reinforce` without rollout weights. GPG's advantage (verl's `gpg`
estimator, a rescaled group baseline) is a separate choice (algo.advantage).
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms.policy_loss import PolicyLoss, register
from simrl.algorithms.tokens import TF_ADV, TF_DLOGP, LossOut, TokenBatch, TorchLossOut


def numpy_form(b: TokenBatch, p) -> LossOut:
    none = np.zeros(b.logp.shape, dtype=bool)
    return LossOut(-b.logp * b.adv, -b.adv, none, none, none, none)


def numba_form(lp, tf, ti, b0, N, flags, first):
    adv, td = tf[TF_ADV, b0 : b0 + N], tf[TF_DLOGP, b0 : b0 + N]
    for t in range(N):
        td[t] = -adv[t]


def torch_form(b, p) -> TorchLossOut:
    import torch

    none = torch.zeros(b.logp.shape, dtype=torch.bool, device=b.logp.device)
    return TorchLossOut(-b.logp * b.adv, none, none, none, none)


ENTRY = register(
    PolicyLoss(
        name="gpg",
        reports=(),
        doc="GPG (verl): -A log pi, the policy gradient with no ratio and no clip",
        source="Chu et al. 2025 (arXiv 2504.02546); verl 0.9.1 compute_policy_loss_gpg",
        numpy=numpy_form,
        numba=numba_form,
        torch=torch_form,
        exact=True,
    )
)
