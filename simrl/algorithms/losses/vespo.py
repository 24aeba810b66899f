"""vespo: Variational Sequence-Level Soft Policy Optimization, TRL's rule.

Source: VESPO (arXiv 2602.10693); TRL 1.16.0 `GRPOTrainer.get_gamma_weights` and
`_compute_loss` with `loss_type="vespo"` (trl/trainer/grpo_trainer.py; TRL aggregates
vespo as dapo: simrl's `algo.agg = "token-mean"`). Instead of a clip, every token of
response i is weighted by the Gamma-shaped phi(w_i) = exp(lambda + k log w_i - lambda w_i)
(phi(1) = 1) of the response's importance weight w_i, detached:

    loss_t = -phi(w_i) A_i logp_t,    d loss_t / d logp_t = -phi(w_i) A_i.

TRL's code, followed here: log w_i = clip(sum_t clip(logp_t - logp_old_t, -20, 20),
log 1e-8, 20), a sum over the response's tokens (not GSPO's mean); (k, lambda) =
(vespo_k_pos, vespo_lambda_pos) where A_i >= 0, else (vespo_k_neg, vespo_lambda_neg);
lambda is floored at 1e-4; a non-finite phi becomes 0. (TRL also folds vLLM's per-token
importance ratios into w_i; the simulator samples from pi_old itself, so has none.)
No token is clipped (the flags stay 0); the off-policy sequence mask (opsm.py) applies as
in TRL.
"""

from __future__ import annotations

import math

import numpy as np

from simrl.algorithms import nb
from simrl.algorithms.losses import opsm
from simrl.algorithms.losses.response import response_log_ratio, response_log_ratio_torch
from simrl.algorithms.policy_loss import PolicyLoss, register
from simrl.algorithms.tokens import (
    TF_ADV,
    TF_COEF,
    TF_DLOGP,
    TF_LOGP,
    TF_LOGP_OLD,
    TI_SEQ,
    LossOut,
    TokenBatch,
    TorchLossOut,
)
from simrl.validate import NONNEG, param

#: TRL's clamps: per-token log-ratio to [-20, 20], the response's log w to [log 1e-8, 20]
TOKEN_CLAMP = 20.0
LOG_W_MIN, LOG_W_MAX = math.log(1e-8), 20.0
LAMBDA_FLOOR = 1e-4

FIELDS = {
    "vespo_k_pos": (
        float,
        param(2.0, "VESPO: power k of phi(w) for A >= 0 (down-weights w < 1)", NONNEG),
    ),
    "vespo_lambda_pos": (
        float,
        param(3.0, "VESPO: decay lambda of phi(w) for A >= 0 (down-weights w > 1)", NONNEG),
    ),
    "vespo_k_neg": (float, param(3.0, "VESPO: power k of phi(w) for A < 0", NONNEG)),
    "vespo_lambda_neg": (float, param(2.0, "VESPO: decay lambda of phi(w) for A < 0", NONNEG)),
}
PARAMS = ("vespo_k_pos", "vespo_lambda_pos", "vespo_k_neg", "vespo_lambda_neg", "opsm_threshold")
K_POS, LAMBDA_POS, K_NEG, LAMBDA_NEG, THRESHOLD = 0, 1, 2, 3, 4


def gamma_weight(log_w_sum, adv, p):
    """phi(w) per token (numpy), from the response's summed clamped log-ratio."""
    log_w = np.clip(log_w_sum, LOG_W_MIN, LOG_W_MAX)
    nonneg = adv >= 0
    k = np.where(nonneg, p.vespo_k_pos, p.vespo_k_neg)
    lam = np.maximum(np.where(nonneg, p.vespo_lambda_pos, p.vespo_lambda_neg), LAMBDA_FLOOR)
    with np.errstate(over="ignore", invalid="ignore"):
        phi = np.exp(lam + k * log_w - lam * np.exp(log_w))
    return np.where(np.isfinite(phi), phi, 0.0)


def numpy_form(b: TokenBatch, p) -> LossOut:
    log_w = response_log_ratio(b.logp, b.logp_old, b.seq, mean=False, clamp=TOKEN_CLAMP)
    phi = gamma_weight(log_w, b.adv, p)
    none = np.zeros(b.logp.shape, dtype=bool)
    out = LossOut(-phi * b.adv * b.logp, -phi * b.adv, none, none, none, none)
    return opsm.masked(out, b, p.opsm_threshold)


def numba_form(lp, tf, ti, b0, N, flags, first):
    adv, td, work = tf[TF_ADV, b0 : b0 + N], tf[TF_DLOGP, b0 : b0 + N], tf[TF_COEF, b0 : b0 + N]
    logp, logp_old, seq = (
        tf[TF_LOGP, b0 : b0 + N],
        tf[TF_LOGP_OLD, b0 : b0 + N],
        ti[TI_SEQ, b0 : b0 + N],
    )
    nb.response_log_ratio(N, logp, logp_old, seq, False, TOKEN_CLAMP, work)
    for t in range(N):
        log_w = min(max(work[t], LOG_W_MIN), LOG_W_MAX)
        A = adv[t]
        k = lp[K_POS] if A >= 0 else lp[K_NEG]
        lam = max(lp[LAMBDA_POS] if A >= 0 else lp[LAMBDA_NEG], LAMBDA_FLOOR)
        phi = nb.fast_exp(lam + k * log_w - lam * nb.fast_exp(log_w))
        td[t] = -phi * A if math.isfinite(phi) else 0.0
    nb.off_policy_mask(N, lp[THRESHOLD], adv, logp, logp_old, seq, work, flags[b0 : b0 + N], td)


def torch_form(b, p) -> TorchLossOut:
    import torch

    with torch.no_grad():
        log_w = response_log_ratio_torch(b.logp, b.logp_old, b.seq, mean=False, clamp=TOKEN_CLAMP)
        log_w = torch.clamp(log_w, LOG_W_MIN, LOG_W_MAX)
        nonneg = b.adv >= 0
        full = torch.full_like
        k = torch.where(nonneg, full(log_w, p.vespo_k_pos), full(log_w, p.vespo_k_neg))
        lam = torch.where(nonneg, full(log_w, p.vespo_lambda_pos), full(log_w, p.vespo_lambda_neg))
        lam = lam.clamp(min=LAMBDA_FLOOR)
        phi = torch.exp(lam + k * log_w - lam * torch.exp(log_w))
        phi = torch.where(torch.isfinite(phi), phi, torch.zeros_like(phi))
    none = torch.zeros(b.logp.shape, dtype=torch.bool, device=b.logp.device)
    out = TorchLossOut(-phi * b.adv * b.logp, none, none, none, none)
    return opsm.masked_torch(out, b, p.opsm_threshold)


ENTRY = register(
    PolicyLoss(
        name="vespo",
        reports=("cov_selected_frac",),
        doc="VESPO, TRL's rule: -sg(phi(w)) A log pi with phi(w) = exp(lambda + k log w - lambda w) "
        "of the response's weight w = exp(sum log r), (k, lambda) by the sign of A",
        source="VESPO (arXiv 2602.10693); TRL 1.16.0 GRPOTrainer.get_gamma_weights, _compute_loss, loss_type='vespo'",
        numpy=numpy_form,
        numba=numba_form,
        torch=torch_form,
        params=PARAMS,
        fields=FIELDS,
        sequence_level=True,
    )
)
