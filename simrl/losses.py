"""Per-token policy losses: the registry of verl's `@register_policy_loss` names.

Every loss maps a minibatch of N tokens (`TokenBatch`) to a `LossOut`: the per-token loss,
its derivative with respect to the token's current log-probability (`dlogp`, what the
engine chains through d logp / d logits = e_a - pi), and the token masks the metrics
count (PPO clipping by side, tokens selected by a covariance rule). Aggregation over
tokens is separate (simrl/aggregation.py), as in verl.

Sources (equation numbers in the cited papers; code in volcengine/verl,
verl/trainer/ppo/core_algos.py):
  vanilla   PPO clipped surrogate, Schulman et al. 2017 (arXiv 1707.06347) Eq. 7, with
            decoupled clip_low / clip_high (DAPO clip-higher, Yu et al. 2025, arXiv
            2503.14476, Eq. 10) and dual clip (Ye et al. 2020, arXiv 1912.09729, Eq. 5;
            verl `clip_ratio_c`).
  pg        the unclipped importance-weighted surrogate ratio * A.
  clip_cov  Cui et al. 2025 (arXiv 2505.22617) Sec. 4.2 / verl `compute_policy_loss_clip_cov`.
  kl_cov    Cui et al. 2025 Sec. 4.2 / verl `compute_policy_loss_kl_cov`.
  steer     Hao et al. 2025 (arXiv 2510.10150), public code `compute_token_weights`.
With few tokens per minibatch, Clip-Cov and KL-Cov select max(1, int(ratio * N)) tokens,
i.e. usually exactly one: that is faithful to verl, not a simplification. verl's vanilla
loss clamps logp - logp_old to [-20, 20] before exp; the simulator does not (a ratio
beyond e^20 does not arise at sane step sizes, and the clamp would only hide it).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from simrl.registry import Registry
from theory.entropy import steer_omega_code

POLICY_LOSSES = Registry("policy loss")


class TokenBatch(NamedTuple):
    logp: np.ndarray  # (N,) log pi(a_t) under the current policy
    logp_old: np.ndarray  # (N,) log pi_old(a_t) under the policy that sampled the batch
    adv: np.ndarray  # (N,) advantage broadcast to the token
    entropy_old: np.ndarray  # (N,) full entropy of the sampling policy at the token's state
    keys: np.ndarray  # (N,) uniforms for random token selection (Clip-Cov)


class LossOut(NamedTuple):
    loss: np.ndarray  # (N,)
    dlogp: np.ndarray  # (N,) d loss / d logp
    clip_low: np.ndarray  # (N,) bool: A < 0 and ratio < 1 - clip_low
    clip_high: np.ndarray  # (N,) bool: A > 0 and ratio > 1 + clip_high
    clip_dual: np.ndarray  # (N,) bool: A < 0 and ratio > dual_clip
    selected: np.ndarray  # (N,) bool: chosen by Clip-Cov / KL-Cov


def ppo_clip(ratio, adv, clip_low: float, clip_high: float, dual_clip: float) -> LossOut:
    """max(-A r, -A clip(r, 1 - clip_low, 1 + clip_high)), then min with -A c where A < 0.

    The clipped branch is flat in r, so its tokens get zero gradient; inside the band both
    branches agree and the gradient is -A r (torch splits a tie's gradient, summing to it).
    """
    unclipped = -adv * ratio
    loss = np.maximum(unclipped, -adv * np.clip(ratio, 1.0 - clip_low, 1.0 + clip_high))
    high = (adv > 0) & (ratio > 1.0 + clip_high)
    low = (adv < 0) & (ratio < 1.0 - clip_low)
    dual = np.zeros_like(high)
    if dual_clip > 0:
        dual = (adv < 0) & (ratio > dual_clip)
        loss = np.where(dual, -adv * dual_clip, loss)
    dlogp = np.where(high | low | dual, 0.0, unclipped)
    return LossOut(loss, dlogp, low, high, dual, np.zeros_like(high))


def token_covariance(adv: np.ndarray, logp: np.ndarray) -> np.ndarray:
    """Cui et al. 2025 Eq. (Clip-Cov): (A - mean A) * (logp - mean logp) over the minibatch."""
    return (adv - adv.mean()) * (logp - logp.mean())


#: KL-Cov ranks covariances on this grid, so that equal ones tie exactly (broken by token
#: order): a zero-variance group's tokens have A = 0 but A - mean A = +-1e-17 (GRPO's
#: advantages sum to 0 up to rounding), and identical states of different prompts give
#: covariances that differ in the last bits; rounding must not pick the top k
#: (tests/engine/test_sequence_parity.py holds the numba engine to this ranking)
COV_RANK_GRID = 1e-9


def covariance_rank(cov: np.ndarray) -> np.ndarray:
    """The covariance rounded to COV_RANK_GRID (half up), as a rank key."""
    return np.floor(cov * (1.0 / COV_RANK_GRID) + 0.5)


@POLICY_LOSSES.register("vanilla", "PPO clip with clip_low/clip_high (clip-higher) and dual_clip")
def vanilla(b: TokenBatch, p) -> LossOut:
    return ppo_clip(np.exp(b.logp - b.logp_old), b.adv, p.clip_low, p.clip_high, p.dual_clip)


@POLICY_LOSSES.register("pg", "unclipped surrogate -ratio * A (gradient -A ratio)")
def pg(b: TokenBatch, p) -> LossOut:
    ratio = np.exp(b.logp - b.logp_old)
    none = np.zeros(ratio.shape, dtype=bool)
    return LossOut(-b.adv * ratio, -b.adv * ratio, none, none, none, none)


@POLICY_LOSSES.register(
    "clip_cov",
    "PPO clip, then the gradient of max(1, int(clip_cov_ratio N)) tokens chosen uniformly at "
    "random among unclipped tokens with covariance in (clip_cov_lb, clip_cov_ub) is removed",
)
def clip_cov(b: TokenBatch, p) -> LossOut:
    out = ppo_clip(np.exp(b.logp - b.logp_old), b.adv, p.clip_low, p.clip_high, 0.0)
    cov = token_covariance(b.adv, b.logp)
    eligible = ~(out.clip_low | out.clip_high) & (cov > p.clip_cov_lb) & (cov < p.clip_cov_ub)
    n_clip = max(int(p.clip_cov_ratio * b.logp.size), 1)
    candidates = np.flatnonzero(eligible)
    chosen = candidates[np.argsort(b.keys[candidates], kind="stable")[:n_clip]]
    selected = np.zeros(b.logp.shape, dtype=bool)
    selected[chosen] = True
    return out._replace(
        loss=np.where(selected, 0.0, out.loss),
        dlogp=np.where(selected, 0.0, out.dlogp),
        selected=selected,
    )


@POLICY_LOSSES.register(
    "kl_cov",
    "no PPO clip; the top max(1, int(kl_cov_ratio N)) tokens by covariance get "
    "kl_cov_coef * |logp - logp_old| added to their loss",
)
def kl_cov(b: TokenBatch, p) -> LossOut:
    ratio = np.exp(b.logp - b.logp_old)
    cov = token_covariance(b.adv, b.logp)
    k = max(int(b.logp.size * p.kl_cov_ratio), 1)
    top = np.argsort(-covariance_rank(cov), kind="stable")[:k]  # ties: lower index first
    selected = np.zeros(b.logp.shape, dtype=bool)
    selected[top] = True
    diff = b.logp - b.logp_old
    loss = -b.adv * ratio + np.where(selected, p.kl_cov_coef * np.abs(diff), 0.0)
    # d|x|/dx = sign(x), 0 at x = 0 as in torch: no KL-Cov force on an epoch's first pass
    dlogp = -b.adv * ratio + np.where(selected, p.kl_cov_coef * np.sign(diff), 0.0)
    none = np.zeros(ratio.shape, dtype=bool)
    return LossOut(loss, dlogp, none, none, none, selected)


#: exp map with derived k: k = -ln(w_min) / max(max |Omega|, STEER_K_FLOOR) (public code)
STEER_K_FLOOR = 0.02


def steer_omega(b: TokenBatch) -> np.ndarray:
    """STEER's per-token |Omega| (theory.entropy.steer_omega_code, the public-code form):
    pi is the current probability of the sampled token, pi_old the sampling policy's, H_old
    the sampling policy's entropy at the token's state, everything detached. It keeps only
    the sampled token's own term of the first-order entropy change (theory/NOTES.md)."""
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


@POLICY_LOSSES.register(
    "steer",
    "vanilla PPO clip with per-token weights from STEER's |Omega| (Hao et al. 2025, "
    "arXiv 2510.10150)",
)
def steer(b: TokenBatch, p) -> LossOut:
    out = ppo_clip(np.exp(b.logp - b.logp_old), b.adv, p.clip_low, p.clip_high, p.dual_clip)
    w = steer_weights(steer_omega(b), p)
    return out._replace(loss=w * out.loss, dlogp=w * out.dlogp)
