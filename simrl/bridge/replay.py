"""The reduced replay grid of `spurious_rewards` / `decomposition` on the tiny model.

    python -m simrl.bridge.replay --out runs/bridge-replay [--seeds 2] [--steps 20]

Grid (issue 6): bridge.prior_mix in {0.2, 0.8} x reward in {random, self_consistency,
true} x clipping {on: vanilla PPO clip 0.2, off: the unclipped 'pg' surrogate}, a few
seeds, everything else as simrl/examples/bridge.toml with algo.epochs = 4 (the clipping
bias needs later epochs: theory/NOTES.md, "Clipping bias") and run.audit = true. Writes
outcomes.parquet (one row per seed and cell, `BridgeResult.final` with the base row's
metrics as *_base), audit.parquet and a summary.csv of seed means; cells are stored as
they finish under cells/, so an interrupted replay resumes. An exploratory driver: the
registered replay is the study experiments/bridge_replay (`design.backend = "bridge"`,
simrl/prereg), whose cells call `bridge_outcomes`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from simrl import io
from simrl.bridge.config import BridgeRunConfig
from simrl.bridge.run import run_bridge
from simrl.examples_path import EXAMPLES

PRIOR_MIXES = (0.2, 0.8)
REWARDS = ("random", "true", "self_consistency")
CLIPPING = {"on": {"algo.loss": "vanilla"}, "off": {"algo.loss": "pg"}}


def replay(
    out: Path,
    seeds: int = 2,
    steps: int = 20,
    progress=None,
    lr: float | None = None,
    rewards: tuple[str, ...] = REWARDS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the grid's missing cells (one parquet per cell under out/cells/, so an
    interrupted replay resumes); return (outcomes, audit) of every finished cell."""
    base = BridgeRunConfig.from_toml(EXAMPLES / "bridge.toml")
    if lr is not None:
        base = base.replace(**{"optim.lr": lr})
    cells = [(m, r, c) for r in rewards for m in PRIOR_MIXES for c in CLIPPING]
    for i, (mix, reward, clip) in enumerate(cells):
        name = out / "cells" / f"{reward}-{mix}-{clip}"
        if (name / "outcomes.parquet").is_file():
            continue
        cfg = base.replace(
            **{
                "bridge.prior_mix": mix,
                "reward.kind": reward,
                "algo.epochs": 4,
                "algo.clip_high": 0.2,
                "run.seeds": seeds,
                "run.steps": steps,
                "run.eval_every": steps,
                **CLIPPING[clip],
            }
        )
        res = run_bridge(cfg)
        cell = {"prior_mix": mix, "reward": reward, "clipping": clip}
        base_row = res.metrics[res.metrics.step == 0].drop(columns="step").add_suffix("_base")
        final = res.final.assign(**cell)
        final = final.merge(base_row.rename(columns={"seed_base": "seed"}), on="seed")
        io.write_parquet(name / "audit.parquet", res.audit.assign(**cell))
        io.write_parquet(name / "outcomes.parquet", final)
        if progress:
            progress(i + 1, len(cells))
    done = sorted((out / "cells").glob("*/outcomes.parquet"))
    outcomes = pd.concat([pd.read_parquet(f) for f in done], ignore_index=True)
    audit = pd.concat([pd.read_parquet(f.with_name("audit.parquet")) for f in done])
    return outcomes, audit.reset_index(drop=True)


def summary(outcomes: pd.DataFrame) -> pd.DataFrame:
    cols = ["acc", "acc_base", "acc_heldout", "acc_heldout_base", "mode_usage_0",
            "mode_usage_0_base", "entropy_mean", "entropy_mean_base", "clip_low_frac",
            "clip_high_frac"]  # fmt: skip
    g = outcomes.groupby(["prior_mix", "reward", "clipping"])[cols]
    out = g.mean()
    out["d_acc"] = out["acc"] - out["acc_base"]
    out["d_acc_se"] = (outcomes["acc"] - outcomes["acc_base"]).groupby(
        [outcomes.prior_mix, outcomes.reward, outcomes.clipping]
    ).std() / g.size().pow(0.5)
    out["d_mode_usage_0"] = out["mode_usage_0"] - out["mode_usage_0_base"]
    return out.reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/bridge-replay"))
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--lr", type=float, default=None, help="optim.lr (default: the example's)")
    parser.add_argument("--rewards", nargs="+", default=list(REWARDS), choices=REWARDS)
    args = parser.parse_args()
    outcomes, audit = replay(
        args.out,
        args.seeds,
        args.steps,
        lambda i, n: print(f"cell {i}/{n}", flush=True),
        args.lr,
        tuple(args.rewards),
    )
    io.write_parquet(args.out / "outcomes.parquet", outcomes)
    io.write_parquet(args.out / "audit.parquet", audit)
    s = summary(outcomes)
    io.write_text(args.out / "summary.csv", s.to_csv(index=False))
    print(s.to_string())


if __name__ == "__main__":
    main()
