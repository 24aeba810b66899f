"""luspo: Length-Unbiased Sequence Policy Optimization, TRL's rule.

Source: LUSPO (arXiv 2602.05261); TRL 1.16.0 `GRPOTrainer._compute_loss` with
`loss_type="luspo"` and `importance_sampling_level="sequence"` (trl/trainer/grpo_trainer.py;
TRL warns when the level is not "sequence", the paper's setup). The per-response ratio is
GSPO's, s_i = exp(mean_t (logp_t - logp_old_t)) over response i's tokens, clipped as PPO:
ell_i = -min(s_i A_i, clip(s_i, 1 - clip_low, 1 + clip_high) A_i), and TRL's luspo
aggregation multiplies each response's loss by its length: loss = mean_i |y_i| ell_i, i.e.
the per-token loss ell_i summed over the response's tokens and averaged over responses,
simrl's `algo.agg = "seq-mean-token-sum"`. Set that mode for LUSPO: with another mode
this is TRL's sequence-level clip under that mode (seq-mean-token-mean is TRL's
loss_type="grpo" with importance_sampling_level="sequence", its GSPO; token-mean its dapo).

Every token of response i carries ell_i; its gradient is taken in GSPO's token form
(response.py): d ell / d logp_t = -A_i s_i inside the band, 0 where the clip binds (A > 0
and s_i > 1 + clip_high, or A < 0 and s_i < 1 - clip_low), which summed over the response
and averaged is the derivative of TRL's mean_i |y_i| ell_i through the mean log-ratio.
TRL has no dual clip and neither does this loss. The clip flags are set on every token
of a clipped response (TRL's `clip_ratio` metrics count them so). The off-policy
sequence mask (opsm.py, `algo.opsm_threshold`) applies as in TRL.
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms import nb
from simrl.algorithms.losses import opsm
from simrl.algorithms.losses import ppo_clip as clip
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

PARAMS = ("clip_low", "clip_high", "opsm_threshold")
CLIP_LOW, CLIP_HIGH, THRESHOLD = 0, 1, 2


def numpy_form(b: TokenBatch, p) -> LossOut:
    s = np.exp(response_log_ratio(b.logp, b.logp_old, b.seq, mean=True))  # (N,) s_i per token
    out = clip.ppo_clip(s, b.adv, p.clip_low, p.clip_high, 0.0)
    return opsm.masked(out, b, p.opsm_threshold)


def numba_form(lp, tf, ti, b0, N, flags, first):
    adv, td, s = tf[TF_ADV, b0 : b0 + N], tf[TF_DLOGP, b0 : b0 + N], tf[TF_COEF, b0 : b0 + N]
    logp, logp_old, seq = (
        tf[TF_LOGP, b0 : b0 + N],
        tf[TF_LOGP_OLD, b0 : b0 + N],
        ti[TI_SEQ, b0 : b0 + N],
    )
    nb.response_log_ratio(N, logp, logp_old, seq, True, np.inf, s)
    for t in range(N):
        s[t] = nb.fast_exp(s[t])
    nb.ppo_clip(N, s, adv, lp[CLIP_LOW], lp[CLIP_HIGH], 0.0, flags[b0 : b0 + N], td)
    nb.off_policy_mask(N, lp[THRESHOLD], adv, logp, logp_old, seq, s, flags[b0 : b0 + N], td)


def torch_form(b, p) -> TorchLossOut:
    import torch

    log_s = response_log_ratio_torch(b.logp, b.logp_old, b.seq, mean=True).detach()
    own = b.logp - b.logp.detach()  # 0, with d own / d logp_t = 1 (GSPO's token form)
    s = torch.exp(log_s) * torch.exp(own)
    out = clip.ppo_clip_torch(s, b.adv, p.clip_low, p.clip_high, 0.0)
    return opsm.masked_torch(out, b, p.opsm_threshold)


ENTRY = register(
    PolicyLoss(
        name="luspo",
        reports=("clip_low_frac", "clip_high_frac", "cov_selected_frac"),
        doc="LUSPO, TRL's rule: the PPO clip of the response ratio exp(mean log r), each response's "
        "loss times its length (with algo.agg = 'seq-mean-token-sum')",
        source="LUSPO (arXiv 2602.05261); TRL 1.16.0 GRPOTrainer._compute_loss, loss_type='luspo', "
        "importance_sampling_level='sequence'",
        numpy=numpy_form,
        numba=numba_form,
        torch=torch_form,
        params=PARAMS,
        sequence_level=True,
    )
)
