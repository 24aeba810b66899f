"""The simulator's predictions for this study from simulator.csv (simulator.py's output):
paired-by-seed means with 95% t-intervals, per optimiser and prior, at step STEP.

    PYTHONPATH=. python3 experiments/smollm2_clipping/simulator_summary.py simulator.csv 8
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
from scipy import stats


def ci(x: np.ndarray) -> str:
    m, se = x.mean(), x.std(ddof=1) / np.sqrt(len(x))
    h = stats.t.ppf(0.975, len(x) - 1) * se
    return f"{m:+.3f} [{m - h:+.3f}, {m + h:+.3f}]"


def main(path: str, step: int) -> None:
    df = pd.read_csv(path)
    clip = df[(df.reward == "random") & (df.clipping == "on") & (df.step <= step)]
    last = df[df.step == step]
    for (opt, prior), g in last.groupby(["optim", "prior"], sort=False):

        def col(reward, clipping, k, g=g):
            return g[(g.reward == reward) & (g.clipping == clipping)].set_index("seed")[k]

        c = clip[(clip.optim == opt) & (clip.prior == prior)]
        frac = (c.clip_low_frac + c.clip_high_frac).mean()
        print(f"{opt}, prior {prior} (clip fraction, random, on: {frac:.3f}):")
        rows = {
            "S1 random d_acc on - off": col("random", "on", "d_acc") - col("random", "off", "d_acc"),
            "S2 random d_mass_base_top on - off": col("random", "on", "d_mass_base_top")
            - col("random", "off", "d_mass_base_top"),
            "S3 random d_entropy on - off": col("random", "on", "d_entropy_mean")
            - col("random", "off", "d_entropy_mean"),
            "S4 true d_entropy on - off": col("true", "on", "d_entropy_mean")
            - col("true", "off", "d_entropy_mean"),
            "S5 true, on: d_acc": col("true", "on", "d_acc"),
            "S6 true - random acc, mean over clipping": (
                col("true", "on", "acc") + col("true", "off", "acc")
                - col("random", "on", "acc") - col("random", "off", "acc")
            ) / 2,
        }  # fmt: skip
        for name, x in rows.items():
            print(f"  {name}: {ci(x.to_numpy())}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
