"""sapo: SAPO, Soft Adaptive Policy Optimization: a smooth gate on the ratio instead of a clip.

Source: Gao et al. 2025, Soft Adaptive Policy Optimization (arXiv 2511.20347); the rule is
verl 0.9.1's `compute_policy_loss_sapo` (verl/trainer/ppo/core_algos.py). Per token, the
gate f(r) = sigmoid(tau (r - 1)) 4 / tau with tau = tau_pos where A > 0 and tau_neg
where A <= 0 (verl's `torch.where(advantages > 0, tau_pos, tau_neg)`), and the loss is
-A f(r). d loss / d logp = -A r f'(r) = -A 4 sigma (1 - sigma) r, sigma = sigmoid(tau (r - 1)):
-A at r = 1, as the policy gradient, fading smoothly as r leaves 1 (faster for the larger
tau), where PPO's clip cuts the gradient off.

Aggregation: verl's sapo ignores `loss_agg_mode` and always aggregates
"seq-mean-token-mean"; here the loss uses algo.agg like every loss: set
`algo.agg = "seq-mean-token-mean"` to match verl (every mean mode coincides on the
bandit). verl clamps log r to [-20, 20] before exp; the simulator does not (ppo_clip.py).
No token is clipped, so no clip flags.
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms import nb
from simrl.algorithms.policy_loss import PolicyLoss, register
from simrl.algorithms.tokens import TF_ADV, TF_DLOGP, TF_RATIO, LossOut, TokenBatch, TorchLossOut
from simrl.validate import POS, param

FIELDS = {
    "tau_pos": (
        float,
        param(1.0, "SAPO: gate temperature of A > 0 tokens (verl actor.tau_pos, default 1.0)", POS),
    ),
    "tau_neg": (
        float,
        param(
            1.05, "SAPO: gate temperature of A <= 0 tokens (verl actor.tau_neg, default 1.05)", POS
        ),
    ),
}
PARAMS = ("tau_pos", "tau_neg")
TAU_POS, TAU_NEG = 0, 1


def numpy_form(b: TokenBatch, p) -> LossOut:
    ratio = np.exp(b.logp - b.logp_old)
    tau = np.where(b.adv > 0, p.tau_pos, p.tau_neg)
    sigma = 1.0 / (1.0 + np.exp(-tau * (ratio - 1.0)))
    none = np.zeros(ratio.shape, dtype=bool)
    loss = -b.adv * sigma * (4.0 / tau)
    return LossOut(loss, -b.adv * 4.0 * sigma * (1.0 - sigma) * ratio, none, none, none, none)


def numba_form(lp, tf, ti, b0, N, flags, first):
    adv, ratio, td = tf[TF_ADV, b0 : b0 + N], tf[TF_RATIO, b0 : b0 + N], tf[TF_DLOGP, b0 : b0 + N]
    for t in range(N):
        tau = lp[TAU_POS] if adv[t] > 0 else lp[TAU_NEG]
        sigma = 1.0 / (1.0 + nb.fast_exp(-tau * (ratio[t] - 1.0)))
        td[t] = -adv[t] * 4.0 * sigma * (1.0 - sigma) * ratio[t]


def torch_form(b, p) -> TorchLossOut:
    import torch

    ratio = torch.exp(b.logp - b.logp_old)
    tau_pos, tau_neg = (
        torch.as_tensor(x, dtype=ratio.dtype, device=ratio.device) for x in (p.tau_pos, p.tau_neg)
    )
    tau = torch.where(
        b.adv > 0, tau_pos, tau_neg
    )  # in the ratio's dtype (float32 would round 1.05)
    gate = torch.sigmoid(tau * (ratio - 1.0)) * (4.0 / tau)
    none = torch.zeros(ratio.shape, dtype=torch.bool, device=ratio.device)
    return TorchLossOut(-gate * b.adv, none, none, none, none)


ENTRY = register(
    PolicyLoss(
        name="sapo",
        reports=(),
        doc="SAPO (verl): -A sigmoid(tau (r - 1)) 4 / tau, tau = tau_pos if A > 0 else tau_neg (a soft gate, no clip); verl's aggregation is algo.agg = 'seq-mean-token-mean'",
        source="Gao et al. 2025 (arXiv 2511.20347); verl 0.9.1 compute_policy_loss_sapo",
        numpy=numpy_form,
        numba=numba_form,
        torch=torch_form,
        params=PARAMS,
        fields=FIELDS,
        exact=True,
    )
)
