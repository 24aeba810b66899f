"""dppo_tv and dppo_kl: DPPO, the policy gradient with a trust region on the token's
probability instead of its ratio (Binary-TV and Binary-KL).

Source: arXiv 2602.04879 (DPPO); the rules are verl 0.9.1's `compute_policy_loss_dppo_tv`
and `compute_policy_loss_dppo_kl` (verl/trainer/ppo/core_algos.py). Per token, with
p = pi(a), p_old = pi_old(a) and the truncated, detached weight w = sg(min(r, c)):

    loss = -A w log pi * valid,   d loss / d logp = -A w valid.

A token is valid (keeps its gradient) unless the policy has left the trust region in the
direction its advantage pushes it:
- `dppo_tv`: A > 0 needs p - p_old <= clip_high; A <= 0 needs p - p_old >= -clip_low;
- `dppo_kl`: with the binary KL D = p_old log(p_old / p) + (1 - p_old)
  log((1 - p_old + 1e-8) / (1 - p + 1e-8)) (verl's 1e-8 guards kept, so the mask is
  verl's), A > 0 needs D <= clip_high or p <= p_old; A <= 0 needs D <= clip_low or
  p >= p_old.
As in verl, the thresholds are the shared algo.clip_low / algo.clip_high (verl reads
clip_ratio_low / _high for them): a divergence here, not a ratio range. c is
`algo.dppo_ratio_cap`: verl reads `clip_ratio_c` with the fallback 20 (the paper
recommends a large cap, Sec. 5.4); verl's actor config sets clip_ratio_c = 3.0 (its
dual-clip constant), which a verl run with default settings therefore uses.

Flags: an invalid token is clip high if A > 0 and clip low otherwise (verl's
pg_clipfrac counts them all); the dual flag marks valid tokens whose weight was
truncated (r > c; verl's pg_clipfrac_lower). verl clamps log r to [-20, 20] before exp;
the simulator does not (ppo_clip.py).
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms import nb
from simrl.algorithms.policy_loss import PolicyLoss, register
from simrl.algorithms.tokens import (
    TF_ADV,
    TF_DLOGP,
    TF_LOGP,
    TF_LOGP_OLD,
    TF_RATIO,
    LossOut,
    TokenBatch,
    TorchLossOut,
)
from simrl.validate import POS, param

FIELDS = {
    "dppo_ratio_cap": (
        float,
        param(
            20.0,
            "DPPO: cap c of the detached importance weight min(r, c) (verl clip_ratio_c; its code's fallback 20, its actor config's default 3.0)",
            POS,
        ),
    ),
}
PARAMS = ("clip_low", "clip_high", "dppo_ratio_cap")
CLIP_LOW, CLIP_HIGH, CAP = 0, 1, 2
KL_GUARD = 1e-8  # verl's guard in the binary KL's second term


def binary_kl(p_old, p, log_p_old, log_p):
    """p_old log(p_old / p) + (1 - p_old) log((1 - p_old + 1e-8) / (1 - p + 1e-8)), as verl."""
    return p_old * (log_p_old - log_p) + (1.0 - p_old) * np.log(
        (1.0 - p_old + KL_GUARD) / (1.0 - p + KL_GUARD)
    )


def _out(b: TokenBatch, p, up_ok, down_ok) -> LossOut:
    """The loss given which moves stay in the trust region (up for A > 0, down else)."""
    ratio = np.exp(b.logp - b.logp_old)
    w = np.minimum(ratio, p.dppo_ratio_cap)
    pos = b.adv > 0
    valid = np.where(pos, up_ok, down_ok)
    keep = np.where(valid, -b.adv * w, 0.0)
    dual = valid & (ratio > p.dppo_ratio_cap)
    none = np.zeros(ratio.shape, dtype=bool)
    return LossOut(keep * b.logp, keep, ~pos & ~valid, pos & ~valid, dual, none)


def numpy_tv(b: TokenBatch, p) -> LossOut:
    change = np.exp(b.logp) - np.exp(b.logp_old)
    return _out(b, p, change <= p.clip_high, change >= -p.clip_low)


def numpy_kl(b: TokenBatch, p) -> LossOut:
    prob, prob_old = np.exp(b.logp), np.exp(b.logp_old)
    d = binary_kl(prob_old, prob, b.logp_old, b.logp)
    return _out(
        b, p, (d <= p.clip_high) | (prob <= prob_old), (d <= p.clip_low) | (prob >= prob_old)
    )


def numba_tv(lp, tf, ti, b0, N, flags, first):
    nb.dppo(
        N, False, lp[CLIP_LOW], lp[CLIP_HIGH], lp[CAP], tf[TF_ADV, b0 : b0 + N],
        tf[TF_RATIO, b0 : b0 + N], tf[TF_LOGP, b0 : b0 + N], tf[TF_LOGP_OLD, b0 : b0 + N],
        flags[b0 : b0 + N], tf[TF_DLOGP, b0 : b0 + N],
    )  # fmt: skip


def numba_kl(lp, tf, ti, b0, N, flags, first):
    nb.dppo(
        N, True, lp[CLIP_LOW], lp[CLIP_HIGH], lp[CAP], tf[TF_ADV, b0 : b0 + N],
        tf[TF_RATIO, b0 : b0 + N], tf[TF_LOGP, b0 : b0 + N], tf[TF_LOGP_OLD, b0 : b0 + N],
        flags[b0 : b0 + N], tf[TF_DLOGP, b0 : b0 + N],
    )  # fmt: skip


def _torch(b, p, up_ok, down_ok) -> TorchLossOut:
    import torch

    ratio = torch.exp(b.logp - b.logp_old)
    w = torch.clamp(ratio, max=p.dppo_ratio_cap).detach()
    pos = b.adv > 0
    valid = torch.where(pos, up_ok, down_ok).detach()
    loss = -b.adv * w * b.logp * valid.to(b.logp.dtype)
    dual = valid & (ratio > p.dppo_ratio_cap)
    none = torch.zeros_like(valid)
    return TorchLossOut(loss, ~pos & ~valid, pos & ~valid, dual, none)


def torch_tv(b, p) -> TorchLossOut:
    import torch

    change = torch.exp(b.logp) - torch.exp(b.logp_old)
    return _torch(b, p, change <= p.clip_high, change >= -p.clip_low)


def torch_kl(b, p) -> TorchLossOut:
    import torch

    prob, prob_old = torch.exp(b.logp), torch.exp(b.logp_old)
    d = prob_old * (b.logp_old - b.logp) + (1.0 - prob_old) * torch.log(
        (1.0 - prob_old + KL_GUARD) / (1.0 - prob + KL_GUARD)
    )
    return _torch(
        b, p, (d <= p.clip_high) | (prob <= prob_old), (d <= p.clip_low) | (prob >= prob_old)
    )


COMMON = dict(params=PARAMS, exact=True)
ENTRY_TV = register(
    PolicyLoss(
        name="dppo_tv",
        reports=("clip_low_frac", "clip_high_frac", "clip_dual_frac"),
        doc="DPPO Binary-TV (verl): -A sg(min(r, dppo_ratio_cap)) log pi, no gradient where p - p_old left [-clip_low, clip_high] in A's direction",
        source="arXiv 2602.04879 (DPPO); verl 0.9.1 compute_policy_loss_dppo_tv",
        numpy=numpy_tv,
        numba=numba_tv,
        torch=torch_tv,
        fields=FIELDS,
        **COMMON,
    )
)
ENTRY_KL = register(
    PolicyLoss(
        name="dppo_kl",
        reports=("clip_low_frac", "clip_high_frac", "clip_dual_frac"),
        doc="DPPO Binary-KL (verl): -A sg(min(r, dppo_ratio_cap)) log pi, no gradient where the binary KL(p_old, p) exceeds clip_high (A > 0, p up) or clip_low (A <= 0, p down)",
        source="arXiv 2602.04879 (DPPO); verl 0.9.1 compute_policy_loss_dppo_kl",
        numpy=numpy_kl,
        numba=numba_kl,
        torch=torch_kl,
        **COMMON,
    )
)
