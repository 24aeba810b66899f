"""vanilla: the PPO clipped surrogate with clip-higher and dual clip (GRPO's loss).

Source: Schulman et al. 2017 (arXiv 1707.06347) Eq. 7; clip-higher, DAPO (arXiv
2503.14476) Eq. 10; dual clip, Ye et al. 2020 (arXiv 1912.09729) Eq. 5; verl
`compute_policy_loss_vanilla` (verl/trainer/ppo/core_algos.py). See ppo_clip.py.
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms import nb
from simrl.algorithms.losses import ppo_clip as clip
from simrl.algorithms.policy_loss import PolicyLoss, register
from simrl.algorithms.tokens import TF_ADV, TF_DLOGP, TF_RATIO, LossOut, TokenBatch, TorchLossOut


def numpy_form(b: TokenBatch, p) -> LossOut:
    return clip.ppo_clip(np.exp(b.logp - b.logp_old), b.adv, p.clip_low, p.clip_high, p.dual_clip)


def numba_form(lp, tf, ti, b0, N, flags, first):
    adv, ratio, td = tf[TF_ADV, b0 : b0 + N], tf[TF_RATIO, b0 : b0 + N], tf[TF_DLOGP, b0 : b0 + N]
    if first:  # ratio 1: inside every clip band (clip_low, clip_high >= 0, dual_clip > 1)
        for t in range(N):
            td[t] = -adv[t]
    else:
        nb.ppo_clip(
            N, ratio, adv, lp[clip.CLIP_LOW], lp[clip.CLIP_HIGH], lp[clip.DUAL_CLIP],
            flags[b0 : b0 + N], td,
        )  # fmt: skip


def torch_form(b, p) -> TorchLossOut:
    import torch

    return clip.ppo_clip_torch(
        torch.exp(b.logp - b.logp_old), b.adv, p.clip_low, p.clip_high, p.dual_clip
    )


ENTRY = register(
    PolicyLoss(
        name="vanilla",
        reports=("clip_low_frac", "clip_high_frac", "clip_dual_frac"),
        doc="PPO clip with clip_low/clip_high (clip-higher) and dual_clip",
        source="Schulman et al. 2017 Eq. 7; DAPO Eq. 10; verl compute_policy_loss_vanilla",
        numpy=numpy_form,
        numba=numba_form,
        torch=torch_form,
        params=clip.PARAMS,
        fields=clip.FIELDS,
        check=clip.check_dual_clip,
        dual_clip=True,
        exact=True,
    )
)
