"""opsm: TRL's PPO clip with its off-policy sequence mask (OPSM).

Source: DeepSeek-V3.2 (arXiv 2512.02556) Eq. 9; TRL 1.16.0 `GRPOTrainer.get_off_policy_mask`
and `_compute_loss` (trl/trainer/grpo_trainer.py), enabled by
`GRPOConfig.off_policy_mask_threshold` (here `algo.opsm_threshold`). A response is
dropped (its tokens' losses multiplied by 0) when its advantage is negative and the mean
over its tokens of log(pi_old / pi) (the current pi, detached) exceeds the threshold:
keep = (A >= 0) | (mean_t (logp_old_t - logp_t) <= delta). The mask is detached, so a
dropped token has zero gradient. Without vLLM, TRL's sampling log-probs are the old
ones, as here. (TRL also replaces a NaN per-token log-ratio by 0 before the mean, for
tokens vLLM could not score; the simulator has none.)

The per-token rule is TRL's for loss types grpo, bnpo, dr_grpo and dapo: the PPO clip
-min(r A, clip(r, 1 - clip_low, 1 + clip_high) A), i.e. vanilla without the dual clip
(TRL has none; its `delta` two-sided clip is not in the simulator). The mask is also an
option of the other TRL losses here (luspo, vespo), as in TRL where it multiplies any
loss type's per-token loss. At `opsm_threshold = 0` (off, TRL's None) this loss is
vanilla. The dropped tokens carry the `selected` flag (so `cov_selected_frac` is the
share OPSM dropped); the clip flags count as in TRL, mask or not.
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms import nb
from simrl.algorithms.losses import ppo_clip as clip
from simrl.algorithms.losses.response import response_log_ratio, response_log_ratio_torch
from simrl.algorithms.policy_loss import PolicyLoss, register
from simrl.algorithms.tokens import (
    TF_ADV,
    TF_COEF,
    TF_DLOGP,
    TF_LOGP,
    TF_LOGP_OLD,
    TF_RATIO,
    TI_SEQ,
    LossOut,
    TokenBatch,
    TorchLossOut,
)
from simrl.validate import NONNEG, param

FIELDS = {
    "opsm_threshold": (
        float,
        param(
            0.0,
            "off-policy sequence mask (TRL off_policy_mask_threshold, DeepSeek-V3.2 delta): drop "
            "responses with A < 0 whose mean log(pi_old / pi) exceeds it; 0 = off (opsm, luspo, vespo)",
            NONNEG,
        ),
    ),
}
PARAMS = ("clip_low", "clip_high", "opsm_threshold")
CLIP_LOW, CLIP_HIGH, THRESHOLD = 0, 1, 2


def drop(b, threshold: float):
    """The tokens OPSM drops (numpy or torch): A < 0 and the response's mean
    log(pi_old / pi) > threshold; none when threshold is 0."""
    if isinstance(b.logp, np.ndarray):
        if threshold <= 0:
            return np.zeros(b.logp.shape, dtype=bool)
        kl = response_log_ratio(b.logp_old, b.logp, b.seq, mean=True)
    else:
        import torch

        if threshold <= 0:
            return torch.zeros(b.logp.shape, dtype=torch.bool, device=b.logp.device)
        kl = response_log_ratio_torch(b.logp_old, b.logp.detach(), b.seq, mean=True)
    return (b.adv < 0) & (kl > threshold)


def masked(out: LossOut, b: TokenBatch, threshold: float) -> LossOut:
    """out with OPSM's dropped tokens zeroed and flagged selected."""
    dropped = drop(b, threshold)
    if not dropped.any():
        return out
    keep = ~dropped
    return out._replace(loss=out.loss * keep, dlogp=out.dlogp * keep, selected=dropped)


def masked_torch(out: TorchLossOut, b, threshold: float) -> TorchLossOut:
    dropped = drop(b, threshold)
    return out._replace(loss=out.loss * ~dropped, selected=dropped)


def numpy_form(b: TokenBatch, p) -> LossOut:
    out = clip.ppo_clip(np.exp(b.logp - b.logp_old), b.adv, p.clip_low, p.clip_high, 0.0)
    return masked(out, b, p.opsm_threshold)


def numba_form(lp, tf, ti, b0, N, flags, first):
    adv, td = tf[TF_ADV, b0 : b0 + N], tf[TF_DLOGP, b0 : b0 + N]
    nb.ppo_clip(
        N, tf[TF_RATIO, b0 : b0 + N], adv, lp[CLIP_LOW], lp[CLIP_HIGH], 0.0, flags[b0 : b0 + N], td
    )
    nb.off_policy_mask(
        N, lp[THRESHOLD], adv, tf[TF_LOGP, b0 : b0 + N], tf[TF_LOGP_OLD, b0 : b0 + N],
        ti[TI_SEQ, b0 : b0 + N], tf[TF_COEF, b0 : b0 + N], flags[b0 : b0 + N], td,
    )  # fmt: skip


def torch_form(b, p) -> TorchLossOut:
    import torch

    ratio = torch.exp(b.logp - b.logp_old)
    out = clip.ppo_clip_torch(ratio, b.adv, p.clip_low, p.clip_high, 0.0)
    return masked_torch(out, b, p.opsm_threshold)


ENTRY = register(
    PolicyLoss(
        name="opsm",
        reports=("clip_low_frac", "clip_high_frac", "cov_selected_frac"),
        doc="TRL's PPO clip (loss types grpo/bnpo/dr_grpo/dapo) with its off-policy sequence mask "
        "(algo.opsm_threshold; vanilla without dual clip at 0)",
        source="DeepSeek-V3.2 (arXiv 2512.02556) Eq. 9; TRL 1.16.0 GRPOTrainer.get_off_policy_mask, _compute_loss",
        numpy=numpy_form,
        numba=numba_form,
        torch=torch_form,
        params=PARAMS,
        fields=FIELDS,
        sequence_level=True,
    )
)
