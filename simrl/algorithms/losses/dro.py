"""dro: verl's DRO loss, the policy gradient with a quadratic log-ratio penalty.

Source: verl 0.9.1 `compute_policy_loss_dro` (verl/trainer/ppo/core_algos.py), whose
docstring reads "Direct Reward Optimization with a quadratic log-ratio penalty" and cites
no paper (the same per-token rule is Tinker's `dro` loss): loss
-(A log pi - beta / 2 (log pi - log pi_old)^2), d loss / d logp = -A + beta (logp -
logp_old). The penalty pulls towards the sampling policy pi_old: it is 0, with zero
gradient, on an epoch's first pass, and acts from the second epoch on; unlike A, it also
acts on tokens with A = 0.

verl requires `policy_loss.dro_beta > 0` and has no default; here `algo.dro_beta`
(default 1.0, a placeholder: set it).
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms.policy_loss import PolicyLoss, register
from simrl.algorithms.tokens import (
    TF_ADV,
    TF_DLOGP,
    TF_LOGP,
    TF_LOGP_OLD,
    LossOut,
    TokenBatch,
    TorchLossOut,
)
from simrl.validate import POS, param

FIELDS = {
    "dro_beta": (
        float,
        param(
            1.0,
            "DRO: coefficient beta of the penalty beta / 2 (log pi - log pi_old)^2 (verl policy_loss.dro_beta: required, > 0, no default)",
            POS,
        ),
    ),
}
PARAMS = ("dro_beta",)
BETA = 0


def numpy_form(b: TokenBatch, p) -> LossOut:
    d = b.logp - b.logp_old
    none = np.zeros(d.shape, dtype=bool)
    loss = -(b.logp * b.adv - 0.5 * p.dro_beta * d * d)
    return LossOut(loss, -b.adv + p.dro_beta * d, none, none, none, none)


def numba_form(lp, tf, ti, b0, N, flags, first):
    adv, td = tf[TF_ADV, b0 : b0 + N], tf[TF_DLOGP, b0 : b0 + N]
    logp, logp_old = tf[TF_LOGP, b0 : b0 + N], tf[TF_LOGP_OLD, b0 : b0 + N]
    for t in range(N):
        td[t] = -adv[t] + lp[BETA] * (logp[t] - logp_old[t])


def torch_form(b, p) -> TorchLossOut:
    import torch

    d = b.logp - b.logp_old
    none = torch.zeros(d.shape, dtype=torch.bool, device=d.device)
    return TorchLossOut(-(b.logp * b.adv - 0.5 * p.dro_beta * d.square()), none, none, none, none)


ENTRY = register(
    PolicyLoss(
        name="dro",
        reports=(),
        doc="DRO (verl): -(A log pi - dro_beta / 2 (log pi - log pi_old)^2)",
        source="verl 0.9.1 compute_policy_loss_dro",
        numpy=numpy_form,
        numba=numba_form,
        torch=torch_form,
        params=PARAMS,
        fields=FIELDS,
        exact=True,
    )
)
