"""cispo and cispo_trl: CISPO, the clipped importance-sampling-weight policy gradient.

Source: MiniMax-M1 (Chen et al. 2025, arXiv 2506.13585) Eqs. 4-5: J = sg(r_hat) A log pi,
r_hat = clip(r, 1 - eps_low, 1 + eps_high). The weight is clipped and detached, so every
token keeps a gradient (-r_hat A d log pi) instead of PPO's zero outside the band.
Two libraries, two clamps (their code, under their names):

- `cispo`: verl `compute_policy_loss_cispo` (verl/trainer/ppo/core_algos.py): both sides,
  r_hat = clamp(r, 1 - clip_low, 1 + clip_high). (verl also clamps log r to [-20, 20]
  before exp; the simulator does not, as for every loss here: ppo_clip.py.)
- `cispo_trl`: TRL `GRPOTrainer._compute_loss` with `loss_type="cispo"`: from above only,
  and at epsilon_high itself, not 1 + epsilon_high: r_hat = min(r, clip_high); TRL's docs
  suggest epsilon_high of about 5 (algo.clip_high = 5 here).

Loss -r_hat A logp; d loss / d logp = -r_hat A. The clip fractions count the tokens whose
weight was clamped (below: r < 1 - clip_low; above: r > the upper bound), whatever the
sign of A: unlike PPO's, these tokens still get a gradient.
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms import nb
from simrl.algorithms.policy_loss import PolicyLoss, register
from simrl.algorithms.tokens import TF_ADV, TF_DLOGP, TF_RATIO, LossOut, TokenBatch, TorchLossOut

PARAMS = ("clip_low", "clip_high")
CLIP_LOW, CLIP_HIGH = 0, 1


def _numpy(b: TokenBatch, lower: float, upper: float) -> LossOut:
    ratio = np.exp(b.logp - b.logp_old)
    w = np.clip(ratio, lower, upper)
    none = np.zeros(ratio.shape, dtype=bool)
    return LossOut(-w * b.adv * b.logp, -w * b.adv, ratio < lower, ratio > upper, none, none)


def _torch(b, lower: float, upper: float) -> TorchLossOut:
    import torch

    ratio = torch.exp(b.logp - b.logp_old)
    w = torch.clamp(ratio, lower, upper).detach()
    none = torch.zeros(ratio.shape, dtype=torch.bool, device=ratio.device)
    return TorchLossOut(-w * b.adv * b.logp, ratio < lower, ratio > upper, none, none)


def numpy_verl(b: TokenBatch, p) -> LossOut:
    return _numpy(b, 1.0 - p.clip_low, 1.0 + p.clip_high)


def numba_verl(lp, tf, ti, b0, N, flags, first):
    nb.clamped_weight(
        N, 1.0 - lp[CLIP_LOW], 1.0 + lp[CLIP_HIGH], tf[TF_ADV, b0 : b0 + N],
        tf[TF_RATIO, b0 : b0 + N], flags[b0 : b0 + N], tf[TF_DLOGP, b0 : b0 + N],
    )  # fmt: skip


def torch_verl(b, p) -> TorchLossOut:
    return _torch(b, 1.0 - p.clip_low, 1.0 + p.clip_high)


def numpy_trl(b: TokenBatch, p) -> LossOut:
    return _numpy(b, -np.inf, p.clip_high)


def numba_trl(lp, tf, ti, b0, N, flags, first):
    nb.clamped_weight(
        N, -np.inf, lp[CLIP_HIGH], tf[TF_ADV, b0 : b0 + N], tf[TF_RATIO, b0 : b0 + N],
        flags[b0 : b0 + N], tf[TF_DLOGP, b0 : b0 + N],
    )  # fmt: skip


def torch_trl(b, p) -> TorchLossOut:
    return _torch(b, -np.inf, p.clip_high)


COMMON = dict(params=PARAMS, exact=True, check=None)
ENTRY = register(
    PolicyLoss(
        name="cispo",
        reports=("clip_low_frac", "clip_high_frac"),
        doc="CISPO, verl's rule: -sg(clip(r, 1 - clip_low, 1 + clip_high)) A log pi (every token keeps a gradient)",
        source="MiniMax-M1 (arXiv 2506.13585) Eqs. 4-5; verl compute_policy_loss_cispo",
        numpy=numpy_verl,
        numba=numba_verl,
        torch=torch_verl,
        **COMMON,
    )
)
ENTRY_TRL = register(
    PolicyLoss(
        name="cispo_trl",
        reports=("clip_high_frac",),
        doc="CISPO, TRL's rule: -sg(min(r, clip_high)) A log pi (upper clamp only, at clip_high itself; TRL suggests about 5)",
        source="MiniMax-M1 (arXiv 2506.13585) Eqs. 4-5; TRL GRPOTrainer._compute_loss, loss_type='cispo'",
        numpy=numpy_trl,
        numba=numba_trl,
        torch=torch_trl,
        **COMMON,
    )
)
