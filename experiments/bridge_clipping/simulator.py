"""The simulator's predictions for experiments/bridge_clipping, computed before registration.

The analogous conditions on the simulator's sequence task: the task of
experiments/spurious_rewards (8 prompts, vocab 4, 2 reasoning steps, mode accuracies
(0.8, 0.3), one mode state shared by every prompt, format token 0.3), with the bridge
study's batch shape (4 prompts x 4 completions per step), 4 epochs, 50 steps, 64 seeds,
reward {random, true} x clipping {on: vanilla clip 0.2/0.2, off: pg} x prior {0.8, 0.2},
under two optimisers: sgd lr 30 (the step size of spurious_rewards) and Adam at the step
sizes given on the command line. Writes one row per (optimiser, condition, seed):
the change since step 0 of exact accuracy, mean token entropy and the base policy's
top-mode mass, and the clip fractions averaged over the 50 steps (eval_every = steps).

    PYTHONPATH=. python3 experiments/bridge_clipping/simulator.py 0.05 0.1 > /tmp/sim.csv
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
BASE = {
    "task": TASK,
    "reward": {"p": 0.5},
    "algo": {
        "group_size": 4,
        "prompts_per_step": 4,
        "advantage": "grpo",
        "agg": "token-mean",
        "epochs": 4,
    },
    "run": {"steps": 50, "eval_every": 50, "seeds": 64, "passk": [1]},
}
CLIPPING = {
    "on": {"algo.loss": "vanilla", "algo.clip_low": 0.2, "algo.clip_high": 0.2},
    "off": {"algo.loss": "pg"},
}


def conditions(optimisers: list[tuple[str, float]]):
    for kind, lr in optimisers:
        for prior in (0.8, 0.2):
            for reward in ("random", "true"):
                for clipping, fields in CLIPPING.items():
                    over = {
                        "optim.kind": kind,
                        "optim.lr": lr,
                        "task.prior_strength": prior,
                        "reward.kind": reward,
                        **fields,
                    }
                    label = {
                        "optim": f"{kind} {lr:g}",
                        "prior": prior,
                        "reward": reward,
                        "clipping": clipping,
                    }
                    yield label, Config.from_dict(BASE, over)


def main(adam_lrs: list[float]) -> pd.DataFrame:
    labels, specs = [], []
    for label, cfg in conditions([("sgd", 30.0), *(("adam", lr) for lr in adam_lrs)]):
        for seed in range(cfg.run.seeds):
            labels.append({**label, "seed": seed})
            specs.append(RunSpec(cfg, seed))
    res = run_batch(specs)
    col = {name: i for i, name in enumerate(res.names)}
    first, last = res.metrics[:, 0], res.metrics[:, -1]  # (R, M): step 0 and the last step
    rows = []
    for i, label in enumerate(labels):
        rows.append(
            {
                **label,
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
    main([float(a) for a in sys.argv[1:]]).to_csv(sys.stdout, index=False)
