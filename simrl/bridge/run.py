"""The bridge's RL loop: `run_bridge(config) -> BridgeResult`, the same layout as `simrl run`.

Per seed (replicate i: numpy Generators from SeedSequence(run.seed, spawn_key=(i, stream))),
starting from the same base model: an eval row of the base model (step 0), then per step
one RL step (simrl/bridge/step.py: rollouts, advantages, the update, the probe breakdown), ProRL's
reference reset every ref_reset_every steps (the reference becomes the policy, the
optimiser is reset), and an eval row every eval_every steps (simrl/bridge/metrics.py)
with the update metrics averaged since the last row. Step 0's update metrics are NaN,
as in the simulator.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import pandas as pd

from simrl.bridge.config import BridgeRunConfig
from simrl.bridge.device import configure, resolve_device
from simrl.bridge.metrics import eval_metrics, eval_names
from simrl.bridge.model import check_context, load_policy
from simrl.bridge.probes import PROBE_COLUMNS, build_probes
from simrl.bridge.result import BridgeResult
from simrl.bridge.rewards import wrong_label
from simrl.bridge.step import TIMING_NAMES, UPDATE_NAMES, Context, rl_step
from simrl.bridge.task import split_problems
from simrl.bridge.update import make_optimizer
from simrl.errors import NonFiniteError

__all__ = ["TIMING_NAMES", "UPDATE_NAMES", "BridgeResult", "metric_names", "run_bridge"]


def metric_names(passk) -> tuple[str, ...]:
    return (*eval_names(passk), *UPDATE_NAMES)


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
    configure(dev)
    b = cfg.bridge
    split = split_problems(b.max_operand, b.train_prompts, b.eval_prompts, b.task_seed)
    problems = [*split.train, *split.heldout]
    if b.model == "":
        check_context(cfg, problems)  # before pretraining anything
    base, fmt = load_policy(cfg)
    check_context(cfg, problems, base, fmt)
    base = base.to(dev)
    for p in base.parameters():
        p.requires_grad_(False)
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
    rows, probe_rows_all, finals = [], [], []
    steps = cfg.run.steps
    for r in range(cfg.run.seeds):
        seed_rows, seed_probe_rows, failed = run_seed(
            ctx, r, lambda t, r=r: progress and progress(r * steps + t, cfg.run.seeds * steps)
        )
        rows += seed_rows
        probe_rows_all += seed_probe_rows
        last = (
            dict(seed_rows[-1]) if seed_rows[-1]["step"] == steps else dict.fromkeys(names, np.nan)
        )
        last.pop("step", None)
        last.pop("seed", None)
        finals.append({"seed": r, "failed_step": failed, **last})
    metrics = pd.DataFrame(rows, columns=["seed", "step", *names])
    final = pd.DataFrame(finals, columns=["seed", "failed_step", *names])
    audit = pd.DataFrame(probe_rows_all) if probe_rows_all else None
    meta = {
        "model": cfg.bridge.model or f"tiny-{cfg.pretrain_key()}",
        "parameters": int(sum(p.numel() for p in base.parameters())),
        "device": str(dev),
    }
    return BridgeResult(cfg, metrics, final, audit, meta)


def run_seed(ctx: Context, r: int, progress) -> tuple[list[dict], list[dict], int]:
    """One replicate: (metric rows, probe breakdown rows, failed step or -1)."""
    cfg = ctx.cfg
    policy = copy.deepcopy(ctx.base)
    for p in policy.parameters():
        p.requires_grad_(True)
    params = [p for p in policy.parameters() if p.requires_grad]
    ref = ctx.base
    opt = make_optimizer(cfg, params)
    train_rng, eval_rng, probe_rng = (seed_generator(cfg, r, s) for s in range(3))

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
    probe_rows_out: list[dict] = []
    sums, counts = np.zeros(len(UPDATE_NAMES)), np.zeros(len(UPDATE_NAMES))
    failed = -1
    for t in range(cfg.run.steps):
        try:
            um, probe_rows = rl_step(ctx, policy, ref, opt, params, labels, t, train_rng, probe_rng)
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
        if probe_rows is not None:
            for j, (probe, rec) in enumerate(zip(ctx.probes, probe_rows, strict=True)):
                probe_rows_out.append(
                    {"seed": r, "step": t + 1, "probe": j, "kind": probe.kind}
                    | dict(zip(PROBE_COLUMNS, rec, strict=True))
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
    return rows, probe_rows_out, failed
