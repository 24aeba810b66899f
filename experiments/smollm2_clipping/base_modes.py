"""SmolLM2-135M-Instruct's answer styles on bridge.task = "arith2", before registration
(spec.md, "The base model's modes"): which style the base model uses most and how accurate
each style is, so that the registered direction of the clipping bias (toward the base
model's most used mode) can be stated before any result.

    HF_HUB_OFFLINE=1 PYTHONPATH=. python3 experiments/smollm2_clipping/base_modes.py > base_modes.json

The study's task and sampling (max_operand 9, 32 training + 32 held-out problems,
max_new_tokens 16, temperature 1), eval_samples = 4 sampled replies per problem from a seed
stream of its own (20261207, not a run's), scored by the task's verifier (the first integer
after the first '=', else the last integer: simrl/examples/bridge_arith.py `verify`); style
= simrl/bridge/formats.py ChatFormat.mode (0 "code": the reply contains a step `a op b = c`;
1 "prose": it does not).
"""

import json

import numpy as np
import torch

from simrl.bridge.config import BridgeRunConfig
from simrl.bridge.metrics import rollout
from simrl.bridge.model import load_policy
from simrl.bridge.tasks import builtin_task, with_task_verifier

N = 4


def main() -> None:
    torch.set_num_threads(1)
    cfg = BridgeRunConfig.from_dict(
        {"bridge": {"model": "smollm2", "task": "arith2", "max_operand": 9, "train_prompts": 32,
                    "eval_prompts": 32, "max_new_tokens": 16, "device": "cpu"}}
    )  # fmt: skip
    task = builtin_task(cfg)
    model, fmt = load_policy(cfg)
    fmt = with_task_verifier(fmt, task)
    rng = np.random.default_rng(20261207)
    T = cfg.bridge.max_new_tokens
    problems = [*task.train, *task.heldout]
    v = rollout(
        model, fmt, problems, N, rng.random((len(problems) * N, T)), cfg, torch.device("cpu")
    )
    out = {"samples_per_problem": N, "problems": len(problems), "acc": float(v.correct.mean())}
    for m, name in ((0, "code"), (1, "prose")):
        sel = v.modes == m
        out[name] = {"share": float(sel.mean()),
                     "acc": float(v.correct[sel].mean()) if sel.any() else None,
                     "examples": [t for t, s in zip(v.texts, sel, strict=True) if s][:4]}  # fmt: skip
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
