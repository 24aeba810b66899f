"""kl_cov: no PPO clip; the top max(1, int(kl_cov_ratio N)) tokens by covariance get
kl_cov_coef * |logp - logp_old| added to their loss.

Source: Cui et al. 2025 (arXiv 2505.22617) Sec. 4.2; verl `compute_policy_loss_kl_cov`
(verl/trainer/ppo/core_algos.py). Covariances are ranked on covariance.COV_RANK_GRID so
that equal ones tie exactly (broken by token order).
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms import nb
from simrl.algorithms.losses.covariance import covariance_rank, detached, token_covariance
from simrl.algorithms.policy_loss import PolicyLoss, register
from simrl.algorithms.tokens import (
    TF_ADV,
    TF_COEF,
    TF_DLOGP,
    TF_LOGP,
    TF_LOGP_OLD,
    TF_RATIO,
    LossOut,
    TokenBatch,
    TorchLossOut,
)
from simrl.validate import NONNEG, Range, param

FIELDS = {
    "kl_cov_ratio": (
        float,
        param(
            2e-3,
            "KL-Cov: fraction of tokens penalised (verl default 2e-4; the official 7B KL-Cov recipe uses 2e-3)",
            Range(0.0, 1.0, lo_open=True),
        ),
    ),
    "kl_cov_coef": (
        float,
        param(
            1.0,
            "KL-Cov: coefficient of |logp - logp_old| (verl ppo_kl_coef: 0.1 in verl 0.9.1's "
            "PolicyLossConfig, 1.0 when unset in compute_policy_loss_kl_cov and in the KL-Cov "
            "recipe)",
            NONNEG,
        ),
    ),
}
PARAMS = ("kl_cov_ratio", "kl_cov_coef")
RATIO, COEF = 0, 1


def top_tokens(cov: np.ndarray, ratio: float) -> np.ndarray:
    """The max(1, int(ratio N)) tokens of largest covariance (ties: lower index first)."""
    k = max(int(cov.size * ratio), 1)
    return np.argsort(-covariance_rank(cov), kind="stable")[:k]


def numpy_form(b: TokenBatch, p) -> LossOut:
    ratio = np.exp(b.logp - b.logp_old)
    selected = np.zeros(b.logp.shape, dtype=bool)
    selected[top_tokens(token_covariance(b.adv, b.logp), p.kl_cov_ratio)] = True
    diff = b.logp - b.logp_old
    loss = -b.adv * ratio + np.where(selected, p.kl_cov_coef * np.abs(diff), 0.0)
    # d|x|/dx = sign(x), 0 at x = 0 as in torch: no KL-Cov force on an epoch's first pass
    dlogp = -b.adv * ratio + np.where(selected, p.kl_cov_coef * np.sign(diff), 0.0)
    none = np.zeros(ratio.shape, dtype=bool)
    return LossOut(loss, dlogp, none, none, none, selected)


def numba_form(lp, tf, ti, b0, N, flags, first):
    adv, logp, logp_old = tf[TF_ADV, b0 : b0 + N], tf[TF_LOGP, b0 : b0 + N], tf[TF_LOGP_OLD, b0 : b0 + N]  # fmt: skip
    ratio, td, cov = tf[TF_RATIO, b0 : b0 + N], tf[TF_DLOGP, b0 : b0 + N], tf[TF_COEF, b0 : b0 + N]
    nb.token_covariance(N, adv, logp, cov)
    for t in range(N):
        td[t] = -adv[t] * ratio[t]
    k = max(int(N * lp[RATIO]), 1)
    order = nb.covariance_rank_order(N, cov)
    for i in range(k):
        t = order[i]
        flags[b0 + t, 3] = 1
        diff = logp[t] - logp_old[t]
        if diff > 0:
            td[t] += lp[COEF]
        elif diff < 0:
            td[t] -= lp[COEF]


def torch_form(b, p) -> TorchLossOut:
    import torch

    ratio = torch.exp(b.logp - b.logp_old)
    top = top_tokens(token_covariance(detached(b.adv), detached(b.logp)), p.kl_cov_ratio)
    selected = torch.zeros(ratio.shape, dtype=torch.bool, device=b.logp.device)
    selected[torch.as_tensor(top, device=b.logp.device)] = True
    penalty = p.kl_cov_coef * (b.logp - b.logp_old).abs()  # d|x|/dx = sign(x), 0 at 0
    loss = -b.adv * ratio + torch.where(selected, penalty, 0.0)
    none = torch.zeros_like(selected)
    return TorchLossOut(loss, none, none, none, selected)


ENTRY = register(
    PolicyLoss(
        name="kl_cov",
        reports=("cov_selected_frac",),
        doc="no PPO clip; the top max(1, int(kl_cov_ratio N)) tokens by covariance get kl_cov_coef * |logp - logp_old| added to their loss",
        source="Cui et al. 2025 (arXiv 2505.22617) Sec. 4.2; verl compute_policy_loss_kl_cov",
        numpy=numpy_form,
        numba=numba_form,
        torch=torch_form,
        params=PARAMS,
        fields=FIELDS,
    )
)
