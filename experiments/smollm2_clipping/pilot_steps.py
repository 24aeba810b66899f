"""Multi-step pilot of experiments/smollm2_clipping (spec.md, "Pilot"): the random reward
with clipping on (vanilla 0.2/0.2), GRPO, 4 epochs, at one Adam step size; per step the
clip fraction (clip_low + clip_high over the 4 epochs, simrl/bridge/step.py) and the wall
and CPU seconds of the step; the wall and CPU seconds of the step-0 and last eval rows.
It runs the loop of simrl/bridge/run.py `run_seed` (the same Context, rl_step and
eval_metrics), printing what a study cell only averages.

    HF_HUB_OFFLINE=1 PYTHONPATH=. python3 experiments/smollm2_clipping/pilot_steps.py \\
        --lr 5e-6 --steps 8 --seed 0 [--group 8] [--eval-samples 4] > pilot_lr5e-6.jsonl

One JSON line per event; not part of the registered data.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time

import numpy as np
import torch

from simrl.bridge.config import BridgeRunConfig
from simrl.bridge.device import configure, resolve_device
from simrl.bridge.metrics import eval_metrics
from simrl.bridge.model import check_context, load_policy
from simrl.bridge.rewards import wrong_label
from simrl.bridge.run import problem_sets, seed_generator
from simrl.bridge.step import Context, rl_step
from simrl.bridge.tasks import builtin_task, with_task_verifier
from simrl.bridge.update import make_optimizer


def config(lr: float, group: int, eval_samples: int, reward: str, loss: str) -> BridgeRunConfig:
    algo = {"group_size": group, "prompts_per_step": 4, "advantage": "grpo",
            "agg": "token-mean", "epochs": 4, "loss": loss}  # fmt: skip
    if loss == "vanilla":
        algo.update(clip_low=0.2, clip_high=0.2)
    return BridgeRunConfig.from_dict(
        {
            "bridge": {
                "model": "smollm2",
                "task": "arith2",
                "max_operand": 9,
                "task_seed": 0,
                "train_prompts": 32,
                "eval_prompts": 32,
                "max_new_tokens": 16,
                "temperature": 1.0,
                "eval_samples": eval_samples,
                "probe_prompts": 0,
                "device": "cpu",
            },
            "reward": {"kind": reward, "p": 0.5},
            "algo": algo,
            "optim": {"kind": "adam", "lr": lr},
            "run": {"steps": 1, "seeds": 1, "audit": False, "passk": [1]},
        }
    )


def clock():
    return time.perf_counter(), time.process_time()


def since(t):
    w, c = clock()
    return round(w - t[0], 2), round(c - t[1], 2)


def emit(**kw) -> None:
    print(json.dumps(kw), flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0, help="replicate index (run.seed 0)")
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--eval-samples", type=int, default=4)
    ap.add_argument("--reward", default="random")
    ap.add_argument("--loss", default="vanilla")
    ap.add_argument("--final-eval", action="store_true")
    ap.add_argument("--skip-eval0", action="store_true", help="no step-0 eval (labels 0)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = config(args.lr, args.group, args.eval_samples, args.reward, args.loss)
    emit(event="start", lr=args.lr, group=args.group, eval_samples=args.eval_samples,
         loadavg=os.getloadavg(), reward=args.reward, loss=args.loss)  # fmt: skip
    dev = resolve_device("cpu")
    configure(dev)
    task = builtin_task(cfg)
    train, heldout = problem_sets(cfg, task)
    base, fmt = load_policy(cfg)
    fmt = with_task_verifier(fmt, task)
    check_context(cfg, [*train, *heldout], base, fmt)
    for p in base.parameters():
        p.requires_grad_(False)
    ctx = Context(cfg, fmt, train, heldout, base, dev, [], None, cfg.prompts_per_step)
    r = args.seed
    policy = copy.deepcopy(base)
    for p in policy.parameters():
        p.requires_grad_(True)
    params = list(policy.parameters())
    opt = make_optimizer(cfg, params)
    train_rng, eval_rng, audit_rng = (seed_generator(cfg, r, s) for s in range(3))
    n = cfg.bridge.eval_samples
    labels, top = np.zeros(len(train), dtype=int), None
    if not args.skip_eval0:
        t = clock()
        ev, samples = eval_metrics(
            policy, base, fmt, train, heldout, None, None, cfg, eval_rng, dev
        )
        w, c = since(t)
        labels = np.array(
            [wrong_label(samples.answers[i * n : (i + 1) * n], p.answer)
             for i, p in enumerate(train)]
        )  # fmt: skip
        top = int(np.bincount(samples.modes).argmax())
        emit(event="eval", step=0, wall_s=w, cpu_s=c, loadavg=os.getloadavg(),
             acc=ev["acc"], acc_heldout=ev["acc_heldout"], acc_greedy=ev["acc_greedy"],
             entropy_mean=ev["entropy_mean"], mass_base_top=ev["mass_base_top"], top_mode=top)  # fmt: skip
    for step in range(args.steps):
        t = clock()
        um, _ = rl_step(
            ctx, policy, base, opt, params, labels, step, train_rng, audit_rng, None, None
        )
        w, c = since(t)
        emit(event="step", step=step + 1, wall_s=w, cpu_s=c, loadavg=os.getloadavg(),
             clip=um["clip_low_frac"] + um["clip_high_frac"], clip_low=um["clip_low_frac"],
             clip_high=um["clip_high_frac"], reward_mean=um["reward_mean"],
             tokens=um["tokens_per_response"], kl_ref=um["kl_ref"])  # fmt: skip
    if args.final_eval:
        t = clock()
        ev, _ = eval_metrics(policy, base, fmt, train, heldout, labels, top, cfg, eval_rng, dev)
        w, c = since(t)
        emit(event="eval", step=args.steps, wall_s=w, cpu_s=c, loadavg=os.getloadavg(),
             acc=ev["acc"], acc_heldout=ev["acc_heldout"], acc_greedy=ev["acc_greedy"],
             entropy_mean=ev["entropy_mean"], mass_base_top=ev["mass_base_top"],
             mode_usage_0=ev["mode_usage_0"], mass_format=ev["mass_format"])  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
