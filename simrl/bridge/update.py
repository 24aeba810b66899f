"""The policy update of one RL step: epochs x minibatches of the aggregated token loss.

The torch counterpart of simrl/engine/reference.py `token_gradient` (the specification):
per minibatch of whole groups,

    loss = sum_t W_t keep_t ell_t(logp_t)                 policy loss (TORCH_LOSSES)
         + kl_coef sum_t W_t k(logp_t, logp_ref_t)         sampled KL k1/k2/k3, or
         + kl_coef sum_t W_t KL(pi_t, ref_t)               exact_reverse / exact_forward (full vocab)
         - entropy_coef sum_t W_t H(pi_t)                  entropy bonus (full vocab)

with W the verl aggregation weights of the minibatch's (responses x max_new_tokens)
mask (simrl/aggregation.py: `agg_loss` is linear in the token losses) and keep the
forking-token rule (tokens whose current entropy is in the top `forking_top_quantile`
of the minibatch; TRL `get_high_entropy_mask`). One optimiser step per minibatch.
Nothing here knows about models: `forward(idx)` returns the current tempered logits
(b, T', V) of the sequences idx, so the same code drives a transformer and, in the
parity test, a table of free logits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from simrl.aggregation import AGGREGATIONS
from simrl.algorithms.aggregation import weights
from simrl.bridge.losses import TORCH_LOSSES, TorchTokens, exact_kl, sampled_kl
from simrl.bridge.quadrants import QuadrantSums, quadrant_of
from simrl.engine.reference import FORK_TIE_TOL, minibatch_groups
from simrl.kl import KL_ESTIMATORS
from simrl.theory.entropy import sampled_token_entropy_change, steer_omega_code

#: Wang et al. 2025 (arXiv 2506.01939): forking tokens are the top 20% by entropy
FORKING_SHARE = 0.2

#: tally columns
TALLY = ("counted", "low", "high", "dual", "selected", "kept", "fork_abs", "abs")


@dataclass
class UpdateBatch:
    """The tokens of one step's batch, in (group, sample) order."""

    tokens: torch.Tensor  # (B, T) completion ids, T = max_new_tokens
    mask: torch.Tensor  # (B, T) float
    adv: torch.Tensor  # (B,) sequence advantages, or (B, T) per token (token_baseline)
    logp_old: torch.Tensor  # (B, T') log pi_old of the tokens (T' <= T used positions)
    entropy_old: torch.Tensor  # (B, T') full-vocabulary entropy of pi_old at each prefix
    logp_ref: torch.Tensor | None  # (B, T') for sampled KL estimators
    n_groups: int
    group_size: int
    #: logp_old / entropy_old of the first minibatch's sequences are not given but taken
    #: from the first forward of the update (epoch 0, before any optimiser step the policy
    #: is pi_old, so that forward computes them: one scoring pass fewer)
    old_from_first: bool = False
    #: (B, T') the tokens' TIS weights (algo.tis, simrl/rollout_sampling.py), multiplying
    #: the per-token policy loss only (TRL _compute_loss); None = no correction
    is_weight: torch.Tensor | None = None


@dataclass
class ProbeSums:
    """Per-probe sums over a step's token evaluations (the simulator's BreakdownSums):
    `where[(seq, pos)] = probe` marks the batch tokens generated at a probe prefix."""

    where: dict[tuple[int, int], int]
    weight: np.ndarray  # (n_probes,) total aggregation weight
    token: np.ndarray  # one-token first-order changes (theory/NOTES.md, "One token")
    steer_code: np.ndarray  # -lr w keep Omega (STEER public code, signed)
    steer_eq14: np.ndarray  # STEER Eq. 14 over the sampled tokens
    #: run.audit_quadrants: STEER's quadrant split (simrl/bridge/quadrants.py), or None
    quadrants: QuadrantSums | None = None

    @classmethod
    def empty(cls, where: dict, n: int, quadrants: QuadrantSums | None = None) -> ProbeSums:
        return cls(where, *(np.zeros(n) for _ in range(4)), quadrants)


def make_optimizer(cfg, params) -> torch.optim.Optimizer:
    o = cfg.optim
    if o.kind == "sgd":
        return torch.optim.SGD(params, lr=o.lr)
    return torch.optim.AdamW(
        params,
        lr=o.lr,
        betas=(o.beta1, o.beta2),
        eps=o.eps,
        weight_decay=cfg.bridge.weight_decay,
    )


def forking_keep(h: torch.Tensor, quantile: float) -> torch.Tensor:
    """Tokens whose entropy h (N,) is in the top `quantile` share (all when quantile = 1)."""
    if quantile >= 1.0 or h.numel() == 0:
        return torch.ones(h.shape, dtype=torch.bool, device=h.device)
    thr = torch.quantile(h.double(), 1.0 - quantile)
    return h.double() >= thr - FORK_TIE_TOL


def ppo_update(
    cfg,
    batch: UpdateBatch,
    forward: Callable[[torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    params: list[torch.Tensor],
    keys: np.ndarray | None,
    forward_ref: Callable[[torch.Tensor], torch.Tensor] | None = None,
    probes: ProbeSums | None = None,
    max_grad_norm: float = 0.0,
    control=None,
) -> np.ndarray:
    """Run algo.epochs x algo.minibatches optimiser steps; return the tally (TALLY order).

    keys: (epochs, B, T) uniforms for Clip-Cov (None for other losses). control: the
    replicate's controllers (simrl/bridge/control.py), or None."""
    a = cfg.algo
    G = batch.group_size
    device = batch.adv.device
    tally = np.zeros(len(TALLY))
    quads = probes.quadrants if probes is not None else None
    first = True
    for epoch in range(a.epochs):
        for groups in minibatch_groups(batch.n_groups, a.minibatches):
            seqs = (groups[:, None] * G + np.arange(G)).ravel()
            idx = torch.as_tensor(seqs, device=device)
            logits = forward(idx)  # (b, T', V)
            Tp = logits.shape[1]
            mask = batch.mask[seqs].to(device)
            W = weights(
                AGGREGATIONS[a.agg], batch.mask[seqs].double().cpu().numpy(), a.loss_scale_factor
            )  # (b, T)
            W = torch.as_tensor(W[:, :Tp], dtype=logits.dtype, device=device)
            m = mask[:, :Tp].bool()
            logp_all = torch.log_softmax(logits, dim=-1)
            tok = batch.tokens[seqs][:, :Tp].to(device)
            logp = logp_all.gather(-1, tok[..., None])[..., 0]  # (b, T')
            h = -(logp_all.exp() * logp_all).sum(-1)  # (b, T') current entropy
            if batch.old_from_first and epoch == 0 and first:
                batch.logp_old[idx, :Tp] = logp.detach()
                batch.entropy_old[idx, :Tp] = h.detach()
            first = False
            lp, w, h_t = logp[m], W[m], h[m]
            k = None if keys is None else keys[epoch, seqs][:, :Tp][m.cpu().numpy()]
            adv = batch.adv[idx]  # per sequence (b,), or per token (b, T): token baselines
            adv = (adv[:, :Tp] if adv.dim() == 2 else adv[:, None].expand(-1, Tp))[m]
            if a.entropy_adv_alpha > 0:  # the entropy-based advantage (advantage.entropy_term)
                h_old = batch.entropy_old[idx][m].detach().to(adv.dtype)
                adv = adv + torch.minimum(
                    a.entropy_adv_alpha * h_old, adv.abs() / a.entropy_adv_kappa
                )
            b = TorchTokens(
                logp=lp,
                logp_old=batch.logp_old[idx][m],
                adv=adv,
                entropy_old=batch.entropy_old[idx][m],
                keys=k,
                seq=idx[:, None].expand(-1, Tp)[m],
                pos=torch.arange(Tp, device=device)[None, :].expand(len(seqs), -1)[m],
                length=m.sum(1)[:, None].expand(-1, Tp)[m],
            )
            out = TORCH_LOSSES[a.loss].fn(b, a)
            keep = forking_keep(h_t.detach(), a.forking_top_quantile)
            if batch.is_weight is None:
                policy = (w * keep * out.loss).sum()
            else:  # TRL: per_token_loss * importance_sampling_ratio (detached)
                policy = (w * keep * out.loss * batch.is_weight[idx][m].detach()).sum()
            total = policy
            kl_sampled = None
            if a.kl_coef > 0 and KL_ESTIMATORS[a.kl_kind].sampled:
                kl_sampled = (
                    a.kl_coef
                    * (w * sampled_kl(a.kl_kind, lp, batch.logp_ref[idx][m], b.logp_old)).sum()
                )
                total = total + kl_sampled
            elif a.kl_coef > 0:
                ref_all = torch.log_softmax(forward_ref(idx).detach(), dim=-1)[m]
                total = total + a.kl_coef * (w * exact_kl(a.kl_kind, logp_all[m], ref_all)).sum()
            ent_coef = a.entropy_coef if control is None else control.entropy_coef()
            if ent_coef > 0 and a.entropy_agg == "loss":  # loss -= coef * H, like the loss
                total = total - ent_coef * (w * h_t).sum()
            elif ent_coef > 0:  # TRL: the mean entropy of the kept tokens
                kept = keep.to(h_t.dtype)
                total = total - ent_coef * (kept * h_t).sum() / kept.sum().clamp(min=1.0)
            if not torch.isfinite(total.detach()):
                raise FloatingPointError("loss")

            # d loss / d logp_t of the policy term (and of the sampled KL term, for the probe breakdown)
            g_policy = torch.autograd.grad(policy, lp, retain_graph=True)[0].detach()
            coef = g_policy
            if kl_sampled is not None:
                coef = coef + torch.autograd.grad(kl_sampled, lp, retain_graph=True)[0].detach()
            fork = forking_keep(batch.entropy_old[idx][m].detach(), FORKING_SHARE)
            counted = float(m.sum())
            tally += [
                counted,
                float(out.clip_low.sum()),
                float(out.clip_high.sum()),
                float(out.clip_dual.sum()),
                float(out.selected.sum()),
                float(keep.sum()),
                float(g_policy.abs()[fork].sum()),
                float(g_policy.abs().sum()),
            ]
            quad = None if quads is None else quadrant_of(b.adv, b.logp_old, b.entropy_old)
            if probes is not None and probes.where:
                _probe_terms(cfg, probes, seqs, m, logits, tok, b, w, keep, coef, quad)

            optimizer.zero_grad(set_to_none=True)
            total.backward(retain_graph=quads is not None)
            if max_grad_norm > 0:
                norm = torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
            if quads is not None:  # each quadrant's share of this sgd step
                clip = 1.0
                if max_grad_norm > 0:  # torch's factor (nn/utils/clip_grad.py), <= 1
                    clip = min(1.0, float(max_grad_norm / (norm + 1e-6)))
                quads.add_steps(params, lp, coef, quad, cfg.optim.lr * clip)
            optimizer.step()
            if control is not None:
                control.after_update(h_t.detach(), keep)
    if control is not None:
        control.end_step()
    return tally


def _probe_terms(
    cfg, probes: ProbeSums, seqs, m, logits, tok, b: TorchTokens, w, keep, coef, quad=None
):
    """Add the minibatch's tokens at probe prefixes to the probe breakdown sums, as the simulator's
    reference `token_gradient` does for a state (theory/NOTES.md, "One token, and STEER's
    estimates"); z is the token's current tempered logits."""
    lr = cfg.optim.lr
    rows, cols = np.nonzero(m.cpu().numpy())  # token order of the flattened b
    hits = [
        (i, probes.where[(int(seqs[r]), int(c))])
        for i, (r, c) in enumerate(zip(rows, cols, strict=True))
        if (int(seqs[r]), int(c)) in probes.where
    ]
    if not hits:
        return
    ti = np.array([h[0] for h in hits])
    pid = np.array([h[1] for h in hits])
    z = logits[rows[ti], cols[ti]].detach().double().cpu().numpy()  # (n, V)
    a_t = tok[rows[ti], cols[ti]].cpu().numpy()
    c_t = coef[ti].double().cpu().numpy()
    w_t = w[ti].detach().double().cpu().numpy()
    keep_t = keep[ti].double().cpu().numpy()
    logp = b.logp[ti].detach().double().cpu().numpy()
    logp_old = b.logp_old[ti].detach().double().cpu().numpy()
    adv = b.adv[ti].detach().double().cpu().numpy()
    h_old = b.entropy_old[ti].detach().double().cpu().numpy()
    zs = z - z.max(-1, keepdims=True)
    lz = zs - np.log(np.exp(zs).sum(-1, keepdims=True))
    h_now = -(np.exp(lz) * lz).sum(-1)
    np.add.at(probes.weight, pid, w_t)
    one_token = sampled_token_entropy_change(z, a_t, -c_t, lr)
    np.add.at(probes.token, pid, one_token)
    if probes.quadrants is not None:  # run.audit_quadrants
        probes.quadrants.add_first(pid, quad[ti].cpu().numpy(), one_token)
    omega = steer_omega_code(adv, np.exp(logp_old), np.exp(logp), h_old, signed=True)
    np.add.at(probes.steer_code, pid, -lr * w_t * keep_t * omega)
    pi_a = np.exp(logp)
    np.add.at(probes.steer_eq14, pid, -lr * -c_t * (1.0 - pi_a) ** 2 * (logp + h_now))
