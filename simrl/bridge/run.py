"""The bridge's RL loop: `run_bridge(config) -> BridgeResult`, the same layout as `simrl run`.

Per seed (replicate i: numpy Generators from SeedSequence(run.seed, spawn_key=(i, stream))),
starting from the same base model: an eval row of the base model (step 0), then per step
one RL step (simrl/bridge/step.py: rollouts, advantages, the update, the audit), ProRL's
reference reset every ref_reset_every steps (the reference becomes the policy, the
optimiser is reset), and an eval row every eval_every steps (simrl/bridge/metrics.py)
with the update metrics averaged since the last row. Step 0's update metrics are NaN,
as in the simulator.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable

import numpy as np
import pandas as pd

from simrl import controllers
from simrl.bridge.config import BridgeRunConfig
from simrl.bridge.control import BridgeControl
from simrl.bridge.device import configure, resolve_device
from simrl.bridge.metrics import eval_metrics, eval_names
from simrl.bridge.model import check_context, load_policy
from simrl.bridge.probes import build_probes
from simrl.bridge.quadrants import QUADRANT_METRICS
from simrl.bridge.result import BridgeResult
from simrl.bridge.rewards import wrong_label
from simrl.bridge.sampler import StaleRing
from simrl.bridge.step import TIMING_NAMES, UPDATE_NAMES, Context, audit_columns, rl_step
from simrl.bridge.task import split_problems
from simrl.bridge.tasks import builtin_task, check_one_task, with_task_verifier
from simrl.bridge.update import make_optimizer
from simrl.controllers import CONTROL_METRICS
from simrl.errors import NonFiniteError

__all__ = ["TIMING_NAMES", "UPDATE_NAMES", "BridgeResult", "metric_names", "run_bridge"]


def metric_names(passk) -> tuple[str, ...]:
    return (*eval_names(passk), *UPDATE_NAMES)


def seed_generator(cfg: BridgeRunConfig, replicate: int, stream: int) -> np.random.Generator:
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(cfg.run.seed, spawn_key=(replicate, stream)))
    )


def problem_sets(cfg: BridgeRunConfig, task=None) -> tuple[list, list]:
    """(train, heldout): the built-in split of bridge.train_prompts / eval_prompts, or a
    user's BridgeTask's prompt sets."""
    if task is None:
        b = cfg.bridge
        split = split_problems(b.max_operand, b.train_prompts, b.eval_prompts, b.task_seed)
        return split.train, split.heldout
    return list(task.train), list(task.heldout)


def run_bridge(
    cfg: BridgeRunConfig,
    device: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    keep_models: bool = False,
    task=None,
    seed_store=None,
) -> BridgeResult:
    """Run cfg.run.seeds replicates from the same base model (bridge.model). With
    `keep_models`, the result holds each seed's final policy (result.models), which
    result.save writes as checkpoints/seed<S>/. `task`: a user's BridgeTask (prompt set
    and reward) instead of the built-in split of bridge.train_prompts / eval_prompts.
    `seed_store` (simrl/prereg/seed_store.py SeedStore): each finished seed is saved to it
    and a seed it holds is read back instead of run (seeds are independent: the same
    numbers, bit for bit)."""
    if seed_store is not None and keep_models:
        raise ValueError("a seed store keeps numbers, not models: not with keep_models")
    dev = resolve_device(device or cfg.bridge.device)
    configure(dev)
    b = cfg.bridge
    check_one_task(cfg, task is not None, "task")
    # the step-0 eval row is shared only between runs whose config names everything it
    # depends on: not with a user's task (its functions are not part of a key)
    base_key = base_eval_key(cfg) if task is None else None
    if task is None:  # bridge.task: a built-in task by name (simrl/bridge/tasks.py)
        task = builtin_task(cfg)
    train, heldout = problem_sets(cfg, task)
    if task is not None:
        per_step = cfg.algo.prompts_per_step or len(train)
        if per_step > len(train):
            from simrl.errors import ConfigError

            raise ConfigError(
                "algo.prompts_per_step",
                per_step,
                f"must be <= the task's {len(train)} training problems (0 = all)",
            )
    problems = [*train, *heldout]
    if b.model == "":
        check_context(cfg, problems)  # before pretraining anything
    base, fmt = load_policy(cfg)
    fmt = with_task_verifier(fmt, task)
    check_context(cfg, problems, base, fmt)
    base = base.to(dev)
    for p in base.parameters():
        p.requires_grad_(False)
    ctx = Context(
        cfg,
        fmt,
        train,
        heldout,
        base,
        dev,
        build_probes(fmt, train, heldout, b.probe_prompts),
        None if task is None else task.reward,
        0 if task is None else per_step,
    )
    names = metric_names(cfg.run.passk)
    if controllers.active(cfg.algo):
        names = (*names, *CONTROL_METRICS)
    if cfg.run.audit_quadrants:
        names = (*names, *QUADRANT_METRICS)
    rows, audits, finals, samples, models = [], [], [], {}, {}
    steps = cfg.run.steps
    for r in range(cfg.run.seeds):
        done = seed_store.load(r) if seed_store is not None else None
        if done is None:
            kept: dict = {}
            seed_rows, seed_audit, failed = run_seed(
                ctx,
                r,
                lambda t, r=r: progress and progress(r * steps + t, cfg.run.seeds * steps),
                kept,
                models if keep_models else None,
                base_key,
            )
            if seed_store is not None:
                seed_store.save(r, (seed_rows, seed_audit, failed, kept))
        else:
            seed_rows, seed_audit, failed, kept = done
        samples.update(kept)
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
    models = {seed: (model, fmt.tok) for seed, model in models.items()}
    return BridgeResult(cfg, metrics, final, audit, meta, samples, models)


#: training prompts whose eval completions are kept per eval row (all their samples)
SAMPLE_PROMPTS = 4


def sample_rows(ctx: Context, v, r: int, step: int) -> list[dict]:
    """The eval completions of the first SAMPLE_PROMPTS training prompts at one eval row."""
    n = ctx.cfg.bridge.eval_samples
    out = []
    for i, p in enumerate(ctx.train[:SAMPLE_PROMPTS]):
        for j in range(n):
            k = i * n + j
            out.append(
                {
                    "seed": r,
                    "step": step,
                    "prompt": i,
                    "question": p.text,
                    "truth": p.answer,
                    "sample": j,
                    "completion": v.texts[k],
                    "answer": v.answers[k],
                    "correct": bool(v.correct[k]),
                    "mode": int(v.modes[k]),
                }
            )
    return out


#: the base model's step-0 eval rows computed in this process: base_eval_key + replicate ->
#: (eval row, verified samples, the eval stream's state after it); at most BASE_EVALS_KEPT
_BASE_EVALS: dict[tuple[str, int], tuple] = {}
BASE_EVALS_KEPT = 64


def base_eval_key(cfg: BridgeRunConfig) -> str:
    """What a replicate's step-0 eval row depends on: the base model, the task and the
    eval settings (the whole [bridge] section, a superset), run.seed (the eval stream,
    seed_generator(cfg, r, 1)) and run.passk. Not the reward, algo or optim sections: no
    update has happened at step 0, and the row is the base model's (policy = a copy of it).
    Runs of a study that differ only in those sections (e.g. reward x clipping arms) share
    the row, computed once per process: the same numbers, bit for bit, as computing it
    again (tests/bridge/test_base_eval.py), in a fraction of the time."""
    return json.dumps(
        {"bridge": dataclasses.asdict(cfg.bridge), "seed": cfg.run.seed,
         "passk": list(cfg.run.passk)},
        sort_keys=True,
    )  # fmt: skip


def base_eval(ctx: Context, policy, r: int, eval_rng, key: str | None):
    """The step-0 eval row and samples of replicate r (eval_metrics), from this process's
    store when a run with the same base_eval_key computed it; eval_rng is left where the
    computation leaves it either way."""
    hit = _BASE_EVALS.get((key, r)) if key is not None else None
    if hit is not None:
        ev, samples, state = hit
        eval_rng.bit_generator.state = copy.deepcopy(state)
        return dict(ev), samples
    ev, samples = eval_metrics(
        policy, ctx.base, ctx.fmt, ctx.train, ctx.heldout, None, None, ctx.cfg, eval_rng,
        ctx.device,
    )  # fmt: skip
    if key is not None:
        while len(_BASE_EVALS) >= BASE_EVALS_KEPT:
            _BASE_EVALS.pop(next(iter(_BASE_EVALS)))
        _BASE_EVALS[(key, r)] = (dict(ev), samples, copy.deepcopy(eval_rng.bit_generator.state))
    return ev, samples


def run_seed(
    ctx: Context,
    r: int,
    progress,
    kept: dict | None = None,
    models: dict | None = None,
    base_key: str | None = None,
) -> tuple[list[dict], list[dict], int]:
    """One replicate: (metric rows, audit rows, failed step or -1). `kept`, if given,
    gets (seed, step) -> sample_rows at each eval row; `models`, seed -> the final policy;
    `base_key`: base_eval_key (None: the step-0 row is computed, not shared)."""

    def keep(step: int, v) -> None:
        if kept is not None:
            kept[(r, step)] = sample_rows(ctx, v, r, step)

    cfg = ctx.cfg
    policy = copy.deepcopy(ctx.base)
    for p in policy.parameters():
        p.requires_grad_(True)
    params = [p for p in policy.parameters() if p.requires_grad]
    ref = ctx.base
    control = None
    if controllers.active(cfg.algo):  # simrl/bridge/control.py; TR-DPO mixes its own copy
        if cfg.algo.ref_sync_steps > 0:
            ref = copy.deepcopy(ctx.base)
        control = BridgeControl(cfg.algo, params, list(ref.parameters()))
    names = UPDATE_NAMES + (CONTROL_METRICS if control is not None else ())
    names += QUADRANT_METRICS if cfg.run.audit_quadrants else ()
    opt = make_optimizer(cfg, params)
    stale = StaleRing(cfg.algo.staleness) if cfg.algo.staleness > 0 else None
    train_rng, eval_rng, audit_rng = (seed_generator(cfg, r, s) for s in range(3))

    ev, samples = base_eval(ctx, policy, r, eval_rng, base_key)
    keep(0, samples)
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
    rows = [{"seed": r, "step": 0, **ev, **dict.fromkeys(names, np.nan)}]
    audit_rows_out: list[dict] = []
    sums, counts = np.zeros(len(names)), np.zeros(len(names))
    failed = -1
    for t in range(cfg.run.steps):
        try:
            um, audit = rl_step(
                ctx, policy, ref, opt, params, labels, t, train_rng, audit_rng, control, stale
            )
            if stale is not None:  # the step's start joins the ring of the last k
                stale.end()
            if control is not None:
                um["entropy_coef_now"] = (
                    control.state.entropy_coef if cfg.algo.entropy_adaptive else np.nan
                )
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
                    | dict(zip(audit_columns(cfg), rec, strict=True))
                )
        vals = np.array([um.get(k, np.nan) for k in names], dtype=float)
        ok = np.isfinite(vals)
        sums[ok] += vals[ok]
        counts[ok] += 1
        if (t + 1) % cfg.run.eval_every == 0 or t + 1 == cfg.run.steps:
            ev, v = eval_metrics(
                policy, ctx.base, ctx.fmt, ctx.train, ctx.heldout, labels, base_top_mode, cfg,
                eval_rng, ctx.device,
            )  # fmt: skip
            keep(t + 1, v)
            upd = dict(
                zip(
                    names,
                    np.where(counts > 0, sums / np.maximum(counts, 1), np.nan),
                    strict=True,
                )
            )
            rows.append({"seed": r, "step": t + 1, **ev, **upd})
            sums[:], counts[:] = 0, 0
        if progress:
            progress(t + 1)
    if models is not None:
        models[r] = policy
    return rows, audit_rows_out, failed
