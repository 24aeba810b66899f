"""The overlap_spurious figure (paper_figs/fig12_overlap_spurious.py): its data and its plot.

Kept beside data.py and plots.py in the same two halves as simrl/figs/zoo.py:
`overlap_accuracy(root)` reads stored results, `plot_overlap_spurious(table)` is a pure
function of the tidy table it returns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt

from simrl.figs.data import results
from simrl.figs.plots import mean_ci
from simrl.figs.style import FULL

STUDY = "overlap_spurious"
PRIORS = ("weak", "strong")
#: reward level -> colour (Okabe-Ito); clipping level -> line style
COLOURS = {"frozen": "#000000", "random": "#D55E00", "self_consistency": "#0072B2",
           "true": "#009E73"}  # fmt: skip
STYLES = {"on": "-", "off": "--"}


def overlap_accuracy(root: Path | None = None) -> pd.DataFrame:
    """Final accuracy per (prior, reward, clipping, rho): mean and 95% t-interval over seeds,
    excluded runs dropped. Columns: prior, reward, clipping, rho (float), mean, lo, hi,
    overlap (the mean policy_overlap of the cell: the kernel's normalised off-diagonal)."""
    res = results(STUDY, root)
    for f in ("prior", "reward", "clipping"):
        res[f] = res[f].astype(str)
    res["rho"] = res["rho"].astype(str).astype(float)
    out = mean_ci(res, ["prior", "reward", "clipping", "rho"], "acc")
    ov = res.groupby(["prior", "reward", "clipping", "rho"])["policy_overlap"].mean()
    out = out.merge(ov.rename("overlap").reset_index(), on=["prior", "reward", "clipping", "rho"])
    return out.sort_values(["prior", "reward", "clipping", "rho"]).reset_index(drop=True)


def plot_overlap_spurious(table: pd.DataFrame):
    """Fig. 12. table: prior, reward, clipping, rho, mean, lo, hi, overlap. One panel per
    prior: final accuracy against rho, one colour per reward, solid = clipped, dashed = not;
    the top axis names the measured policy.overlap at each rho."""
    fig, axes = plt.subplots(1, len(PRIORS), figsize=(FULL, 2.4), constrained_layout=True,
                             squeeze=False)  # fmt: skip
    for ax, prior in zip(axes[0], PRIORS, strict=True):
        part = table[table["prior"] == prior]
        for (reward, clip), d in part.groupby(["reward", "clipping"], sort=True):
            d = d.sort_values("rho")
            col = COLOURS.get(reward, "#999999")
            ax.errorbar(
                d["rho"], d["mean"], yerr=[d["mean"] - d["lo"], d["hi"] - d["mean"]],
                fmt="o", linestyle=STYLES.get(clip, ":"), color=col, markersize=2.5,
                linewidth=0.9, capsize=1.0, label=f"{reward}, clip {clip}",
            )  # fmt: skip
        ax.set_title(f"{prior} prior", fontsize="small")
        ax.set_xlabel("feature overlap rho", fontsize="small")
        ax.set_ylim(-0.02, 1.02)
        rhos = np.sort(part["rho"].unique())
        if len(rhos):
            ov = part.groupby("rho")["overlap"].mean().reindex(rhos)
            top = ax.secondary_xaxis("top")
            top.set_xticks(rhos, [f"{v:.2f}" for v in ov], fontsize="xx-small")
            top.set_xlabel("policy.overlap", fontsize="x-small")
    axes[0, 0].set_ylabel("accuracy after 100 steps", fontsize="small")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize="x-small")
    return fig, axes
