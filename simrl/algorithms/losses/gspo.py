"""gspo: GSPO, the PPO clip on one importance ratio per response.

Source: Zheng et al. 2025, Group Sequence Policy Optimization (arXiv 2507.18071), its
GSPO-token form; the rule is verl 0.9.1's `compute_policy_loss_gspo`
(verl/trainer/ppo/core_algos.py).
Per response i, s_i = exp(mean_t log r_t) over its tokens (the length-normalised
sequence ratio); every token carries the token form s_it = sg(s_i) pi_t / sg(pi_t),
whose value is s_i and whose derivative in log pi_t is s_i; the token's loss is PPO's
max(-A s_it, -A clip(s_it, 1 - clip_low, 1 + clip_high)), so a response is clipped as
a whole and d loss / d logp_t = -A s_i inside the band, 0 where the clip binds.
On the bandit (responses of one token) s_i = r and GSPO is vanilla PPO without dual clip.

Settings, as in verl: the clip range is the shared algo.clip_low / algo.clip_high, whose
defaults (0.2) are PPO's; GSPO's paper (Sec. 5.1) and verl's GSPO example scripts use
`algo.clip_low = 3e-4`, `algo.clip_high = 4e-4` (a sequence ratio moves far less than a
token's). verl aggregates GSPO's token losses with its `loss_agg_mode` like any loss
(its recommended mode is `seq-mean-token-mean`, the paper's per-response mean): here
`algo.agg`, any mode, set it to `seq-mean-token-mean` for the paper's objective.
verl clamps log s_it at 10 before exp (numerical guard); the simulator does not, as for
every loss here (ppo_clip.py). No dual clip (verl has none for GSPO); no exact mode (a
response-level rule has no per-state expected form).
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms import nb
from simrl.algorithms.losses import ppo_clip as clip
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


def sequence_ratio(b: TokenBatch) -> np.ndarray:
    """(N,) per token: its response's s_i = exp(mean_t (logp_t - logp_old_t))."""
    return np.exp(response_mean(b.logp - b.logp_old, b.seq, b.length))


def numpy_form(b: TokenBatch, p) -> LossOut:
    # PPO's clip on s_it: its derivative in logp_t is s_i, as PPO's ratio's is r
    return clip.ppo_clip(sequence_ratio(b), b.adv, p.clip_low, p.clip_high, 0.0)


def numba_form(lp, tf, ti, b0, N, flags, first):
    logp, logp_old = tf[TF_LOGP, b0 : b0 + N], tf[TF_LOGP_OLD, b0 : b0 + N]
    s = tf[TF_COEF, b0 : b0 + N]  # scratch: the log ratio, then its response mean, then s_i
    for t in range(N):
        s[t] = logp[t] - logp_old[t]
    nb.response_mean(N, s, ti[TI_SEQ, b0 : b0 + N], ti[TI_LEN, b0 : b0 + N], s)
    for t in range(N):
        s[t] = nb.fast_exp(s[t])
    nb.ppo_clip(
        N, s, tf[TF_ADV, b0 : b0 + N], lp[CLIP_LOW], lp[CLIP_HIGH], 0.0, flags[b0 : b0 + N],
        tf[TF_DLOGP, b0 : b0 + N],
    )  # fmt: skip


def torch_form(b, p) -> TorchLossOut:
    import torch

    log_s = response_mean_torch((b.logp - b.logp_old).detach(), b.seq, b.length)
    s_token = torch.exp(b.logp - b.logp.detach() + log_s)  # sg(s_i) pi_t / sg(pi_t)
    return clip.ppo_clip_torch(s_token, b.adv, p.clip_low, p.clip_high, 0.0)


ENTRY = register(
    PolicyLoss(
        name="gspo",
        reports=("clip_low_frac", "clip_high_frac"),
        doc="GSPO (verl): PPO clip on the response's ratio s = exp(mean_t log r), token form sg(s) pi / sg(pi); GSPO's epsilons: algo.clip_low = 3e-4, algo.clip_high = 4e-4",
        source="Zheng et al. 2025 (arXiv 2507.18071), GSPO-token; verl 0.9.1 compute_policy_loss_gspo",
        numpy=numpy_form,
        numba=numba_form,
        torch=torch_form,
        params=PARAMS,
        sequence_level=True,
    )
)
