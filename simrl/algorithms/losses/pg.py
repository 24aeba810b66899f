"""pg: the unclipped importance-weighted surrogate -r A (gradient -A r): PPO without the
clip, the "clipping off" arm of the spurious-rewards contrast (Shao et al. 2025, arXiv
2506.10947, Sec. 4)."""

from __future__ import annotations

import numpy as np

from simrl.algorithms.policy_loss import PolicyLoss, register
from simrl.algorithms.tokens import TF_ADV, TF_DLOGP, TF_RATIO, LossOut, TokenBatch, TorchLossOut


def numpy_form(b: TokenBatch, p) -> LossOut:
    ratio = np.exp(b.logp - b.logp_old)
    none = np.zeros(ratio.shape, dtype=bool)
    return LossOut(-b.adv * ratio, -b.adv * ratio, none, none, none, none)


def numba_form(lp, tf, ti, b0, N, flags, first):
    adv, ratio, td = tf[TF_ADV, b0 : b0 + N], tf[TF_RATIO, b0 : b0 + N], tf[TF_DLOGP, b0 : b0 + N]
    for t in range(N):
        td[t] = -adv[t] * ratio[t]


def torch_form(b, p) -> TorchLossOut:
    import torch

    ratio = torch.exp(b.logp - b.logp_old)
    none = torch.zeros(ratio.shape, dtype=torch.bool, device=ratio.device)
    return TorchLossOut(-b.adv * ratio, none, none, none, none)


ENTRY = register(
    PolicyLoss(
        name="pg",
        reports=(),
        doc="unclipped surrogate -ratio * A (gradient -A ratio)",
        source="the importance-weighted policy gradient; Shao et al. 2025 (arXiv 2506.10947) Sec. 4's no-clipping arm",
        numpy=numpy_form,
        numba=numba_form,
        torch=torch_form,
        exact=True,
    )
)
