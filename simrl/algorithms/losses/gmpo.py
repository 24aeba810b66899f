"""gmpo: GMPO, Geometric-Mean Policy Optimization (verl's `geo_mean` loss).

Source: Zhao et al. 2025, Geometric-Mean Policy Optimization (arXiv 2507.20673);
the rule is verl 0.9.1's `compute_policy_loss_geo_mean` (verl/trainer/ppo/core_algos.py),
registered there as "geo_mean". Per token, the log ratio x = log r is clipped in log
space on the side that bounds the objective, sign(A) min(sign(A) x, sign(A) clip(x,
-clip_low, clip_high)): for A > 0, x capped at clip_high; for A < 0, floored at
-clip_low (GMPO's range is (e^-clip_low, e^clip_high): its paper uses 0.4 for both).
Per response i, the geometric-mean ratio R_i = exp(mean_t x_t) and the response's loss
is -A_i R_i (A_i the response's advantage, the same on every token here).

As tokens: every token of response i carries the loss -A_i R_i (so a per-response mean
of them is the response's loss) and d loss / d logp_t = -A_i R_i dx_t/dlogp_t, i.e.
-A_i R_i where x_t is unclipped and 0 where its clip binds; with the per-response token
mean the gradient is exactly that of (1/B) sum_i -A_i R_i (the torch form is
-A sg(R) (1 + x_t - sg(x_t))).

Aggregation: verl's geo_mean ignores `loss_agg_mode`: its loss is the plain mean over
responses of -A_i R_i, which is algo.agg = "seq-mean-token-mean" here (every mean mode
coincides on the bandit). Under another mode the responses are weighted as that mode
weights their tokens (token-mean: by length), which is not verl's GMPO: set
`algo.agg = "seq-mean-token-mean"` to match it. verl divides the sums by
|y_i| + 1e-8 (its guard for an empty response); here by |y_i| (responses are never
empty), a relative difference of 1e-8 / |y_i| (tests/parity/test_verl.py feeds the
guard in to compare to 1e-10). The clip flags mark the tokens whose clip binds: high
for A > 0 and x > clip_high, low for A < 0 and x < -clip_low (verl's clip-fraction
metrics count every x outside the range). No exact mode, no dual clip.
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms import nb
from simrl.algorithms.losses.response import response_mean, response_mean_torch
from simrl.algorithms.policy_loss import PolicyLoss, register
from simrl.algorithms.tokens import (
    TF_ADV,
    TF_COEF,
    TF_DLOGP,
    TF_LOGP,
    TF_LOGP_OLD,
    TI_LEN,
    TI_SEQ,
    LossOut,
    TokenBatch,
    TorchLossOut,
)

PARAMS = ("clip_low", "clip_high")
CLIP_LOW, CLIP_HIGH = 0, 1


def clipped_log_ratio(x: np.ndarray, adv: np.ndarray, clip_low: float, clip_high: float):
    """(x clipped on A's side, clip low binds, clip high binds); x = 0 where A = 0 (verl's
    sign(A) factor)."""
    high = (adv > 0) & (x > clip_high)
    low = (adv < 0) & (x < -clip_low)
    kept = np.where(high, clip_high, np.where(low, -clip_low, x))
    return np.where(adv == 0, 0.0, kept), low, high


def numpy_form(b: TokenBatch, p) -> LossOut:
    x, low, high = clipped_log_ratio(b.logp - b.logp_old, b.adv, p.clip_low, p.clip_high)
    R = np.exp(response_mean(x, b.seq, b.length))  # (N,) the token's response's R_i
    none = np.zeros(x.shape, dtype=bool)
    dlogp = np.where(low | high, 0.0, -b.adv * R)
    return LossOut(-b.adv * R, dlogp, low, high, none, none)


def numba_form(lp, tf, ti, b0, N, flags, first):
    adv, logp, logp_old = tf[TF_ADV, b0 : b0 + N], tf[TF_LOGP, b0 : b0 + N], tf[TF_LOGP_OLD, b0 : b0 + N]  # fmt: skip
    x, td = tf[TF_COEF, b0 : b0 + N], tf[TF_DLOGP, b0 : b0 + N]  # x: scratch, then log R_i
    lo, hi = -lp[CLIP_LOW], lp[CLIP_HIGH]
    for t in range(N):
        d, A = logp[t] - logp_old[t], adv[t]
        high = (A > 0) & (d > hi)
        low = (A < 0) & (d < lo)
        flags[b0 + t, 0] = low
        flags[b0 + t, 1] = high
        x[t] = 0.0 if A == 0 else (hi if high else (lo if low else d))
    nb.response_mean(N, x, ti[TI_SEQ, b0 : b0 + N], ti[TI_LEN, b0 : b0 + N], x)
    for t in range(N):
        clipped = flags[b0 + t, 0] | flags[b0 + t, 1]
        td[t] = 0.0 if clipped else -adv[t] * nb.fast_exp(x[t])


def torch_form(b, p) -> TorchLossOut:
    import torch

    d = b.logp - b.logp_old
    sign = torch.sign(b.adv)
    clamped = torch.clamp(d, -p.clip_low, p.clip_high)
    x = sign * torch.minimum(sign * d, sign * clamped)  # verl's rule, gradient included
    R = torch.exp(response_mean_torch(x.detach(), b.seq, b.length))
    loss = -b.adv * R * (1.0 + x - x.detach())  # value -A R_i; d/dlogp_t = -A R_i dx_t
    high = (b.adv > 0) & (d > p.clip_high)
    low = (b.adv < 0) & (d < -p.clip_low)
    none = torch.zeros_like(high)
    return TorchLossOut(loss, low, high, none, none)


ENTRY = register(
    PolicyLoss(
        name="gmpo",
        reports=("clip_low_frac", "clip_high_frac"),
        doc="GMPO (verl geo_mean): -A exp(mean_t clipped log r) per response, log r clipped to [-clip_low, clip_high] on A's side (paper: 0.4, 0.4); verl's aggregation is algo.agg = 'seq-mean-token-mean'",
        source="Zhao et al. 2025 (arXiv 2507.20673); verl 0.9.1 compute_policy_loss_geo_mean ('geo_mean')",
        numpy=numpy_form,
        numba=numba_form,
        torch=torch_form,
        params=PARAMS,
        sequence_level=True,
    )
)
