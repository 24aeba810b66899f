"""The simulator's predictions for experiments/smollm2_clipping, computed before registration.

experiments/bridge_clipping/simulator.py's conditions (the sequence task of
experiments/spurious_rewards: 8 prompts, vocab 4, 2 reasoning steps, mode accuracies
(0.8, 0.3), one shared mode state, format token 0.3; reward {random, true} x clipping
{on: vanilla 0.2/0.2, off: pg} x prior {0.8, 0.2}), with THIS study's batch shape (4
prompts x 8 completions per step), 4 epochs and its number of steps, 64 seeds, the numpy
reference engine (no compile), under sgd lr 30 (spurious_rewards' step size) and Adam at
the step sizes given. One row per (optimiser, condition, seed): the change since step 0
of exact accuracy, mean token entropy and the base policy's top-mode mass, and the clip
fractions averaged over the steps since the last recorded one, at every step from 1 to
STEPS (eval_every = 1: the row at step t is what a run of t steps ends with, because the
simulator's eval rows use no random numbers), so that the row of the registered number of
steps can be read off.

    PYTHONPATH=. python3 experiments/smollm2_clipping/simulator.py STEPS 0.1 0.2 0.5 > simulator.csv
"""

from __future__ import annotations

import sys

import pandas as pd

from simrl import Config, RunSpec, run_batch

TASK = {
    "kind": "sequence",
    "num_prompts": 8,
    "vocab": 4,
    "reasoning_tokens": 2,
    "num_modes": 2,
    "mode_accuracy": [0.8, 0.3],
    "share_mode_state": True,
    "format_mass": 0.3,
}
CLIPPING = {
    "on": {"algo.loss": "vanilla", "algo.clip_low": 0.2, "algo.clip_high": 0.2},
    "off": {"algo.loss": "pg"},
}
SEEDS = 64


def base(steps: int) -> dict:
    return {
        "task": TASK,
        "reward": {"p": 0.5},
        "algo": {"group_size": 8, "prompts_per_step": 4, "advantage": "grpo",
                 "agg": "token-mean", "epochs": 4},
        "run": {"steps": steps, "eval_every": 1, "seeds": SEEDS, "passk": [1]},
    }  # fmt: skip


def conditions(steps: int, optimisers: list[tuple[str, float]]):
    for kind, lr in optimisers:
        for prior in (0.8, 0.2):
            for reward in ("random", "true"):
                for clipping, fields in CLIPPING.items():
                    over = {"optim.kind": kind, "optim.lr": lr, "task.prior_strength": prior,
                            "reward.kind": reward, **fields}  # fmt: skip
                    label = {"optim": f"{kind} {lr:g}", "prior": prior, "reward": reward,
                             "clipping": clipping}  # fmt: skip
                    yield label, Config.from_dict(base(steps), over)


def main(steps: int, adam_lrs: list[float]) -> pd.DataFrame:
    labels, specs = [], []
    for label, cfg in conditions(steps, [("sgd", 30.0), *(("adam", lr) for lr in adam_lrs)]):
        for seed in range(SEEDS):
            labels.append({**label, "seed": seed})
            specs.append(RunSpec(cfg, seed))
    res = run_batch(specs, engine="reference")
    col = {name: i for i, name in enumerate(res.names)}
    first = res.metrics[:, 0]
    rows = []
    for t in range(1, steps + 1):
        last = res.metrics[:, list(res.row_steps).index(t)]
        for i, label in enumerate(labels):
            rows.append(
                {
                    **label,
                    "step": t,
                    "acc0": first[i, col["acc"]],
                    "acc": last[i, col["acc"]],
                    **{
                        f"d_{k}": last[i, col[k]] - first[i, col[k]]
                        for k in ("acc", "entropy_mean", "mass_base_top")
                    },
                    **{k: last[i, col[k]] for k in ("clip_low_frac", "clip_high_frac")},
                    "failed_step": int(res.failed_step[i]),
                }
            )
    return pd.DataFrame(rows)


if __name__ == "__main__":
    main(int(sys.argv[1]), [float(a) for a in sys.argv[2:]]).to_csv(sys.stdout, index=False)
