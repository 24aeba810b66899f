"""ce_gppo: CE-GPPO, gradient-preserving clipping (Kwai-Klear).

Source: Su et al. 2025, CE-GPPO (arXiv 2509.20712); the authors' public code
`compute_gppo_loss_general_beta` (github.com/Kwai-Klear/CE-GPPO, README "Implementation
of GPPO", a verl policy loss). Neither TRL 1.16.0 nor verl 0.9.1 implements it (checked:
no gppo in their sources), so this follows the public code. PPO's clip, except that a
token outside the band on the side where PPO would zero its gradient keeps a bounded
one, through r / sg(r) (value 1, derivative 1 in log r):

    A < 0, r < 1 - clip_low:   loss = -gppo_beta1 (1 - clip_low) A
    A > 0, r > 1 + clip_high:  loss = -gppo_beta2 (1 + clip_high) A
    otherwise:                 loss = -r A

with d loss / d logp the same constants on the two out-of-band sides and -r A inside;
then the dual clip for A < 0 (min with -c A, c = algo.dual_clip, off at 0; the public
code always applies it, default c = 3), where the loss is flat in r. The clip flags
count the out-of-band tokens (which, unlike PPO's, still move); dual marks the dual
clip. The code's defaults: beta1 = 0.75, beta2 = 1.
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms.policy_loss import PolicyLoss, register
from simrl.algorithms.tokens import TF_ADV, TF_DLOGP, TF_RATIO, LossOut, TokenBatch, TorchLossOut
from simrl.validate import NONNEG, param

FIELDS = {
    "gppo_beta1": (
        float,
        param(0.75, "CE-GPPO: gradient scale of A < 0 tokens below the clip band", NONNEG),
    ),
    "gppo_beta2": (
        float,
        param(1.0, "CE-GPPO: gradient scale of A > 0 tokens above the clip band", NONNEG),
    ),
}
PARAMS = ("clip_low", "clip_high", "dual_clip", "gppo_beta1", "gppo_beta2")
CLIP_LOW, CLIP_HIGH, DUAL_CLIP, BETA1, BETA2 = 0, 1, 2, 3, 4


def numpy_form(b: TokenBatch, p) -> LossOut:
    ratio = np.exp(b.logp - b.logp_old)
    low = (b.adv < 0) & (ratio < 1.0 - p.clip_low)
    high = (b.adv > 0) & (ratio > 1.0 + p.clip_high)
    scale = np.where(
        low,
        p.gppo_beta1 * (1.0 - p.clip_low),
        np.where(high, p.gppo_beta2 * (1.0 + p.clip_high), ratio),
    )
    loss = dlogp = -scale * b.adv
    dual = np.zeros_like(low)
    if p.dual_clip > 0:
        dual = (b.adv < 0) & (loss > -b.adv * p.dual_clip)
        loss = np.where(dual, -b.adv * p.dual_clip, loss)
        dlogp = np.where(dual, 0.0, dlogp)
    return LossOut(loss, dlogp, low, high, dual, np.zeros_like(low))


def numba_form(lp, tf, ti, b0, N, flags, first):
    lo, hi, c = 1.0 - lp[CLIP_LOW], 1.0 + lp[CLIP_HIGH], lp[DUAL_CLIP]
    below, above = lp[BETA1] * lo, lp[BETA2] * hi
    for t in range(b0, b0 + N):
        r, A = tf[TF_RATIO, t], tf[TF_ADV, t]
        low = (A < 0) & (r < lo)
        high = (A > 0) & (r > hi)
        g = -A * (below if low else (above if high else r))
        dual = (c > 0) & (A < 0) & (g > -A * c)
        flags[t, 0] = low
        flags[t, 1] = high
        flags[t, 2] = dual
        tf[TF_DLOGP, t] = 0.0 if dual else g


def torch_form(b, p) -> TorchLossOut:
    import torch

    ratio = torch.exp(b.logp - b.logp_old)
    low = (b.adv < 0) & (ratio < 1.0 - p.clip_low)
    high = (b.adv > 0) & (ratio > 1.0 + p.clip_high)
    grad_only = ratio / ratio.detach()  # value 1, d / d logp = 1
    scale = torch.where(
        low,
        p.gppo_beta1 * (1.0 - p.clip_low) * grad_only,
        torch.where(high, p.gppo_beta2 * (1.0 + p.clip_high) * grad_only, ratio),
    )
    loss = -scale * b.adv
    dual = torch.zeros_like(low)
    if p.dual_clip > 0:
        dual = (b.adv < 0) & (loss.detach() > -b.adv * p.dual_clip)
        loss = torch.where(dual, -b.adv * p.dual_clip, loss)
    return TorchLossOut(loss, low, high, dual, torch.zeros_like(low))


ENTRY = register(
    PolicyLoss(
        name="ce_gppo",
        reports=("clip_low_frac", "clip_high_frac", "clip_dual_frac"),
        doc="CE-GPPO: PPO clip whose out-of-band tokens keep gradient -beta1 (1 - clip_low) A "
        "(A < 0) or -beta2 (1 + clip_high) A (A > 0), then the dual clip",
        source="CE-GPPO (arXiv 2509.20712); Kwai-Klear/CE-GPPO compute_gppo_loss_general_beta",
        numpy=numpy_form,
        numba=numba_form,
        torch=torch_form,
        params=PARAMS,
        fields=FIELDS,
        dual_clip=True,
        exact=True,
    )
)
