"""One RL step of one replicate on the bridge (the torch counterpart of the simulator's step).

    1. rollouts (simrl/bridge/collect.py): prompts, G completions each, rewards;
    2. advantages: the simulator's registry (simrl/advantages.py) on the (groups, G) rewards;
    3. the old policy's log-probabilities and entropies (and the reference's, for KL);
    4. the update (simrl/bridge/update.py): epochs x minibatches, AdamW or SGD;
    5. the probe breakdown (simrl/bridge/probes.py): probe logits before / after the update.
Returns the update metrics under the simulator's names (UPDATE_NAMES) and the audit rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from simrl import controllers
from simrl.algorithms.advantage import ADVANTAGES
from simrl.algorithms.advantage import compute as compute_advantages
from simrl.algorithms.losses import POLICY_LOSSES
from simrl.bridge.collect import collect
from simrl.bridge.config import BridgeRunConfig
from simrl.bridge.metrics import rollout
from simrl.bridge.probes import (
    PROBE_COLUMNS,
    expected_advantages,
    probe_breakdown_rows,
    probe_index,
    probe_logits,
)
from simrl.bridge.quadrants import QUADRANT_METRICS, QuadrantSums, quadrant_rows
from simrl.bridge.rewards import BRIDGE_REWARDS, answer_reward
from simrl.bridge.rollout import score, scoring_batch
from simrl.bridge.sampler import score_norms, tis_weights
from simrl.bridge.update import TALLY, ProbeSums, UpdateBatch, ppo_update
from simrl.engine.reference import minibatch_groups
from simrl.kl import KL_ESTIMATORS
from simrl.rewards import REWARDS, overlong_penalty

#: update metrics: the simulator's names (simrl/metrics.py, metrics_sequence.py), then the
#: bridge's own (KL to the reference, throughput)
UPDATE_NAMES = (
    "reward_mean",
    "zero_var_frac",
    "groups_used",
    "clip_low_frac",
    "clip_high_frac",
    "clip_dual_frac",
    "cov_selected_frac",
    "forking_kept_frac",
    "fork_grad_share",
    "tokens_per_response",
    "kl_ref",
    *PROBE_COLUMNS,
    "rollout_tokens_per_s",
    "update_tokens_per_s",
)
#: wall-clock throughput: measured, so not reproducible bit for bit (a prereg cell leaves
#: them out: simrl/prereg/executors.py)
TIMING_NAMES = ("rollout_tokens_per_s", "update_tokens_per_s")
#: forward passes are chunked to this many sequences when nothing needs gradient
SCORE_CHUNK = 64


def audit_columns(cfg) -> tuple[str, ...]:
    """The per-probe audit's columns: PROBE_COLUMNS, then QUADRANT_METRICS with
    run.audit_quadrants."""
    return PROBE_COLUMNS + (QUADRANT_METRICS if cfg.run.audit_quadrants else ())


@dataclass
class Context:
    cfg: BridgeRunConfig
    fmt: object
    train: list
    heldout: list
    base: torch.nn.Module
    device: torch.device
    probes: list
    #: a user's reward fn(problem, text, answer) (BridgeTask.reward), or None
    reward: object = None
    #: prompts per step when a user's task sets the prompt set (0: cfg.prompts_per_step)
    prompts_per_step: int = 0


@torch.no_grad()
def params_finite(params) -> bool:
    """Whether every parameter is finite: one float64 sum per tensor, then one check. A
    float64 sum of float32 values cannot overflow (|sum| <= n * 3.4e38 << 1.8e308), so it
    is finite exactly when every term is; one reduction per tensor instead of isfinite's
    elementwise passes (abs, eq, ne, and, all) over the 135M parameters of SmolLM2."""
    if not params:
        return True
    sums = torch.stack([p.detach().sum(dtype=torch.float64) for p in params])
    return bool(torch.isfinite(sums).all())


@torch.no_grad()
def old_policy_stats(model, ref, s, cfg, tokens, mask, device, rows=None):
    """(logp_old, entropy_old, logp_ref or None, kl_ref) over the scoring batch, chunked;
    with `rows`, only those sequences are scored (the others' rows are left at zero)."""
    a = cfg.algo
    B = s.input_ids.shape[0]
    rows = torch.arange(B) if rows is None else torch.as_tensor(rows)
    logp = torch.zeros((B, s.T), device=device)
    ent = torch.zeros((B, s.T), device=device)
    lrs, kls = [], []
    for lo in range(0, len(rows), SCORE_CHUNK):
        idx = rows[lo : lo + SCORE_CHUNK].to(device)
        lp_all = torch.log_softmax(score(model, s, idx, cfg.bridge.temperature, device), -1)
        tok = tokens[idx.cpu(), : s.T].to(device)
        logp[idx] = lp_all.gather(-1, tok[..., None])[..., 0]
        ent[idx] = -(lp_all.exp() * lp_all).sum(-1)
        if a.kl_coef > 0:
            lr_all = torch.log_softmax(score(ref, s, idx, cfg.bridge.temperature, device), -1)
            lrs.append(lr_all.gather(-1, tok[..., None])[..., 0])
            m = mask[idx.cpu(), : s.T].to(device)
            kls.append(((lp_all.exp() * (lp_all - lr_all)).sum(-1) * m).sum(-1))
    logp_ref = torch.cat(lrs) if lrs and KL_ESTIMATORS[a.kl_kind].sampled else None
    kl_ref = float(torch.cat(kls).mean()) if kls else np.nan
    return logp, ent, logp_ref, kl_ref


@torch.no_grad()
def kl_penalised(control, ref, s, cfg, comp, logp_old, rewards, out, device):
    """The rewards minus beta times each completion's summed KL estimate of log pi_old -
    log pi_ref per token (verl apply_kl_penalty), the controller stepped; reports
    kl_reward (verl's current_kl) and kl_reward_coef (the beta applied)."""
    a = cfg.algo
    lr, _, _, _ = old_policy_stats(ref, ref, s, cfg, comp.tokens, comp.mask, device)
    mask = comp.mask[:, : s.T].double().cpu().numpy()
    k = controllers.kl_values(
        a.kl_reward_kind,
        logp_old.double().cpu().numpy(),
        lr.double().cpu().numpy(),
    )
    k_sum = (k * mask).sum(-1).reshape(rewards.shape)
    lengths = mask.sum(-1).reshape(rewards.shape)
    pen, out["kl_reward"], out["kl_reward_coef"], control.state = controllers.penalise_rewards(
        a, control.state, rewards, k_sum, lengths
    )
    return pen


def first_minibatch_rows(cfg, n_groups: int) -> np.ndarray:
    """The sequences of the update's first minibatch (simrl/engine/reference.py split)."""
    groups = minibatch_groups(n_groups, cfg.algo.minibatches)[0]
    G = cfg.algo.group_size
    return (groups[:, None] * G + np.arange(G)).ravel()


def greedy_rewards(ctx: Context, policy, problems: np.ndarray, labels) -> np.ndarray:
    """ReMax's baseline (verl `reward_baselines`): each problem's greedy completion by the
    policy (pi_old: before the update), rewarded as the sampled ones are (the reward's
    bridge form and DAPO's overlong penalty); the reward is deterministic (config check)."""
    cfg = ctx.cfg
    T = cfg.bridge.max_new_tokens
    v = rollout(policy, ctx.fmt, [ctx.train[i] for i in problems], 1, None, cfg, ctx.device)
    reward_fn = BRIDGE_REWARDS[cfg.reward.kind].fn
    out = np.empty(len(problems))
    for k, i in enumerate(problems):
        out[k] = reward_fn(
            v.answers[k : k + 1], ctx.train[i].answer, labels[i], np.zeros(1), 0.0,
            p=cfg.reward.p, flip=cfg.reward.flip,
        )[0] + overlong_penalty(v.lengths[k : k + 1], T, cfg.algo.overlong_cache, cfg.algo.overlong_factor)[0]  # fmt: skip
    return out


def step_advantages(a, rewards: np.ndarray, comp, lengths, greedy) -> np.ndarray:
    """The advantages of the kept completions: (B,) per completion, by the simulator's
    registry (simrl/algorithms/advantage.py) on the rewards (n_groups, G); (B, T) per
    token for an estimator with `token_baseline` (verl's optimal_token_baseline), its score
    norms 1 - 2 q(y) + sum_v q(v)^2 from the sampler's record (sampler.score_norms)."""
    if ADVANTAGES[a.advantage].token_baseline:
        scores = score_norms(comp.logq, comp.sum_sq, comp.mask).reshape(*rewards.shape, -1)
        adv = compute_advantages(a.advantage, rewards, a, lengths, greedy, scores)
        return adv.reshape(comp.tokens.shape[0], -1)
    return compute_advantages(a.advantage, rewards, a, lengths, greedy).ravel()


def rl_step(
    ctx: Context, policy, ref, opt, params, labels, t, rng, audit_rng, control=None, stale=None
):
    """One RL step of one replicate: (update metrics, per-probe audit (n_probes, 7) or None;
    with run.audit_quadrants (n_probes, 7 + 9), the columns `audit_columns(cfg)`).
    `control`: the replicate's controllers (simrl/bridge/control.py), or None; `stale`:
    the replicate's sampler.StaleRing (algo.staleness > 0), or None: the rollouts (and
    ReMax's greedy baseline, the sampler's argmax) come from its model, the policy k
    updates old; the caller ends the ring's step (`stale.end()`)."""
    cfg, dev = ctx.cfg, ctx.device
    a = cfg.algo
    if not REWARDS[cfg.reward.kind].updates:  # frozen
        return {"groups_used": 0.0, "clip_low_frac": 0.0, "clip_high_frac": 0.0}, None
    if a.staleness > 0 and stale is None:  # never sample on-policy silently
        raise ValueError("algo.staleness > 0 needs the replicate's sampler.StaleRing (stale=)")
    behaviour = policy if stale is None else stale.begin(policy)
    cpu0 = time.process_time()
    comp, problem, rewards, stats, n_tok, secs = collect(ctx, behaviour, labels, rng)
    out = dict(stats)
    # CPU seconds (this process, all its threads) of the rollouts (sampling, verifying,
    # rewards) and of the update: beside wall-clock rates for `simrl bridge bench` on a
    # shared machine, where they move less with other processes' load; not UPDATE_NAMES,
    # so a run does not record them
    out["rollout_cpu_seconds"] = time.process_time() - cpu0
    out["rollout_tokens"] = float(n_tok)
    out["groups_used"] = float(rewards.shape[0])
    out["rollout_tokens_per_s"] = n_tok / secs if secs > 0 else np.nan
    keys = None
    if POLICY_LOSSES[a.loss].uses_keys:  # drawn every step, as the simulator's streams are
        keys = rng.random(
            (a.epochs, cfg.prompts_per_step * a.group_size, cfg.bridge.max_new_tokens)
        )
    if comp is None:  # dynamic sampling dropped every group: nothing to train on
        return out, None
    lengths = comp.mask.sum(-1).double().numpy().reshape(rewards.shape)  # tokens per completion
    greedy = None
    if ADVANTAGES[a.advantage].reads_greedy:
        greedy = greedy_rewards(ctx, behaviour, problem[:: a.group_size], labels)
    s = scoring_batch(comp, ctx.fmt.pad_id, dev)
    # pi_old of the first minibatch comes from the update's first forward (the policy is
    # pi_old until the first optimiser step), unless the reference is scored beside it
    # or the TIS weights need pi_old of every token before the update
    share = a.kl_coef == 0 and not a.kl_in_reward and a.tis == "off"
    rows = None
    if share:
        first = first_minibatch_rows(cfg, rewards.shape[0])
        rows = np.setdiff1d(np.arange(comp.tokens.shape[0]), first)
    logp_old, h_old, logp_ref, kl_ref = old_policy_stats(
        policy, ref, s, cfg, comp.tokens, comp.mask, dev, rows
    )
    out["kl_ref"] = kl_ref
    if control is not None and a.kl_in_reward:  # verl apply_kl_penalty (simrl/controllers.py)
        rewards = kl_penalised(control, ref, s, cfg, comp, logp_old, rewards, out, dev)
    adv = step_advantages(a, rewards, comp, lengths, greedy)
    is_weight = None
    if a.tis != "off":  # rho = pi_T,old / q of each token (simrl/rollout_sampling.py)
        m = comp.mask[:, : s.T].to(dev)
        is_weight = tis_weights(
            logp_old, comp.logq[:, : s.T].to(dev), m, a.tis, a.tis_clip_min, a.tis_clip_max
        )
    batch = UpdateBatch(
        tokens=comp.tokens,
        mask=comp.mask,
        adv=torch.as_tensor(adv, dtype=torch.float32, device=dev),
        logp_old=logp_old,
        entropy_old=h_old,
        logp_ref=logp_ref,
        n_groups=rewards.shape[0],
        group_size=a.group_size,
        old_from_first=share,
        is_weight=is_weight,
    )
    temp = cfg.bridge.temperature
    z0 = probe_logits(policy, ctx.probes, ctx.fmt.pad_id, temp, dev)
    probe_adv = None
    if cfg.run.audit and ctx.probes:
        probe_adv = expected_advantages(
            policy,
            ctx.fmt,
            ctx.probes,
            z0,
            cfg,
            answer_reward(cfg, ctx.fmt, ctx.train, ctx.heldout, labels, ctx.reward),
            audit_rng,
            dev,
        )
    quads = None
    if cfg.run.audit_quadrants and ctx.probes:  # simrl/bridge/quadrants.py
        quads = QuadrantSums.start(len(ctx.probes), params)
    sums = ProbeSums.empty(
        probe_index(ctx.probes, problem, comp.tokens, comp.mask), len(ctx.probes), quads
    )
    start, cpu0 = time.perf_counter(), time.process_time()
    tally = ppo_update(
        cfg,
        batch,
        forward=lambda idx: score(policy, s, idx, temp, dev),
        optimizer=opt,
        params=params,
        keys=None if keys is None else keys[:, : comp.tokens.shape[0]],
        forward_ref=lambda idx: score(ref, s, idx, temp, dev),
        probes=sums if cfg.run.audit else None,
        max_grad_norm=cfg.bridge.max_grad_norm,
        control=control,
    )
    secs = time.perf_counter() - start
    out["update_cpu_seconds"] = time.process_time() - cpu0
    if not params_finite(params):
        raise FloatingPointError("parameters")
    tl = dict(zip(TALLY, tally, strict=True))
    counted = tl["counted"] or np.nan
    out["update_tokens_per_s"] = tl["counted"] / secs if secs > 0 else np.nan
    out["update_tokens"] = tl["counted"]
    out["clip_low_frac"] = tl["low"] / counted
    out["clip_high_frac"] = tl["high"] / counted
    out["clip_dual_frac"] = tl["dual"] / counted
    out["cov_selected_frac"] = tl["selected"] / counted
    out["forking_kept_frac"] = tl["kept"] / counted
    out["fork_grad_share"] = tl["fork_abs"] / tl["abs"] if tl["abs"] > 0 else np.nan
    z1 = probe_logits(policy, ctx.probes, ctx.fmt.pad_id, temp, dev)
    audit = None
    if ctx.probes:
        audit = probe_breakdown_rows(
            z0, z1, sums if cfg.run.audit else None, probe_adv, cfg.optim.lr
        )
        columns = PROBE_COLUMNS
        if quads is not None:  # the quadrant split's columns after the breakdown's
            alone = quads.alone_logits(
                params, lambda: probe_logits(policy, ctx.probes, ctx.fmt.pad_id, temp, dev)
            )
            audit = np.concatenate([audit, quadrant_rows(z0, z1, quads.first, alone)], axis=1)
            columns = PROBE_COLUMNS + QUADRANT_METRICS
        means = [np.nanmean(c) if np.isfinite(c).any() else np.nan for c in audit.T]
        out.update(dict(zip(columns, means, strict=True)))
        if not cfg.run.audit:
            audit = None
    return out, audit
