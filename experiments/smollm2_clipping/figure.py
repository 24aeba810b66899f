"""The six registered contrasts on SmolLM2 beside the simulator's predictions.

    PYTHONPATH=. python3 experiments/smollm2_clipping/figure.py [RESULTS.parquet] [OUT.png]

Reads the study's results.parquet (written by `simrl prereg analyze`: one row per run, the
registered outcomes) and simulator.csv (simulator.py, step 8). Per hypothesis, one panel:
SmolLM2's per-seed values (dots), their mean with a 95% t-interval (black), and the
simulator's paired mean with its 95% t-interval at the weak prior (the registered analogue:
colours, one per optimiser) and, for reference, at the strong prior (grey). The intervals
are not adjusted for multiplicity; the verdicts (report.md) are.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

HERE = Path(__file__).parent
STEP = 8

#: id -> (title, bridge outcome, simulator column, kind, where); kind: "clip" = on - off
#: within `where`; "mean" = the value in `where`; "reward" = true - random, mean over clipping
PANELS = {
    "S1": ("random: gain, on - off", "acc_all - acc_all@0", "d_acc", "clip", "random"),
    "S2": ("random: top-mode mass change, on - off", "mass_base_top - mass_base_top@0",
           "d_mass_base_top", "clip", "random"),
    "S3": ("random: entropy change, on - off", "entropy_mean - entropy_mean@0",
           "d_entropy_mean", "clip", "random"),
    "S4": ("true: entropy change, on - off", "entropy_mean - entropy_mean@0",
           "d_entropy_mean", "clip", "true"),
    "S5": ("true, clipped: gain", "acc_all - acc_all@0", "d_acc", "mean", "true"),
    "S6": ("acc_all, true - random (over clipping)", "acc_all", "acc", "reward", None),
}  # fmt: skip


def paired(df: pd.DataFrame, col: str, kind: str, reward, key: str) -> pd.Series:
    """Per-seed values of a contrast; df has reward, clipping, `key` (seed) and col."""
    t = df.pivot_table(index=key, columns=["reward", "clipping"], values=col)
    if kind == "clip":
        return t[(reward, "on")] - t[(reward, "off")]
    if kind == "mean":
        return t[(reward, "on")]
    return (t[("true", "on")] + t[("true", "off")] - t[("random", "on")] - t[("random", "off")]) / 2


def interval(x: np.ndarray) -> tuple[float, float]:
    x = x[np.isfinite(x)]
    if len(x) < 2:
        return np.nan, np.nan
    return float(x.mean()), float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))


def main(results: Path, out: Path) -> None:
    bridge = pd.read_parquet(results)
    bridge = bridge[~bridge["excluded"]]
    sim = pd.read_csv(HERE / "simulator.csv")
    sim = sim[sim["step"] == STEP]
    optims = list(dict.fromkeys(sim["optim"]))
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    for ax, (hid, (title, col, scol, kind, reward)) in zip(axes.flat, PANELS.items(), strict=True):
        x = paired(bridge, col, kind, reward, "seed").to_numpy(float)
        m, h = interval(x)
        ax.scatter(np.zeros_like(x) + np.linspace(-0.08, 0.08, len(x)), x, s=12, color="0.4")
        ax.errorbar([0], [m], yerr=[h], fmt="o", color="black", capsize=4)
        labels = ["SmolLM2\n(8 seeds)"]
        for j, opt in enumerate(optims):
            for k, (prior, colour) in enumerate(((0.2, colours[j]), (0.8, "0.7"))):
                s = sim[(sim["optim"] == opt) & (sim["prior"] == prior)]
                sm, sh = interval(paired(s, scol, kind, reward, "seed").to_numpy(float))
                ax.errorbar([1 + j + 0.2 * k], [sm], yerr=[sh], fmt="s", color=colour, capsize=3)
            labels.append(f"sim\n{opt}")
        ax.axhline(0, color="0.8", lw=0.8, zorder=0)
        ax.set_xticks(range(len(labels)), labels, fontsize=7)
        ax.set_title(f"{hid}: {title}", fontsize=9)
    fig.suptitle(
        "SmolLM2-135M (black: mean, 95% t-interval; dots: seeds) beside the simulator at step "
        f"{STEP}\n(colour: weak prior, the registered analogue; grey: strong prior)",
        fontsize=10,
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    args = sys.argv[1:]
    main(
        Path(args[0]) if args else HERE / "results.parquet",
        Path(args[1]) if len(args) > 1 else HERE / "figures" / "contrasts_vs_simulator.png",
    )
