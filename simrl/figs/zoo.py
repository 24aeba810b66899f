"""The algorithm_zoo figure (paper_figs/fig11_algorithm_zoo.py): its data and its plot.

Kept beside data.py and plots.py (each near the project's 500-line limit) in the same two
halves: `zoo_changes(root)` reads stored results, `plot_zoo(changes)` is a pure function
of the tidy table it returns.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt

from simrl.figs.data import results, study_dir
from simrl.figs.plots import mean_ci
from simrl.figs.style import FULL

STUDY = "algorithm_zoo"
#: the per-run changes since step 0 the figure shows, as results.parquet names them
CHANGES = {
    "acc - acc@0": "accuracy change",
    "entropy_mean - entropy_mean@0": "entropy change (nats)",
}
PANELS = (("bandit", "weak"), ("bandit", "strong"), ("sequence", "weak"), ("sequence", "strong"))
#: the predicted direction of the random reward's accuracy change at the strong prior
PREDICTED = {"greater": ("up (sign-dependent trust region)", "#0072B2"),
             "less": ("down (no sign asymmetry / NSR)", "#D55E00")}  # fmt: skip


def predicted_strong(root: Path | None = None) -> dict[str, str]:
    """algorithm -> the registered direction of R_<algorithm>_strong, read from prereg.toml."""
    spec = tomllib.loads((study_dir(STUDY, root) / "prereg.toml").read_text())
    out = {}
    for h in spec["hypothesis"]:
        if h["id"].startswith("R_") and h["id"].endswith("_strong"):
            out[h["where"]["algorithm"]] = h["direction"]
    return out


def zoo_changes(root: Path | None = None) -> pd.DataFrame:
    """Under the random reward: per algorithm, task, prior and outcome (CHANGES), the mean
    change since step 0 over seeds with its 95% t-interval, and the registered direction
    at the strong prior. Columns: algorithm, task, prior, outcome, mean, lo, hi, predicted."""
    res = results(STUDY, root)
    res = res[res["reward"].astype(str) == "random"]
    for f in ("algorithm", "task", "prior"):
        res[f] = res[f].astype(str)
    rows = []
    for col, label in CHANGES.items():
        m = mean_ci(res, ["algorithm", "task", "prior"], col)
        rows.append(m.assign(outcome=label))
    out = pd.concat(rows, ignore_index=True)
    pred = predicted_strong(root)
    out["predicted"] = out["algorithm"].map(pred)
    order = list(pred)  # the spec's order of the algorithms
    out["order"] = out["algorithm"].map({a: i for i, a in enumerate(order)})
    return out.sort_values(["outcome", "order", "task", "prior"]).drop(columns="order")


def plot_zoo(changes: pd.DataFrame):
    """Fig. 11. changes: algorithm, task, prior, outcome, mean, lo, hi, predicted. One row
    of panels per outcome, one column per (task, prior); one line per algorithm, coloured
    by its registered direction at the strong prior."""
    outcomes = list(dict.fromkeys(changes["outcome"]))
    algos = list(dict.fromkeys(changes["algorithm"]))
    fig, axes = plt.subplots(
        len(outcomes), len(PANELS), figsize=(FULL, 0.14 * len(algos) * len(outcomes) + 1.0),
        sharey=True, constrained_layout=True, squeeze=False,
    )  # fmt: skip
    y = np.arange(len(algos))
    for r, outcome in enumerate(outcomes):
        for c, (task, prior) in enumerate(PANELS):
            ax = axes[r, c]
            part = changes[
                (changes["outcome"] == outcome)
                & (changes["task"] == task)
                & (changes["prior"] == prior)
            ].set_index("algorithm").reindex(algos)  # fmt: skip
            for direction, (label, col) in PREDICTED.items():
                sel = (part["predicted"] == direction).to_numpy()
                d = part[sel]
                ax.errorbar(
                    d["mean"], y[sel], xerr=[d["mean"] - d["lo"], d["hi"] - d["mean"]],
                    fmt="o", markersize=2.5, color=col, capsize=1.0, linewidth=0.8,
                    label=label,
                )  # fmt: skip
            ax.axvline(0, color="black", linewidth=0.5)
            ax.set_title(f"{task}, {prior} prior", fontsize="small")
            ax.set_xlabel(outcome, fontsize="small")
            if c == 0:
                ax.set_yticks(y, algos, fontsize="x-small")
    axes[0, 0].invert_yaxis()
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, fontsize="x-small",
               title="registered direction at the strong prior", title_fontsize="x-small")  # fmt: skip
    return fig, axes
