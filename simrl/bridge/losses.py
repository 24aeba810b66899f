"""Per-token policy losses in torch, under the simulator's registry names and semantics.

The same losses as simrl/losses.py (the numpy specification; sources cited there: PPO
clip with clip-higher and dual clip, pg, Clip-Cov, KL-Cov, STEER), written for autograd:
each maps a `TorchTokens` batch of N tokens, whose `logp` carries gradient, to a
`TorchLossOut` (per-token loss and the masks the metrics count). The derivative of each
loss with respect to logp equals the numpy `LossOut.dlogp` (tests/bridge/test_parity.py).
Token selection (Clip-Cov's random choice, KL-Cov's top-k, STEER's weights) is not
differentiable and is computed by the numpy registry's own helpers on detached values,
so the rule is literally the simulator's. PPO clipping follows verl's
`compute_policy_loss_vanilla` (verl/trainer/ppo/core_algos.py): torch.maximum of the
unclipped and clipped surrogates, then torch.min with -A c where A < 0.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from simrl.losses import covariance_rank, steer_weights, token_covariance
from simrl.registry import Registry
from theory.entropy import steer_omega_code

TORCH_LOSSES = Registry("policy loss (torch)")


class TorchTokens(NamedTuple):
    logp: torch.Tensor  # (N,) log pi(a_t), with gradient
    logp_old: torch.Tensor  # (N,) under the sampling policy
    adv: torch.Tensor  # (N,) sequence advantage broadcast to the token
    entropy_old: torch.Tensor  # (N,) sampling policy's full-vocabulary entropy at the prefix
    keys: np.ndarray | None  # (N,) uniforms for Clip-Cov's random choice


class TorchLossOut(NamedTuple):
    loss: torch.Tensor  # (N,)
    clip_low: torch.Tensor  # (N,) bool
    clip_high: torch.Tensor  # (N,) bool
    clip_dual: torch.Tensor  # (N,) bool
    selected: torch.Tensor  # (N,) bool


def _np(x: torch.Tensor) -> np.ndarray:
    return x.detach().double().cpu().numpy()


def ppo_clip(ratio, adv, clip_low: float, clip_high: float, dual_clip: float) -> TorchLossOut:
    """verl's clipped surrogate: max(-A r, -A clip(r, 1 - clip_low, 1 + clip_high)); for
    A < 0, min of that with -A c (dual clip, c > 1; off when 0)."""
    unclipped = -adv * ratio
    loss = torch.maximum(unclipped, -adv * torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high))
    high = (adv > 0) & (ratio > 1.0 + clip_high)
    low = (adv < 0) & (ratio < 1.0 - clip_low)
    dual = torch.zeros_like(high)
    if dual_clip > 0:
        dual = (adv < 0) & (ratio > dual_clip)
        loss = torch.where(adv < 0, torch.minimum(loss, -adv * dual_clip), loss)
    return TorchLossOut(loss, low, high, dual, torch.zeros_like(high))


@TORCH_LOSSES.register("vanilla", "PPO clip with clip_low/clip_high (clip-higher) and dual_clip")
def vanilla(b: TorchTokens, p) -> TorchLossOut:
    return ppo_clip(torch.exp(b.logp - b.logp_old), b.adv, p.clip_low, p.clip_high, p.dual_clip)


@TORCH_LOSSES.register("pg", "unclipped surrogate -ratio * A")
def pg(b: TorchTokens, p) -> TorchLossOut:
    ratio = torch.exp(b.logp - b.logp_old)
    none = torch.zeros(ratio.shape, dtype=torch.bool, device=ratio.device)
    return TorchLossOut(-b.adv * ratio, none, none, none, none)


@TORCH_LOSSES.register("clip_cov", "PPO clip; Clip-Cov removes the gradient of chosen tokens")
def clip_cov(b: TorchTokens, p) -> TorchLossOut:
    out = ppo_clip(torch.exp(b.logp - b.logp_old), b.adv, p.clip_low, p.clip_high, 0.0)
    cov = token_covariance(_np(b.adv), _np(b.logp))
    clipped = _np(out.clip_low | out.clip_high).astype(bool)
    eligible = ~clipped & (cov > p.clip_cov_lb) & (cov < p.clip_cov_ub)
    n_clip = max(int(p.clip_cov_ratio * cov.size), 1)
    candidates = np.flatnonzero(eligible)
    chosen = candidates[np.argsort(b.keys[candidates], kind="stable")[:n_clip]]
    selected = torch.zeros(cov.shape, dtype=torch.bool, device=b.logp.device)
    selected[torch.as_tensor(chosen, device=b.logp.device)] = True
    return out._replace(loss=torch.where(selected, 0.0, out.loss), selected=selected)


@TORCH_LOSSES.register("kl_cov", "no PPO clip; top-covariance tokens get coef * |logp - logp_old|")
def kl_cov(b: TorchTokens, p) -> TorchLossOut:
    ratio = torch.exp(b.logp - b.logp_old)
    cov = token_covariance(_np(b.adv), _np(b.logp))
    k = max(int(cov.size * p.kl_cov_ratio), 1)
    top = np.argsort(-covariance_rank(cov), kind="stable")[:k]
    selected = torch.zeros(cov.shape, dtype=torch.bool, device=b.logp.device)
    selected[torch.as_tensor(top, device=b.logp.device)] = True
    penalty = p.kl_cov_coef * (b.logp - b.logp_old).abs()  # d|x|/dx = sign(x), 0 at 0
    loss = -b.adv * ratio + torch.where(selected, penalty, 0.0)
    none = torch.zeros_like(selected)
    return TorchLossOut(loss, none, none, none, selected)


@TORCH_LOSSES.register("steer", "vanilla PPO clip with STEER's per-token weights")
def steer(b: TorchTokens, p) -> TorchLossOut:
    out = ppo_clip(torch.exp(b.logp - b.logp_old), b.adv, p.clip_low, p.clip_high, p.dual_clip)
    omega = steer_omega_code(
        _np(b.adv), np.exp(_np(b.logp_old)), np.exp(_np(b.logp)), _np(b.entropy_old)
    )
    w = torch.as_tensor(steer_weights(omega, p), dtype=out.loss.dtype, device=out.loss.device)
    return out._replace(loss=w * out.loss)


# ---- KL to the reference (simrl/kl.py: Schulman 2020's estimators; exact full-vocab KLs) ----


def sampled_kl(kind: str, logp: torch.Tensor, logp_ref: torch.Tensor) -> torch.Tensor:
    """k1 = x, k2 = x^2 / 2, k3 = e^{-x} - 1 + x with x = logp - logp_ref (simrl/kl.py)."""
    x = logp - logp_ref
    if kind == "k1":
        return x
    if kind == "k2":
        return 0.5 * x * x
    if kind == "k3":
        return torch.exp(-x) - 1.0 + x
    raise KeyError(kind)


def exact_kl(kind: str, logp_all: torch.Tensor, logp_ref_all: torch.Tensor) -> torch.Tensor:
    """Full-vocabulary KL at each prefix (..., V) -> (...): reverse KL(pi || ref) or
    forward KL(ref || pi) (simrl/kl.py, theory/NOTES.md "KL gradients")."""
    if kind == "exact_reverse":
        return (logp_all.exp() * (logp_all - logp_ref_all)).sum(-1)
    if kind == "exact_forward":
        return (logp_ref_all.exp() * (logp_ref_all - logp_all)).sum(-1)
    raise KeyError(kind)
