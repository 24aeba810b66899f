"""The overlap_entropy figure (paper_figs/fig13_overlap_entropy.py): its data and its plot.

In the two halves of data.py and plots.py (kept beside them, as simrl/figs/zoo.py):
`overlap_changes(root)` reads the study's results.parquet, `plot_overlap_entropy(changes)`
is a pure function of the tidy table it returns.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pandas as pd
from matplotlib import pyplot as plt

from simrl.figs.data import results, study_dir
from simrl.figs.plots import mean_ci
from simrl.figs.style import FULL, color, method_label

STUDY = "overlap_entropy"
#: the per-run outcomes the figure shows, as results.parquet names them, with their labels
OUTCOMES = {
    "dH_heldout_total": "held-out prompts: entropy change (nats)",
    "entropy_mean - entropy_mean@0": "trained prompts: entropy change (nats)",
    "median_rel_err(dH_spill_first_order)": "spill term: median rel. error",
}


def rho_values(root: Path | None = None) -> dict[str, float]:
    """rho level label -> its policy.rho, read from the registered prereg.toml."""
    spec = tomllib.loads((study_dir(STUDY, root) / "prereg.toml").read_text())
    factor = next(f for f in spec["factor"] if f["name"] == "rho")
    return {label: float(lv["policy"]["rho"]) for label, lv in factor["levels"].items()}


def overlap_changes(root: Path | None = None) -> pd.DataFrame:
    """Per intervention, rho and outcome (OUTCOMES): the mean over included seeds with its
    95% t-interval. Columns: intervention, rho (the number), outcome, mean, lo, hi. The
    spill term's error is left out at rho = 0, where the exact held-out change and its
    first-order prediction are both 0 (rounding) and a relative error means nothing."""
    res = results(STUDY, root)
    res["intervention"] = res["intervention"].astype(str)
    rho = rho_values(root)
    res["rho"] = res["rho"].astype(str).map(rho)
    order = list(dict.fromkeys(res["intervention"]))
    rows = []
    for col, label in OUTCOMES.items():
        part = res if col != "median_rel_err(dH_spill_first_order)" else res[res["rho"] > 0]
        rows.append(mean_ci(part, ["intervention", "rho"], col).assign(outcome=label))
    out = pd.concat(rows, ignore_index=True)
    out["order"] = out["intervention"].map({a: i for i, a in enumerate(order)})
    out = out.sort_values(["order", "rho"], kind="stable").drop(columns=["order", "std", "count"])
    return out.reset_index(drop=True)


def plot_overlap_entropy(changes: pd.DataFrame):
    """Fig. 13. changes: intervention, rho, outcome, mean, lo, hi. One panel per outcome
    (OUTCOMES' order), x = rho, one line per intervention with its interval as error bars."""
    outcomes = [o for o in OUTCOMES.values() if o in set(changes["outcome"])]
    fig, axes = plt.subplots(
        1, len(outcomes), figsize=(FULL, 2.3), constrained_layout=True, squeeze=False
    )
    arms = list(dict.fromkeys(changes["intervention"]))
    for ax, outcome in zip(axes[0], outcomes, strict=True):
        for i, arm in enumerate(arms):
            d = changes[(changes["outcome"] == outcome) & (changes["intervention"] == arm)]
            dx = (i - (len(arms) - 1) / 2) * 0.008  # a small dodge so the bars do not overlap
            ax.errorbar(
                d["rho"] + dx, d["mean"], yerr=[d["mean"] - d["lo"], d["hi"] - d["mean"]],
                marker="o", markersize=2.5, capsize=1.0, linewidth=0.8,
                color=color(arm), label=method_label(arm),
            )  # fmt: skip
        ax.set_xlabel("feature overlap rho")
        ax.set_title(outcome, fontsize="small")
    axes[0, 0].axhline(0, color="black", linewidth=0.5)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(arms), fontsize="x-small")
    return fig, axes
