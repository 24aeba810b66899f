"""The PPO clipped surrogate that vanilla, Clip-Cov and STEER share: its config fields and
its numpy and torch forms (the numba form is numba_helpers.ppo_clip).

PPO clip, Schulman et al. 2017 (arXiv 1707.06347) Eq. 7, with decoupled clip_low /
clip_high (DAPO clip-higher, Yu et al. 2025, arXiv 2503.14476, Eq. 10) and the dual clip
(Ye et al. 2020, arXiv 1912.09729, Eq. 5; verl `clip_ratio_c`), as verl's
`compute_policy_loss_vanilla` (verl/trainer/ppo/core_algos.py). verl clamps
logp - logp_old to [-20, 20] before exp; the simulator does not (a ratio beyond e^20 does
not arise at sane step sizes, and the clamp would only hide it).
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms.tokens import LossOut, TorchLossOut
from simrl.validate import NONNEG, Range, param

FIELDS = {
    "clip_low": (
        float,
        param(
            0.2,
            "PPO lower clip: ratios below 1 - clip_low get no gradient when A < 0 (1 = no lower "
            "clip, as the Clip-Cov scripts set it)",
            Range(0.0, 1.0),
        ),
    ),
    "clip_high": (
        float,
        param(
            0.2,
            "PPO upper clip: ratios above 1 + clip_high get no gradient when A > 0 (DAPO clip-higher)",
            NONNEG,
        ),
    ),
    "dual_clip": (
        float,
        param(0.0, "dual-clip constant c > 1 bounding the loss of A < 0 tokens (0 = off)", NONNEG),
    ),
}
PARAMS = ("clip_low", "clip_high", "dual_clip")
CLIP_LOW, CLIP_HIGH, DUAL_CLIP = 0, 1, 2  # their columns in a loss's lp row


def check_dual_clip(a) -> None:
    from simrl.validate import require

    require(
        a.dual_clip == 0 or a.dual_clip > 1, "algo.dual_clip", a.dual_clip, "must be 0 (off) or > 1"
    )


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


def ppo_clip_torch(ratio, adv, clip_low: float, clip_high: float, dual_clip: float) -> TorchLossOut:
    """verl's clipped surrogate: max(-A r, -A clip(r, 1 - clip_low, 1 + clip_high)); for
    A < 0, min of that with -A c (dual clip, c > 1; off when 0)."""
    import torch

    unclipped = -adv * ratio
    loss = torch.maximum(unclipped, -adv * torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high))
    high = (adv > 0) & (ratio > 1.0 + clip_high)
    low = (adv < 0) & (ratio < 1.0 - clip_low)
    dual = torch.zeros_like(high)
    if dual_clip > 0:
        dual = (adv < 0) & (ratio > dual_clip)
        loss = torch.where(adv < 0, torch.minimum(loss, -adv * dual_clip), loss)
    return TorchLossOut(loss, low, high, dual, torch.zeros_like(high))
