"""The bridge's RL loop: `run_bridge(config) -> BridgeResult`, the same layout as `simrl run`.

Per seed (replicate i: numpy Generators from SeedSequence(run.seed, spawn_key=(i, stream))),
starting from the same base model:
  1. rollouts: choose prompts (all training problems, or prompts_per_step of a random
     order), G completions each with the KV cache (simrl/bridge/rollout.py), verify,
     reward (simrl/bridge/rewards.py, the simulator's names) plus DAPO's overlong penalty;
     dynamic sampling 'drop' / 'resample' as in the simulator.
  2. advantages: the simulator's registry (simrl/advantages.py) on the (groups, G) rewards.
  3. the update (simrl/bridge/update.py): epochs x minibatches, AdamW or SGD.
  4. ProRL: every ref_reset_every steps the reference becomes the policy, optimiser reset.
  5. the probe audit (simrl/bridge/audit.py) and update metrics; eval rows every
     eval_every steps (simrl/bridge/metrics.py), update metrics averaged since the last row.
Rows: step 0 is the base model; update metrics are NaN there, as in the simulator.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from simrl import io
from simrl.advantages import ADVANTAGES
from simrl.bridge.audit import (
    AUDIT_COLUMNS,
    audit_rows,
    build_probes,
    expected_advantages,
    probe_index,
    probe_logits,
)
from simrl.bridge.config import BridgeRunConfig
from simrl.bridge.metrics import eval_metrics, eval_names, verify
from simrl.bridge.model import load_policy, resolve_device
from simrl.bridge.rewards import BRIDGE_REWARDS, wrong_label
from simrl.bridge.rollout import Completions, sample, score, scoring_batch
from simrl.bridge.task import split_problems
from simrl.bridge.update import TALLY, ProbeSums, UpdateBatch, ppo_update
from simrl.errors import NonFiniteError
from simrl.kl import SAMPLED
from simrl.rewards import NEEDS_UNIFORM, overlong_penalty
from simrl.simulate import summarize_final

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
    *AUDIT_COLUMNS,
    "rollout_tokens_per_s",
    "update_tokens_per_s",
)
#: wall-clock throughput: measured, so not reproducible bit for bit (a prereg cell leaves
#: them out: simrl/prereg/executors.py)
TIMING_NAMES = ("rollout_tokens_per_s", "update_tokens_per_s")
#: forward passes are chunked to this many sequences when nothing needs gradient
SCORE_CHUNK = 64


def metric_names(passk) -> tuple[str, ...]:
    return (*eval_names(passk), *UPDATE_NAMES)


@dataclass
class BridgeResult:
    config: BridgeRunConfig
    metrics: pd.DataFrame  # seed, step, metrics
    final: pd.DataFrame  # seed, failed_step, metrics at the last step
    audit: pd.DataFrame | None  # seed, step, probe, kind, AUDIT_COLUMNS (every update)
    meta: dict = field(default_factory=dict)

    def summary(self, columns: list[str] | None = None) -> pd.DataFrame:
        return summarize_final(self.final, columns)

    def save(self, out: str | Path) -> None:
        """metrics.parquet, final.parquet, config.toml (+ audit.parquet), each atomic."""
        out = Path(out)
        io.write_parquet(out / "metrics.parquet", self.metrics)
        io.write_parquet(out / "final.parquet", self.final)
        io.write_text(out / "config.toml", self.config.to_toml())
        if self.audit is not None:
            io.write_parquet(out / "audit.parquet", self.audit)


@dataclass
class Context:
    cfg: BridgeRunConfig
    fmt: object
    train: list
    heldout: list
    base: torch.nn.Module
    device: torch.device
    probes: list


def make_optimizer(cfg: BridgeRunConfig, params) -> torch.optim.Optimizer:
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


def seed_generator(cfg: BridgeRunConfig, replicate: int, stream: int) -> np.random.Generator:
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(cfg.run.seed, spawn_key=(replicate, stream)))
    )


def run_bridge(
    cfg: BridgeRunConfig,
    device: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BridgeResult:
    """Run cfg.run.seeds replicates from the same base model (bridge.model)."""
    dev = resolve_device(device or cfg.bridge.device)
    base, fmt = load_policy(cfg)
    base = base.to(dev)
    for p in base.parameters():
        p.requires_grad_(False)
    b = cfg.bridge
    split = split_problems(b.max_operand, b.train_prompts, b.eval_prompts, b.task_seed)
    ctx = Context(
        cfg,
        fmt,
        split.train,
        split.heldout,
        base,
        dev,
        build_probes(fmt, split.train, split.heldout, b.probe_prompts),
    )
    names = metric_names(cfg.run.passk)
    rows, audits, finals = [], [], []
    steps = cfg.run.steps
    for r in range(cfg.run.seeds):
        seed_rows, seed_audit, failed = run_seed(
            ctx, r, lambda t, r=r: progress and progress(r * steps + t, cfg.run.seeds * steps)
        )
        rows += seed_rows
        audits += seed_audit
        last = (
            dict(seed_rows[-1]) if seed_rows[-1]["step"] == steps else dict.fromkeys(names, np.nan)
        )
        last.pop("step", None)
        last.pop("seed", None)
        finals.append({"seed": r, "failed_step": failed, **last})
    metrics = pd.DataFrame(rows, columns=["seed", "step", *names])
    final = pd.DataFrame(finals, columns=["seed", "failed_step", *names])
    audit = pd.DataFrame(audits) if audits else None
    meta = {
        "model": cfg.bridge.model or f"tiny-{cfg.pretrain_key()}",
        "parameters": int(sum(p.numel() for p in base.parameters())),
        "device": str(dev),
    }
    return BridgeResult(cfg, metrics, final, audit, meta)


def run_seed(ctx: Context, r: int, progress) -> tuple[list[dict], list[dict], int]:
    """One replicate: (metric rows, audit rows, failed step or -1)."""
    cfg = ctx.cfg
    policy = copy.deepcopy(ctx.base)
    for p in policy.parameters():
        p.requires_grad_(True)
    params = [p for p in policy.parameters() if p.requires_grad]
    ref = ctx.base
    opt = make_optimizer(cfg, params)
    train_rng, eval_rng, audit_rng = (seed_generator(cfg, r, s) for s in range(3))

    ev, samples = eval_metrics(
        policy, ctx.base, ctx.fmt, ctx.train, ctx.heldout, None, None, cfg, eval_rng, ctx.device
    )
    n = cfg.bridge.eval_samples
    labels = np.array(
        [
            wrong_label(samples.answers[i * n : (i + 1) * n], p.answer)
            for i, p in enumerate(ctx.train)
        ]
    )
    base_top_mode = int(np.bincount(samples.modes).argmax())
    ev["mass_incorrect_label"] = float(
        np.mean([a == lab for a, lab in zip(samples.answers, np.repeat(labels, n), strict=True)])
    )
    rows = [{"seed": r, "step": 0, **ev, **dict.fromkeys(UPDATE_NAMES, np.nan)}]
    audit_rows_out: list[dict] = []
    sums, counts = np.zeros(len(UPDATE_NAMES)), np.zeros(len(UPDATE_NAMES))
    failed = -1
    for t in range(cfg.run.steps):
        try:
            um, audit = rl_step(ctx, policy, ref, opt, params, labels, t, train_rng, audit_rng)
        except FloatingPointError:
            failed = t + 1
            if cfg.run.on_nonfinite == "raise":
                raise NonFiniteError(r, t + 1, "loss", f"replicate {r}") from None
            break
        if cfg.algo.ref_reset_every and (t + 1) % cfg.algo.ref_reset_every == 0:
            ref = copy.deepcopy(policy)  # ProRL: reference <- policy, optimiser state reset
            for p in ref.parameters():
                p.requires_grad_(False)
            opt = make_optimizer(cfg, params)
        if audit is not None:
            for j, (probe, rec) in enumerate(zip(ctx.probes, audit, strict=True)):
                audit_rows_out.append(
                    {"seed": r, "step": t + 1, "probe": j, "kind": probe.kind}
                    | dict(zip(AUDIT_COLUMNS, rec, strict=True))
                )
        vals = np.array([um.get(k, np.nan) for k in UPDATE_NAMES], dtype=float)
        ok = np.isfinite(vals)
        sums[ok] += vals[ok]
        counts[ok] += 1
        if (t + 1) % cfg.run.eval_every == 0 or t + 1 == cfg.run.steps:
            ev, _ = eval_metrics(
                policy, ctx.base, ctx.fmt, ctx.train, ctx.heldout, labels, base_top_mode, cfg,
                eval_rng, ctx.device,
            )  # fmt: skip
            upd = dict(
                zip(
                    UPDATE_NAMES,
                    np.where(counts > 0, sums / np.maximum(counts, 1), np.nan),
                    strict=True,
                )
            )
            rows.append({"seed": r, "step": t + 1, **ev, **upd})
            sums[:], counts[:] = 0, 0
        if progress:
            progress(t + 1)
    return rows, audit_rows_out, failed


def collect(ctx: Context, policy, labels, rng: np.random.Generator):
    """Rollouts with dynamic sampling: (completions, problem per sequence, rewards (n, G),
    first-round stats, rollout tokens, rollout seconds)."""
    cfg = ctx.cfg
    a, b = cfg.algo, cfg.bridge
    S, P, G, T = len(ctx.train), cfg.prompts_per_step, a.group_size, b.max_new_tokens
    rounds = a.max_resample_rounds if a.dynamic_sampling == "resample" else 1
    kept: list[tuple] = []
    tokens, seconds, stats = 0, 0.0, {}
    reward_fn = BRIDGE_REWARDS[cfg.reward.kind].fn
    for rnd in range(rounds):
        sel = np.arange(S) if P == S else np.argsort(rng.random(S), kind="stable")[:P]
        prompts = [ctx.fmt.prompt_ids(ctx.train[i]) for i in sel for _ in range(G)]
        u = rng.random((P * G, T))
        u_reward = rng.random((P, G)) if cfg.reward.kind in NEEDS_UNIFORM else np.zeros((P, G))
        u_tie = rng.random(P) if cfg.reward.kind == "self_consistency" else np.zeros(P)
        start = time.perf_counter()
        c = sample(policy, prompts, T, b.temperature, ctx.fmt.eos_id, ctx.fmt.pad_id, u, ctx.device)
        seconds += time.perf_counter() - start
        tokens += int(c.mask.sum())
        v = verify(ctx.fmt, c, [ctx.train[i].answer for i in sel for _ in range(G)])
        groups = []
        for g, i in enumerate(sel):
            rows = slice(g * G, (g + 1) * G)
            rew = reward_fn(
                v.answers[rows], ctx.train[i].answer, labels[i], u_reward[g], u_tie[g],
                p=cfg.reward.p, flip=cfg.reward.flip,
            ) + overlong_penalty(v.lengths[rows], T, a.overlong_cache, a.overlong_factor)  # fmt: skip
            groups.append((int(i), c, rows, rew))
        informative = [gr for gr in groups if gr[3].min() != gr[3].max()]
        if rnd == 0:
            stats = {
                "reward_mean": float(np.mean([gr[3] for gr in groups])),
                "zero_var_frac": 1.0 - len(informative) / len(groups),
                "tokens_per_response": float(v.lengths.mean()),
            }
        if a.dynamic_sampling == "off":
            kept = groups
            break
        kept += informative[: P - len(kept)]
        if a.dynamic_sampling == "drop" or len(kept) == P:
            break
    if not kept:
        return None, np.zeros(0, int), np.zeros((0, G)), stats, tokens, seconds
    comp = Completions(
        prompts=[pr for _, c, rows, _ in kept for pr in c.prompts[rows]],
        tokens=torch.cat([c.tokens[rows] for _, c, rows, _ in kept]),
        mask=torch.cat([c.mask[rows] for _, c, rows, _ in kept]),
        finished=np.concatenate([c.finished[rows] for _, c, rows, _ in kept]),
    )
    problem = np.repeat([i for i, *_ in kept], G)
    rewards = np.array([rew for *_, rew in kept], dtype=float).reshape(len(kept), G)
    return comp, problem, rewards, stats, tokens, seconds


@torch.no_grad()
def old_policy_stats(model, ref, s, cfg, tokens, mask, device):
    """(logp_old, entropy_old, logp_ref or None, kl_ref) over the scoring batch, chunked."""
    a = cfg.algo
    lps, hs, lrs, kls = [], [], [], []
    B = s.input_ids.shape[0]
    for lo in range(0, B, SCORE_CHUNK):
        idx = torch.arange(lo, min(lo + SCORE_CHUNK, B), device=device)
        lp_all = torch.log_softmax(score(model, s, idx, cfg.bridge.temperature, device), -1)
        tok = tokens[lo : lo + SCORE_CHUNK, : s.T].to(device)
        lps.append(lp_all.gather(-1, tok[..., None])[..., 0])
        hs.append(-(lp_all.exp() * lp_all).sum(-1))
        if a.kl_coef > 0:
            lr_all = torch.log_softmax(score(ref, s, idx, cfg.bridge.temperature, device), -1)
            lrs.append(lr_all.gather(-1, tok[..., None])[..., 0])
            m = mask[lo : lo + SCORE_CHUNK, : s.T].to(device)
            kls.append(((lp_all.exp() * (lp_all - lr_all)).sum(-1) * m).sum(-1))
    logp_ref = torch.cat(lrs) if lrs and a.kl_kind in SAMPLED else None
    kl_ref = float(torch.cat(kls).mean()) if kls else np.nan
    return torch.cat(lps), torch.cat(hs), logp_ref, kl_ref


def rl_step(ctx: Context, policy, ref, opt, params, labels, t, rng, audit_rng):
    """One RL step of one replicate: (update metrics, per-probe audit (n_probes, 7) or None)."""
    cfg, dev = ctx.cfg, ctx.device
    a = cfg.algo
    if cfg.reward.kind == "frozen":
        return {"groups_used": 0.0, "clip_low_frac": 0.0, "clip_high_frac": 0.0}, None
    comp, problem, rewards, stats, n_tok, secs = collect(ctx, policy, labels, rng)
    out = dict(stats)
    out["groups_used"] = float(rewards.shape[0])
    out["rollout_tokens_per_s"] = n_tok / secs if secs > 0 else np.nan
    keys = None
    if a.loss == "clip_cov":  # drawn every step, as the simulator's stream layout does
        keys = rng.random(
            (a.epochs, cfg.prompts_per_step * a.group_size, cfg.bridge.max_new_tokens)
        )
    if comp is None:  # dynamic sampling dropped every group: nothing to train on
        return out, None
    adv = ADVANTAGES[a.advantage].fn(rewards, a)
    s = scoring_batch(comp, ctx.fmt.pad_id, dev)
    logp_old, h_old, logp_ref, kl_ref = old_policy_stats(
        policy, ref, s, cfg, comp.tokens, comp.mask, dev
    )
    out["kl_ref"] = kl_ref
    batch = UpdateBatch(
        tokens=comp.tokens,
        mask=comp.mask,
        adv=torch.as_tensor(adv.ravel(), dtype=torch.float32, device=dev),
        logp_old=logp_old,
        entropy_old=h_old,
        logp_ref=logp_ref,
        n_groups=rewards.shape[0],
        group_size=a.group_size,
    )
    temp = cfg.bridge.temperature
    z0 = probe_logits(policy, ctx.probes, ctx.fmt.pad_id, temp, dev)
    probe_adv = None
    if cfg.run.audit and ctx.probes:
        probe_adv = expected_advantages(
            policy, ctx.fmt, ctx.probes, z0, cfg, answer_reward(ctx, labels), audit_rng, dev
        )
    sums = ProbeSums.empty(
        probe_index(ctx.probes, problem, comp.tokens, comp.mask), len(ctx.probes)
    )
    start = time.perf_counter()
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
    )
    secs = time.perf_counter() - start
    if not all(torch.isfinite(p).all() for p in params):
        raise FloatingPointError("parameters")
    tl = dict(zip(TALLY, tally, strict=True))
    counted = tl["counted"] or np.nan
    out["update_tokens_per_s"] = tl["counted"] / secs if secs > 0 else np.nan
    out["clip_low_frac"] = tl["low"] / counted
    out["clip_high_frac"] = tl["high"] / counted
    out["clip_dual_frac"] = tl["dual"] / counted
    out["cov_selected_frac"] = tl["selected"] / counted
    out["forking_kept_frac"] = tl["kept"] / counted
    out["fork_grad_share"] = tl["fork_abs"] / tl["abs"] if tl["abs"] > 0 else np.nan
    z1 = probe_logits(policy, ctx.probes, ctx.fmt.pad_id, temp, dev)
    audit = None
    if ctx.probes:
        audit = audit_rows(z0, z1, sums if cfg.run.audit else None, probe_adv, cfg.optim.lr)
        means = [np.nanmean(c) if np.isfinite(c).any() else np.nan for c in audit.T]
        out.update(dict(zip(AUDIT_COLUMNS, means, strict=True)))
        if not cfg.run.audit:
            audit = None
    return out, audit


def answer_reward(ctx: Context, labels):
    """E[r | completion] for Cui's Q estimates: the reward's expectation given the answer
    (NaN for self_consistency, which depends on the rest of the group)."""
    kind, rc = ctx.cfg.reward.kind, ctx.cfg.reward

    def fn(probe, text: str, finished: bool) -> float:
        ans = ctx.fmt.answer(text, finished)
        if probe.problem < 0:  # held-out probe: its problem's truth
            truth = ctx.heldout[-1 - probe.problem].answer
            label = truth + 1
        else:
            truth = ctx.train[probe.problem].answer
            label = labels[probe.problem]
        correct = float(ans is not None and ans == truth)
        if kind == "true":
            return correct
        if kind == "noisy":
            return (1 - rc.flip) * correct + rc.flip * (1 - correct)
        if kind == "random":
            return rc.p
        if kind == "incorrect":
            return float(ans is not None and ans == label)
        if kind == "format":
            return float(ans is not None)
        return np.nan

    return fn
