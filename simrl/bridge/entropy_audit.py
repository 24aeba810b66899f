"""The entropy audit at scale: one GRPO update's exact per-prefix entropy change against
its predictions, over a fixed probe set, on any bridge model (issue 21, item 5).

`run.audit` on the bridge (simrl/bridge/probes.py) audits a handful of probe prefixes
(the first `probe_prompts` prompts, the code marker) at every step of a training run.
This module audits many prefixes, including the model's own partial completions, and
several step sizes of the SAME update, which a training run cannot pair:

Probe set (`build_probe_set`): for each of `n_train` RL training problems and `n_heldout`
held-out problems, the prompt itself and `cuts` prefixes of one completion the base model
sampled for it (cut after k tokens, k uniform on 1 .. the completion's length - 1, without
replacement; a completion of fewer tokens gives fewer cuts). Everything is drawn from
numpy streams of `probe_seed`, so the set is fixed by (model, task, seed); `save_probes`
stores it as JSON (token ids and their text) and `load_probes` reads it back, so a study's
probe set is data, not recomputed.

Per update u (independent: each starts from the base model, with its own rollout batch
drawn from stream u) and per step size lr (each a fresh copy of the base model and a
fresh optimiser, all on the SAME batch, so step sizes are paired), the pieces of
simrl/bridge/step.py `rl_step`, called rather than copied:

    collect (collect.py)  ->  advantages (simrl/algorithms/advantage)
    -> pi_old's log-probs (step.old_policy_stats, once: every lr starts from pi_old)
    -> z0 = probe_logits; Monte Carlo A(v) (probes.expected_advantages) for the probes the
       batch visits (the others get no token gradient, so the tabular predictions there
       are 0 whatever A is; their Q is not estimated)
    -> ppo_update (update.py) with ProbeSums -> z1 -> probes.probe_breakdown_rows

`audit_table` returns one row per (update, lr, probe): the PROBE_COLUMNS (dH_exact and its
six predictions, probes.py's docstring gives each formula and source), the probe's kind
and whether the batch visited it. `audit_stats` scores each prediction against dH_exact
with simrl/residual_stats.py `fit_stats` per (lr, subset). Restrictions (one-line errors):
no KL term (kl_coef, kl_in_reward), no advantage that reads a greedy rollout, no
controllers; the task's reward must have a per-completion expectation (not
self_consistency) for Cui's prediction.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from simrl import controllers, io
from simrl.algorithms.advantage import ADVANTAGES
from simrl.algorithms.advantage import compute as compute_advantages
from simrl.algorithms.losses import POLICY_LOSSES
from simrl.bridge.collect import collect
from simrl.bridge.probes import (
    PROBE_COLUMNS,
    Probe,
    expected_advantages,
    probe_breakdown_rows,
    probe_index,
    probe_logits,
)
from simrl.bridge.quadrants import QuadrantSums, quadrant_rows
from simrl.bridge.rewards import answer_reward
from simrl.bridge.rollout import sample, score, scoring_batch
from simrl.bridge.step import Context, audit_columns, old_policy_stats
from simrl.bridge.study import bridge_config
from simrl.bridge.update import TALLY, ProbeSums, UpdateBatch, make_optimizer, ppo_update
from simrl.errors import ConfigError
from simrl.residual_stats import STATS, fit_stats

#: the predictions scored against dH_exact (probes.py: PROBE_COLUMNS[1:])
PREDICTORS = PROBE_COLUMNS[1:]
#: predictions made from the actual logit change (defined at every probe); the others
#: treat a probe's logits as free tabular parameters, so they are 0 at unvisited probes
ACTUAL_CHANGE = ("dH_first_order", "dH_second_order")
#: probe kinds, in the order build_probe_set makes them
KINDS = ("prompt", "partial", "heldout_prompt", "heldout_partial")
PROBE_FORMAT = 1


@dataclass(frozen=True)
class ProbeSet:
    probes: list[Probe]
    kinds: list[str]
    texts: list[str]  # the prefix's completion text (the prompt's is not repeated)


def build_probe_set(
    model, fmt, train, heldout, n_train: int, n_heldout: int, cuts: int, seed: int, T: int,
    temperature: float, device,
) -> ProbeSet:  # fmt: skip
    """The probe set of the module doc (problem indices as probes.Probe: i for train[i],
    -1 - i for heldout[i])."""
    if n_train > len(train) or n_heldout > len(heldout):
        raise ConfigError(
            "probes",
            f"{n_train} train, {n_heldout} held out",
            f"at most the task's {len(train)} training and {len(heldout)} held-out problems",
        )
    chosen = [(i, train[i]) for i in range(n_train)] + [
        (-1 - i, heldout[i]) for i in range(n_heldout)
    ]
    prompts = [fmt.prompt_ids(p) for _, p in chosen]
    draw = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))
    cut_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
    c = sample(model, prompts, T, temperature, fmt.eos_id, fmt.pad_id,
               draw.random((len(prompts), T)), device)  # fmt: skip
    probes, kinds, texts = [], [], []
    for k, (idx, _) in enumerate(chosen):
        base = "prompt" if idx >= 0 else "heldout_prompt"
        part = "partial" if idx >= 0 else "heldout_partial"
        prompt = tuple(int(x) for x in prompts[k])
        probes.append(Probe(idx, prompt, ()))
        kinds.append(base)
        texts.append("")
        toks = c.tokens[k, : int(c.mask[k].sum())].tolist()
        if toks and toks[-1] == fmt.eos_id:
            toks = toks[:-1]
        points = np.arange(1, len(toks))
        if points.size == 0:
            continue
        at = np.sort(cut_rng.choice(points, size=min(cuts, points.size), replace=False))
        for j in at:
            prefix = tuple(int(x) for x in toks[:j])
            probes.append(Probe(idx, prompt, prefix))
            kinds.append(part)
            texts.append(fmt.decode(list(prefix)))
    return ProbeSet(probes, kinds, texts)


def save_probes(path: str | Path, ps: ProbeSet, meta: dict) -> None:
    rows = [
        {"problem": p.problem, "kind": k, "prompt": list(p.prompt), "prefix": list(p.prefix),
         "prefix_text": t}
        for p, k, t in zip(ps.probes, ps.kinds, ps.texts, strict=True)
    ]  # fmt: skip
    data = {"format": PROBE_FORMAT, **meta, "probes": rows}
    io.write_text(Path(path), json.dumps(data, indent=1) + "\n")


def load_probes(path: str | Path) -> tuple[ProbeSet, dict]:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError("probes", str(path), f"must be a probe-set JSON file ({e})") from None
    if data.get("format") != PROBE_FORMAT:
        raise ConfigError("probes", str(path), f"must have format {PROBE_FORMAT}")
    rows = data.pop("probes")
    ps = ProbeSet(
        [Probe(int(r["problem"]), tuple(r["prompt"]), tuple(r["prefix"])) for r in rows],
        [r["kind"] for r in rows],
        [r["prefix_text"] for r in rows],
    )
    return ps, data


def check_config(cfg) -> None:
    """The restrictions of the module doc, before any work."""
    a = cfg.algo
    if a.kl_coef > 0 or a.kl_in_reward:
        raise ConfigError("algo.kl_coef", a.kl_coef, "must be 0 (no KL term) in the entropy audit")
    if ADVANTAGES[a.advantage].reads_greedy:
        raise ConfigError(
            "algo.advantage", a.advantage, "must not read a greedy rollout in the entropy audit"
        )
    if controllers.active(a):
        raise ConfigError("algo", "controllers", "must be off in the entropy audit")
    if a.dynamic_sampling != "off":
        raise ConfigError(
            "algo.dynamic_sampling", a.dynamic_sampling, "must be 'off' in the entropy audit"
        )


def audit_table(ctx: Context, ps: ProbeSet, lrs, updates: int, seed: int, progress=None, sink=None):
    """One row per (update, lr, probe): update, lr, probe, kind, visited, the batch's mean
    reward, the update's clip fraction (clip_low + clip_high over all epochs), PROBE_COLUMNS
    (and with run.audit_quadrants STEER's quadrant split, QUADRANT_METRICS:
    simrl/bridge/quadrants.py).
    `sink(table)`, if given, gets the rows so far after each (update, lr): a long run's
    finished part is kept if it is stopped."""
    cfg, dev = ctx.cfg, ctx.device
    check_config(cfg)
    a = cfg.algo
    labels = np.array([p.answer + 1 for p in ctx.train])  # unused by answer-based rewards
    temp = cfg.bridge.temperature
    probes = ps.probes
    expect = answer_reward(cfg, ctx.fmt, ctx.train, ctx.heldout, labels, ctx.reward)
    # pi_old as rl_step holds it: a copy whose parameters require grad. Not ctx.base: a
    # forward through parameters that require grad rounds differently even under
    # no_grad (measured on the tiny model: logits differ by 2e-7), which would put a
    # spurious change of that size into every dH_exact
    pi_old = copy.deepcopy(ctx.base)
    for p in pi_old.parameters():
        p.requires_grad_(True)
    rows = []
    for u in range(updates):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(u, 0)))
        audit_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(u, 1)))
        comp, problem, rewards, _, _, _ = collect(ctx, pi_old, labels, rng)
        keys = None
        if POLICY_LOSSES[a.loss].uses_keys:
            keys = rng.random((a.epochs, comp.tokens.shape[0], cfg.bridge.max_new_tokens))
        lengths = comp.mask.sum(-1).double().numpy().reshape(rewards.shape)
        adv = compute_advantages(a.advantage, rewards, a, lengths, None)
        s = scoring_batch(comp, ctx.fmt.pad_id, dev)
        logp_old, h_old, _, _ = old_policy_stats(
            pi_old, ctx.base, s, cfg, comp.tokens, comp.mask, dev
        )
        where = probe_index(probes, problem, comp.tokens, comp.mask)
        visited = sorted(set(where.values()))
        z0 = probe_logits(pi_old, probes, ctx.fmt.pad_id, temp, dev)
        probe_adv = np.zeros(z0.shape)
        if cfg.run.audit and visited:
            sub = [probes[j] for j in visited]
            probe_adv[visited] = expected_advantages(
                pi_old, ctx.fmt, sub, z0[visited], cfg, expect, audit_rng, dev
            )
        for lr in lrs:
            cfg_lr = bridge_config(cfg, optim={"lr": float(lr)})
            policy = copy.deepcopy(pi_old)
            params = list(policy.parameters())
            batch = UpdateBatch(
                tokens=comp.tokens,
                mask=comp.mask,
                adv=torch.as_tensor(adv.ravel(), dtype=torch.float32, device=dev),
                logp_old=logp_old.clone(),
                entropy_old=h_old.clone(),
                logp_ref=None,
                n_groups=rewards.shape[0],
                group_size=a.group_size,
            )
            quads = None
            if cfg.run.audit_quadrants:  # simrl/bridge/quadrants.py
                quads = QuadrantSums.start(len(probes), params)
            sums = ProbeSums.empty(where, len(probes), quads)
            tally = ppo_update(
                cfg_lr,
                batch,
                forward=lambda idx, policy=policy, s=s: score(policy, s, idx, temp, dev),
                optimizer=make_optimizer(cfg_lr, params),
                params=params,
                keys=keys,
                probes=sums,
                max_grad_norm=cfg.bridge.max_grad_norm,
            )
            tl = dict(zip(TALLY, tally, strict=True))
            # tokens whose gradient the clip removed, over all epochs (step.py's clip fractions)
            clip_frac = (tl["low"] + tl["high"]) / tl["counted"] if tl["counted"] else np.nan
            z1 = probe_logits(policy, probes, ctx.fmt.pad_id, temp, dev)
            br = probe_breakdown_rows(z0, z1, sums, probe_adv if cfg.run.audit else None, lr)
            if quads is not None:  # the quadrant split's columns after the breakdown's
                alone = quads.alone_logits(
                    params,
                    lambda policy=policy: probe_logits(policy, probes, ctx.fmt.pad_id, temp, dev),
                )
                br = np.concatenate([br, quadrant_rows(z0, z1, quads.first, alone)], axis=1)
            for j in range(len(probes)):
                rows.append(
                    {"update": u, "lr": float(lr), "probe": j, "kind": ps.kinds[j],
                     "visited": bool(sums.weight[j] > 0),
                     "reward_mean": float(rewards.mean()),
                     "clip_frac": clip_frac,
                     **dict(zip(audit_columns(cfg), br[j].tolist(), strict=True))}
                )  # fmt: skip
            del policy, params
            if progress:
                progress(u, lr)
            if sink:
                sink(pd.DataFrame(rows))
    return pd.DataFrame(rows)


#: the subsets audit_stats scores: every probe, the batch-visited ones, the rest
SUBSETS = ("all", "visited", "unvisited")


def audit_stats(table: pd.DataFrame) -> pd.DataFrame:
    """fit_stats of each prediction against dH_exact per (lr, subset), over the updates'
    probes; one row per (lr, subset, predictor), columns STATS."""
    out = []
    for lr, g in table.groupby("lr", sort=True):
        for subset in SUBSETS:
            h = g if subset == "all" else g[g["visited"] == (subset == "visited")]
            for pred in PREDICTORS:
                st = fit_stats(h["dH_exact"].to_numpy(float), h[pred].to_numpy(float))
                out.append({"lr": lr, "subset": subset, "predictor": pred, **st})
    return pd.DataFrame(out, columns=["lr", "subset", "predictor", *STATS])


def audit_context(cfg, task=None) -> Context:
    """The Context of a bridge run (as simrl/bridge/run.py `run_bridge` builds it): the
    built-in split or a user's BridgeTask, the base model loaded and frozen; no probes
    (the audit brings its own set)."""
    from simrl.bridge.device import configure, resolve_device
    from simrl.bridge.model import check_context, load_policy
    from simrl.bridge.run import problem_sets
    from simrl.bridge.tasks import builtin_task, check_one_task, with_task_verifier

    dev = resolve_device(cfg.bridge.device)
    configure(dev)
    check_one_task(cfg, task is not None)
    if task is None:  # bridge.task: a built-in task by name
        task = builtin_task(cfg)
    train, heldout = problem_sets(cfg, task)
    base, fmt = load_policy(cfg)
    fmt = with_task_verifier(fmt, task)
    check_context(cfg, [*train, *heldout], base, fmt)
    base = base.to(dev)
    for p in base.parameters():
        p.requires_grad_(False)
    per_step = 0 if task is None else (cfg.algo.prompts_per_step or len(train))
    reward = None if task is None else task.reward
    return Context(cfg, fmt, train, heldout, base, dev, [], reward, per_step)


def main(argv=None) -> int:
    """python -m simrl.bridge.entropy_audit CONFIG --out DIR [--task F.py:FN] [--probes P.json]
    [--lrs 1e-6,1e-5] [--updates N] [--seed S] [--n-train N --n-heldout N --cuts K]:
    builds (or loads) the probe set, writes DIR/table.parquet and DIR/stats.csv."""
    import argparse
    import sys
    import time

    from simrl.bridge.config import BridgeRunConfig
    from simrl.validate import require

    ap = argparse.ArgumentParser(prog="python -m simrl.bridge.entropy_audit")
    ap.add_argument("config")
    ap.add_argument("--out", required=True)
    ap.add_argument("--task", default=None)
    ap.add_argument(
        "--probes", default=None, help="probe-set JSON: read if it exists, else written"
    )
    ap.add_argument("--lrs", default="1e-6")
    ap.add_argument("--updates", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-train", type=int, default=8)
    ap.add_argument("--n-heldout", type=int, default=8)
    ap.add_argument("--cuts", type=int, default=2)
    args = ap.parse_args(argv)
    try:
        try:
            lrs = [float(x) for x in args.lrs.split(",")]
        except ValueError:
            raise ConfigError("--lrs", args.lrs, "must be comma-separated numbers") from None
        require(all(np.isfinite(x) and x > 0 for x in lrs), "--lrs", args.lrs, "each must be > 0")
        for name in ("updates", "n_train", "n_heldout"):
            v = getattr(args, name)
            require(v >= (1 if name == "updates" else 0), f"--{name.replace('_', '-')}", v,
                    "must be >= 1" if name == "updates" else "must be >= 0")  # fmt: skip
        require(args.cuts >= 0, "--cuts", args.cuts, "must be >= 0")
        cfg = BridgeRunConfig.from_toml(args.config)
        check_config(cfg)
        task = None
        if args.task:
            from simrl.bridge.cli import load_bridge_task

            task = load_bridge_task(args.task, cfg)
        meta = {"model": cfg.bridge.model or f"tiny-{cfg.pretrain_key()}", "task": args.task,
                "n_train": args.n_train, "n_heldout": args.n_heldout, "cuts": args.cuts,
                "seed": args.seed, "max_new_tokens": cfg.bridge.max_new_tokens,
                "temperature": cfg.bridge.temperature}  # fmt: skip
        ps = None
        if args.probes and Path(args.probes).is_file():  # checked before any work
            ps, stored = load_probes(args.probes)
            for k, v in meta.items():
                if stored.get(k) != v:
                    raise ConfigError(
                        "--probes",
                        args.probes,
                        f"was built with {k} = {stored.get(k)!r}, not {v!r}",
                    )
        torch.set_num_threads(1)
        ctx = audit_context(cfg, task)
        if ps is None:
            ps = build_probe_set(
                ctx.base, ctx.fmt, ctx.train, ctx.heldout, args.n_train, args.n_heldout,
                args.cuts, args.seed, cfg.bridge.max_new_tokens, cfg.bridge.temperature,
                ctx.device,
            )  # fmt: skip
            if args.probes:
                save_probes(args.probes, ps, meta)
    except ConfigError as e:
        print(f"simrl: config error: {e}", file=sys.stderr)
        return 2
    start = time.time()

    def progress(u, lr):
        print(
            f"update {u} lr {lr:g} done at {time.time() - start:.0f} s", file=sys.stderr, flush=True
        )

    out = Path(args.out)

    def sink(rows):  # the finished part, replaced atomically; removed once the run is done
        io.write_parquet(out / "partial.parquet", rows)

    table = audit_table(ctx, ps, lrs, args.updates, args.seed, progress, sink)
    io.write_parquet(out / "table.parquet", table)
    io.write_text(out / "stats.csv", audit_stats(table).to_csv(index=False))
    (out / "partial.parquet").unlink(missing_ok=True)
    print(f"{len(ps.probes)} probes x {len(lrs)} step sizes x {args.updates} updates -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
