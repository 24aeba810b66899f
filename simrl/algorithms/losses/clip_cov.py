"""clip_cov: PPO clip, then Clip-Cov removes the gradient of a few high-covariance tokens.

Source: Cui et al. 2025 (arXiv 2505.22617) Sec. 4.2; verl `compute_policy_loss_clip_cov`
(verl/trainer/ppo/core_algos.py): max(1, int(clip_cov_ratio N)) tokens are chosen
uniformly at random among the unclipped tokens whose covariance (A - mean A)(logp - mean
logp) lies in (clip_cov_lb, clip_cov_ub), and their gradient is removed. With few tokens
per minibatch that is usually exactly one token: faithful to verl, not a simplification.
No dual clip (verl passes none).
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms import nb
from simrl.algorithms.losses import ppo_clip as clip
from simrl.algorithms.losses.covariance import detached, token_covariance
from simrl.algorithms.policy_loss import PolicyLoss, register
from simrl.algorithms.tokens import (
    TF_ADV,
    TF_COEF,
    TF_DLOGP,
    TF_KEYS,
    TF_LOGP,
    TF_RATIO,
    LossOut,
    TokenBatch,
    TorchLossOut,
)
from simrl.validate import Range, param, require

FIELDS = {
    "clip_cov_ratio": (
        float,
        param(
            2e-4,
            "Clip-Cov: fraction of tokens whose gradient is removed (verl default 2e-4)",
            Range(0.0, 1.0, lo_open=True),
        ),
    ),
    "clip_cov_lb": (
        float,
        param(1.0, "Clip-Cov: lower covariance bound of eligible tokens (verl default 1)", Range()),
    ),
    "clip_cov_ub": (
        float,
        param(5.0, "Clip-Cov: upper covariance bound of eligible tokens (verl default 5)", Range()),
    ),
}
PARAMS = ("clip_low", "clip_high", "clip_cov_ratio", "clip_cov_lb", "clip_cov_ub")
CLIP_LOW, CLIP_HIGH, RATIO, LB, UB = 0, 1, 2, 3, 4


def check(a) -> None:
    require(
        a.clip_cov_lb < a.clip_cov_ub,
        "algo.clip_cov_lb",
        a.clip_cov_lb,
        f"must be < algo.clip_cov_ub = {a.clip_cov_ub}",
    )


def chosen_tokens(cov, clipped, keys, p) -> np.ndarray:
    """Indices of the tokens Clip-Cov removes: the first n_clip eligible ones by key."""
    eligible = ~clipped & (cov > p.clip_cov_lb) & (cov < p.clip_cov_ub)
    n_clip = max(int(p.clip_cov_ratio * cov.size), 1)
    candidates = np.flatnonzero(eligible)
    return candidates[np.argsort(keys[candidates], kind="stable")[:n_clip]]


def numpy_form(b: TokenBatch, p) -> LossOut:
    out = clip.ppo_clip(np.exp(b.logp - b.logp_old), b.adv, p.clip_low, p.clip_high, 0.0)
    cov = token_covariance(b.adv, b.logp)
    selected = np.zeros(b.logp.shape, dtype=bool)
    selected[chosen_tokens(cov, out.clip_low | out.clip_high, b.keys, p)] = True
    return out._replace(
        loss=np.where(selected, 0.0, out.loss),
        dlogp=np.where(selected, 0.0, out.dlogp),
        selected=selected,
    )


def numba_form(lp, tf, ti, b0, N, flags, first):
    adv, logp = tf[TF_ADV, b0 : b0 + N], tf[TF_LOGP, b0 : b0 + N]
    ratio, td = tf[TF_RATIO, b0 : b0 + N], tf[TF_DLOGP, b0 : b0 + N]
    cov, keys, fl = tf[TF_COEF, b0 : b0 + N], tf[TF_KEYS, b0 : b0 + N], flags[b0 : b0 + N]
    nb.token_covariance(N, adv, logp, cov)
    nb.ppo_clip(N, ratio, adv, lp[CLIP_LOW], lp[CLIP_HIGH], 0.0, fl, td)
    n_clip = max(int(lp[RATIO] * N), 1)
    order = np.argsort(keys, kind="mergesort")
    chosen = 0
    for i in range(N):
        if chosen >= n_clip:
            break
        t = order[i]
        if fl[t, 0] == 0 and fl[t, 1] == 0 and cov[t] > lp[LB] and cov[t] < lp[UB]:
            fl[t, 3] = 1
            td[t] = 0.0
            chosen += 1


def torch_form(b, p) -> TorchLossOut:
    import torch

    out = clip.ppo_clip_torch(torch.exp(b.logp - b.logp_old), b.adv, p.clip_low, p.clip_high, 0.0)
    cov = token_covariance(detached(b.adv), detached(b.logp))
    clipped = detached(out.clip_low | out.clip_high).astype(bool)
    selected = torch.zeros(cov.shape, dtype=torch.bool, device=b.logp.device)
    selected[torch.as_tensor(chosen_tokens(cov, clipped, b.keys, p), device=b.logp.device)] = True
    return out._replace(loss=torch.where(selected, 0.0, out.loss), selected=selected)


ENTRY = register(
    PolicyLoss(
        name="clip_cov",
        reports=("clip_low_frac", "clip_high_frac", "cov_selected_frac"),
        doc="PPO clip, then the gradient of max(1, int(clip_cov_ratio N)) tokens chosen uniformly at random among unclipped tokens with covariance in (clip_cov_lb, clip_cov_ub) is removed",
        source="Cui et al. 2025 (arXiv 2505.22617) Sec. 4.2; verl compute_policy_loss_clip_cov",
        numpy=numpy_form,
        numba=numba_form,
        torch=torch_form,
        params=PARAMS,
        fields=FIELDS,
        check=check,
        uses_keys=True,
    )
)
