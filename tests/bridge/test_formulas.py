"""The bridge against small transcriptions of TRL's and verl's published formulas.

Identical tensors go to the bridge (simrl/bridge/update.py, losses.py) and to a few lines
transcribed from:
  verl  verl/trainer/ppo/core_algos.py   `agg_loss`, `compute_policy_loss_vanilla` (with
                                          clip_ratio_low/high and clip_ratio_c), `kl_penalty`
                                          ("low_var_kl")
  TRL   trl/trainer/grpo_trainer.py      `GRPOTrainer._compute_loss` (loss_type grpo, bnpo,
                                          dr_grpo, beta > 0) and `get_high_entropy_mask`
The transcriptions keep the originals' expressions; what they drop is named (verl's
log-ratio clamp to [-20, 20] and k3 clamp to [-10, 10] do not bind on these inputs; TRL's
gradient-accumulation normaliser is 1 and its entropy mask is gathered on one process).
"""

import numpy as np
import pytest
import torch

from simrl.aggregation import AGGREGATIONS
from simrl.bridge.config import BridgeRunConfig
from simrl.bridge.losses import TORCH_LOSSES, TorchTokens, sampled_kl
from simrl.bridge.update import UpdateBatch, forking_keep, ppo_update
from simrl.config import AlgoConfig, OptimConfig

B, T, V = 6, 5, 7


# ---- transcriptions ------------------------------------------------------------------------


def masked_mean(x, mask):
    return (x * mask).sum() / mask.sum()


def verl_agg_loss(loss_mat, loss_mask, loss_agg_mode):
    """verl/trainer/ppo/core_algos.py, agg_loss."""
    if loss_agg_mode == "token-mean":
        loss = masked_mean(loss_mat, loss_mask)
    elif loss_agg_mode == "seq-mean-token-sum":
        seq_losses = torch.sum(loss_mat * loss_mask, dim=-1)
        loss = torch.mean(seq_losses)
    elif loss_agg_mode == "seq-mean-token-mean":
        seq_losses = torch.sum(loss_mat * loss_mask, dim=-1) / torch.sum(loss_mask, dim=-1)
        loss = torch.mean(seq_losses)
    elif loss_agg_mode == "seq-mean-token-sum-norm":  # verl 0.9.1 (PR 5417): / B / T
        seq_losses = torch.sum(loss_mat * loss_mask, dim=-1)
        loss = torch.mean(seq_losses) / loss_mask.shape[-1]
    elif loss_agg_mode == "token-sum":
        loss = torch.sum(loss_mat * loss_mask)
    elif loss_agg_mode == "token-sum-norm":  # older verl's seq-mean-token-sum-norm
        loss = torch.sum(loss_mat * loss_mask) / loss_mask.shape[-1]
    else:
        raise ValueError(loss_agg_mode)
    return loss


def verl_policy_loss_vanilla(
    old_log_prob, log_prob, advantages, response_mask, clip_low, clip_high, clip_ratio_c, mode
):
    """verl/trainer/ppo/core_algos.py, compute_policy_loss_vanilla (dual clip via clip_ratio_c)."""
    negative_approx_kl = log_prob - old_log_prob
    negative_approx_kl = torch.clamp(negative_approx_kl, min=-20.0, max=20.0)
    ratio = torch.exp(negative_approx_kl)
    pg_losses1 = -advantages * ratio
    pg_losses2 = -advantages * torch.clamp(ratio, 1 - clip_low, 1 + clip_high)
    clip_pg_losses1 = torch.maximum(pg_losses1, pg_losses2)
    pg_losses3 = -advantages * clip_ratio_c
    clip_pg_losses2 = torch.min(pg_losses3, clip_pg_losses1)
    pg_losses = torch.where(advantages < 0, clip_pg_losses2, clip_pg_losses1)
    return verl_agg_loss(pg_losses, response_mask, mode)


def verl_low_var_kl(logprob, ref_logprob):
    """verl/trainer/ppo/core_algos.py, kl_penalty(..., "low_var_kl")."""
    kl = ref_logprob - logprob
    kl = torch.clamp(kl, min=-20, max=20)
    ratio = torch.exp(kl)
    kld = (ratio - kl - 1).contiguous()
    return torch.clamp(kld, min=-10, max=10)


def trl_compute_loss(
    per_token_logps, old_per_token_logps, ref_per_token_logps, advantages, mask, eps_low,
    eps_high, beta, loss_type, max_completion_length, entropy_mask=None,
):  # fmt: skip
    """trl/trainer/grpo_trainer.py, GRPOTrainer._compute_loss (token-level importance
    sampling, no vLLM correction, one process, no gradient accumulation)."""
    advantages = advantages.unsqueeze(1)
    log_ratio = per_token_logps - old_per_token_logps
    coef_1 = torch.exp(log_ratio)
    per_token_kl = (
        torch.exp(ref_per_token_logps - per_token_logps)
        - (ref_per_token_logps - per_token_logps)
        - 1
    )
    coef_2 = torch.clamp(coef_1, 1 - eps_low, 1 + eps_high)
    per_token_loss1 = coef_1 * advantages
    per_token_loss2 = coef_2 * advantages
    per_token_loss = -torch.min(per_token_loss1, per_token_loss2)
    if entropy_mask is not None:
        per_token_loss = per_token_loss * entropy_mask
    if beta != 0.0:
        per_token_loss = per_token_loss + beta * per_token_kl
    if loss_type == "grpo":
        return ((per_token_loss * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    if loss_type == "bnpo":
        return (per_token_loss * mask).sum() / mask.sum().clamp(min=1.0)
    if loss_type == "dr_grpo":
        return (per_token_loss * mask).sum() / (per_token_loss.size(0) * max_completion_length)
    raise ValueError(loss_type)


def trl_high_entropy_mask(entropies, mask, threshold):
    """trl/trainer/grpo_trainer.py, GRPOTrainer.get_high_entropy_mask (one process)."""
    local = entropies[mask.bool()].float()
    entropy_threshold = torch.quantile(local, threshold)
    masked_entropies = entropies * mask.float()
    entropy_mask = masked_entropies >= entropy_threshold
    return entropy_mask & mask.bool()


# ---- identical inputs -----------------------------------------------------------------------


def inputs(seed: int):
    g = torch.Generator().manual_seed(seed)
    logits0 = torch.randn(B, T, V, generator=g, dtype=torch.float64)
    delta = 0.4 * torch.randn(B, T, V, generator=g, dtype=torch.float64)  # a moved policy
    ref = logits0 + 0.3 * torch.randn(B, T, V, generator=g, dtype=torch.float64)
    tokens = torch.randint(0, V, (B, T), generator=g)
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    mask = (torch.arange(T)[None, :] < lengths[:, None]).double()
    adv = torch.randn(B, generator=g, dtype=torch.float64)
    return logits0, logits0 + delta, ref, tokens, mask, adv


def gather(logits, tokens):
    return torch.log_softmax(logits, -1).gather(-1, tokens[..., None])[..., 0]


def bridge_loss_and_grad(cfg, logits0, logits, ref, tokens, mask, adv):
    """The bridge's loss gradient w.r.t. the logits, via one SGD step of lr 1 on them."""
    z = torch.nn.Parameter(logits.clone())
    lp_all0 = torch.log_softmax(logits0, -1)
    batch = UpdateBatch(
        tokens=tokens,
        mask=mask,
        adv=adv,
        logp_old=gather(logits0, tokens),
        entropy_old=-(lp_all0.exp() * lp_all0).sum(-1),
        logp_ref=gather(ref, tokens),
        n_groups=B,
        group_size=1,
    )
    before = z.detach().clone()
    ppo_update(cfg, batch, lambda idx: z[idx], torch.optim.SGD([z], lr=1.0), [z], None)
    return before - z.detach()  # = the gradient


def reference_grad(fn, logits):
    z = logits.clone().requires_grad_(True)
    fn(z).backward()
    return z.grad


def config(**algo) -> BridgeRunConfig:
    return BridgeRunConfig(algo=AlgoConfig(group_size=2, **algo), optim=OptimConfig(lr=1.0))


@pytest.mark.parametrize("mode", AGGREGATIONS.names)
@pytest.mark.parametrize("dual", [0.0, 3.0])
def test_vanilla_loss_and_aggregation_match_verl(mode, dual):
    logits0, logits, ref, tokens, mask, adv = inputs(1)
    cfg = config(agg=mode, clip_low=0.2, clip_high=0.28, dual_clip=dual)
    got = bridge_loss_and_grad(cfg, logits0, logits, ref, tokens, mask, adv)
    old = gather(logits0, tokens)
    want = reference_grad(
        lambda z: verl_policy_loss_vanilla(
            old, gather(z, tokens), adv[:, None].expand(B, T), mask, 0.2, 0.28,
            dual if dual else 1e9, mode,
        ),
        logits,
    )  # fmt: skip
    assert want.abs().max() > 1e-3  # the case moves something
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("loss_type", "agg"),
    [("grpo", "seq-mean-token-mean"), ("bnpo", "token-mean"), ("dr_grpo", "seq-mean-token-sum")],
)
@pytest.mark.parametrize("beta", [0.0, 0.04])
def test_grpo_loss_types_match_trl(loss_type, agg, beta):
    """TRL's loss_type = our aggregation (README, "Aggregation names and TRL's loss_type"):
    dr_grpo divides by (sequences x max_completion_length) = seq-mean-token-sum / T."""
    logits0, logits, ref, tokens, mask, adv = inputs(2)
    cfg = config(agg=agg, clip_low=0.2, clip_high=0.2, kl_coef=beta, kl_kind="k3")
    got = bridge_loss_and_grad(cfg, logits0, logits, ref, tokens, mask, adv)
    if loss_type == "dr_grpo":
        got = got / T
    old, lref = gather(logits0, tokens), gather(ref, tokens)
    want = reference_grad(
        lambda z: trl_compute_loss(
            gather(z, tokens), old, lref, adv, mask, 0.2, 0.2, beta, loss_type, T
        ),
        logits,
    )
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


def test_forking_token_rule_matches_trl_entropy_mask():
    logits0, logits, ref, tokens, mask, adv = inputs(3)
    lp = torch.log_softmax(logits, -1)
    h = -(lp.exp() * lp).sum(-1)
    want = trl_high_entropy_mask(h, mask, 1 - 0.2)
    got = torch.zeros_like(want)
    got[mask.bool()] = forking_keep(h[mask.bool()], 0.2)
    assert torch.equal(got, want)
    # and the whole loss with top_entropy_quantile = 0.2 (TRL) = forking_top_quantile = 0.2
    cfg = config(agg="seq-mean-token-mean", forking_top_quantile=0.2)
    cfg_grad = bridge_loss_and_grad(cfg, logits0, logits, ref, tokens, mask, adv)
    old, lref = gather(logits0, tokens), gather(ref, tokens)
    trl_grad = reference_grad(
        lambda z: trl_compute_loss(
            gather(z, tokens), old, lref, adv, mask, 0.2, 0.2, 0.0, "grpo", T,
            entropy_mask=trl_high_entropy_mask(
                -(torch.log_softmax(z, -1).exp() * torch.log_softmax(z, -1)).sum(-1).detach(),
                mask, 0.8,
            ),
        ),
        logits,
    )  # fmt: skip
    torch.testing.assert_close(cfg_grad, trl_grad, rtol=0, atol=1e-12)


def test_k3_matches_verl_low_var_kl():
    _, logits, ref, tokens, _, _ = inputs(4)
    lp, lr = gather(logits, tokens), gather(ref, tokens)
    torch.testing.assert_close(
        sampled_kl("k3", lp, lr), verl_low_var_kl(lp, lr), rtol=0, atol=1e-12
    )


def test_clip_fractions_count_verl_clipped_tokens():
    """verl's pg_clipfrac counts tokens where the clipped surrogate is larger: the bridge's
    clip_low | clip_high masks count the same tokens."""
    logits0, logits, _, tokens, mask, adv = inputs(5)
    old, new = gather(logits0, tokens), gather(logits, tokens)
    a = adv[:, None].expand(B, T)
    ratio = torch.exp(new - old)
    pg1, pg2 = -a * ratio, -a * torch.clamp(ratio, 0.8, 1.28)
    verl_clipped = torch.gt(pg2, pg1)
    out = TORCH_LOSSES["vanilla"].fn(
        TorchTokens(new.flatten(), old.flatten(), a.flatten(), new.flatten(), None),
        AlgoConfig(clip_low=0.2, clip_high=0.28),
    )
    ours = (out.clip_low | out.clip_high).reshape(B, T)
    assert verl_clipped.any()
    assert torch.equal(ours, verl_clipped)
    np.testing.assert_allclose(
        masked_mean(ours.double(), mask), masked_mean(verl_clipped.double(), mask)
    )
