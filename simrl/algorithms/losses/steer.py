"""steer: vanilla PPO clip with per-token weights from STEER's |Omega|.

Source: Hao et al. 2025 (arXiv 2510.10150), public code `compute_token_weights`. |Omega|
is the public code's form (theory.entropy.steer_omega_code): pi is the current
probability of the sampled token, pi_old the sampling policy's, H_old the sampling
policy's entropy at the token's state, everything detached. It keeps only the sampled
token's own term of the first-order entropy change (theory/NOTES.md).
"""

from __future__ import annotations

import math

import numpy as np

from simrl.algorithms import nb
from simrl.algorithms.losses import ppo_clip as clip
from simrl.algorithms.losses.covariance import detached
from simrl.algorithms.policy_loss import PolicyLoss, register
from simrl.algorithms.tokens import (
    TF_ADV,
    TF_COEF,
    TF_DLOGP,
    TF_ENT_OLD,
    TF_LOGP,
    TF_LOGP_OLD,
    TF_RATIO,
    LossOut,
    TokenBatch,
    TorchLossOut,
)
from simrl.validate import NONNEG, Range, one_of, param, require
from theory.entropy import STEER_PROB_FLOOR, steer_omega_code

STEER_MODES = ("linear", "exp")
#: exp map with derived k: k = -ln(w_min) / max(max |Omega|, STEER_K_FLOOR) (public code)
STEER_K_FLOOR = 0.02

FIELDS = {
    "steer_mode": (
        str,
        param(
            "linear",
            "STEER weight map: 'linear' onto [steer_w_min, steer_w_max] or 'exp'",
            one_of(STEER_MODES),
        ),
    ),
    "steer_w_min": (
        float,
        param(
            0.8,
            "STEER: weight of the largest |Omega| (linear) / lower clamp (exp)",
            Range(0.0, lo_open=True),
        ),
    ),
    "steer_w_max": (
        float,
        param(1.2, "STEER linear map: weight of the smallest |Omega|", Range(0.0, lo_open=True)),
    ),
    "steer_k": (
        float,
        param(
            0.0,
            "STEER exp map: weight exp(-steer_k |Omega|) clamped to [steer_w_min, 1]; 0 = public code's k = -ln(w_min) / max(max |Omega|, 0.02)",
            NONNEG,
        ),
    ),
}
PARAMS = (
    "clip_low",
    "clip_high",
    "dual_clip",
    "steer_w_min",
    "steer_w_max",
    "steer_k",
    "steer_mode",
)
CLIP_LOW, CLIP_HIGH, DUAL_CLIP, W_MIN, W_MAX, K, MODE = 0, 1, 2, 3, 4, 5, 6
MODE_LINEAR = 0  # STEER_MODES.index("linear")


def check(a) -> None:
    require(
        a.steer_w_min <= a.steer_w_max,
        "algo.steer_w_min",
        a.steer_w_min,
        f"must be <= algo.steer_w_max = {a.steer_w_max}",
    )
    require(
        a.steer_mode != "exp" or a.steer_w_min <= 1.0,
        "algo.steer_w_min",
        a.steer_w_min,
        "must be <= 1 with algo.steer_mode = 'exp' (it is the lower clamp of exp(-k |Omega|))",
    )


def steer_omega(b: TokenBatch) -> np.ndarray:
    """STEER's per-token |Omega| (theory.entropy.steer_omega_code, the public-code form)."""
    return steer_omega_code(b.adv, np.exp(b.logp_old), np.exp(b.logp), b.entropy_old)


def steer_weights(omega: np.ndarray, p) -> np.ndarray:
    """|Omega| over the minibatch's tokens -> loss weights (public `compute_token_weights`).

    linear: w_max - (|Omega| - min) (w_max - w_min) / (max - min), so the largest |Omega|
            gets w_min; (w_min + w_max) / 2 everywhere when max = min.
    exp:    exp(-k |Omega|) clamped to [w_min, 1]; k = steer_k, or when steer_k = 0 the
            public code's k = -ln(w_min) / max(max |Omega|, 0.02).
    """
    w_min, w_max = p.steer_w_min, p.steer_w_max
    if p.steer_mode == "linear":
        lo, hi = omega.min(), omega.max()
        if hi <= lo:
            return np.full(omega.shape, 0.5 * (w_min + w_max))
        return np.clip(w_max - (omega - lo) * (w_max - w_min) / (hi - lo), w_min, w_max)
    k = p.steer_k if p.steer_k > 0 else -np.log(w_min) / max(omega.max(), STEER_K_FLOOR)
    return np.clip(np.exp(-k * omega), w_min, 1.0)


def numpy_form(b: TokenBatch, p) -> LossOut:
    out = clip.ppo_clip(np.exp(b.logp - b.logp_old), b.adv, p.clip_low, p.clip_high, p.dual_clip)
    w = steer_weights(steer_omega(b), p)
    return out._replace(loss=w * out.loss, dlogp=w * out.dlogp)


def numba_form(lp, tf, ti, b0, N, flags, first):
    adv, td = tf[TF_ADV, b0 : b0 + N], tf[TF_DLOGP, b0 : b0 + N]
    if first:  # ratio 1: inside every clip band (clip_low, clip_high >= 0, dual_clip > 1)
        for t in range(N):
            td[t] = -adv[t]
    else:
        nb.ppo_clip(
            N, tf[TF_RATIO, b0 : b0 + N], adv, lp[CLIP_LOW], lp[CLIP_HIGH], lp[DUAL_CLIP],
            flags[b0 : b0 + N], td,
        )  # fmt: skip
    # td *= the weights of |Omega| (steer_omega / steer_weights)
    logp, logp_old = tf[TF_LOGP, b0 : b0 + N], tf[TF_LOGP_OLD, b0 : b0 + N]
    ent_old, omega = tf[TF_ENT_OLD, b0 : b0 + N], tf[TF_COEF, b0 : b0 + N]
    lo, hi = math.inf, -math.inf
    for t in range(N):
        pi = min(max(nb.fast_exp(logp[t]), STEER_PROB_FLOOR), 1.0 - STEER_PROB_FLOOR)
        pi_old = min(max(nb.fast_exp(logp_old[t]), STEER_PROB_FLOOR), 1.0)
        o = abs(adv[t] / pi_old * pi * (1.0 - pi) * (math.log(pi) + ent_old[t]))
        omega[t] = o
        lo = min(lo, o)
        hi = max(hi, o)
    w_min, w_max = lp[W_MIN], lp[W_MAX]
    if lp[MODE] == MODE_LINEAR:
        for t in range(N):
            if hi <= lo:
                w = 0.5 * (w_min + w_max)
            else:
                w = min(max(w_max - (omega[t] - lo) * (w_max - w_min) / (hi - lo), w_min), w_max)
            td[t] *= w
    else:
        k = lp[K] if lp[K] > 0 else -math.log(w_min) / max(hi, STEER_K_FLOOR)
        for t in range(N):
            td[t] *= min(max(nb.fast_exp(-k * omega[t]), w_min), 1.0)


def torch_form(b, p) -> TorchLossOut:
    import torch

    out = clip.ppo_clip_torch(
        torch.exp(b.logp - b.logp_old), b.adv, p.clip_low, p.clip_high, p.dual_clip
    )
    omega = steer_omega_code(
        detached(b.adv),
        np.exp(detached(b.logp_old)),
        np.exp(detached(b.logp)),
        detached(b.entropy_old),
    )
    w = torch.as_tensor(steer_weights(omega, p), dtype=out.loss.dtype, device=out.loss.device)
    return out._replace(loss=w * out.loss)


ENTRY = register(
    PolicyLoss(
        name="steer",
        reports=("clip_low_frac", "clip_high_frac", "clip_dual_frac"),
        doc="vanilla PPO clip with per-token weights from STEER's |Omega| (Hao et al. 2025, arXiv 2510.10150)",
        source="Hao et al. 2025 (arXiv 2510.10150) public code compute_token_weights",
        numpy=numpy_form,
        numba=numba_form,
        torch=torch_form,
        params=PARAMS,
        fields=FIELDS,
        check=check,
        encode={"steer_mode": STEER_MODES.index},
        reads_entropy_old=True,
        dual_clip=True,
    )
)
