"""The smollm2_entropy_audit figure (paper_figs/fig15_smollm2_entropy_audit.py): its data
and its plot. `audit_rows(root)` reads the study's results/table.parquet (one row per
update, step size and probe, simrl/bridge/entropy_audit.py); `plot_smollm2_audit(rows)`
is a pure function of it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt

from simrl.figs.data import MissingResults, study_dir
from simrl.figs.style import FULL
from simrl.residual_stats import fit_stats

STUDY = "smollm2_entropy_audit"
#: predictors drawn in the right panel, with their labels
PREDICTORS = {
    "dH_first_order": "first order",
    "dH_second_order": "second order",
    "dH_cui_t1": "Cui Thm 1",
    "dH_token_sum": "one-token sum",
    "dH_steer_code": "STEER (code)",
}


def audit_rows(root: Path | None = None) -> pd.DataFrame:
    path = study_dir(STUDY, root) / "results" / "table.parquet"
    if not path.is_file():
        raise MissingResults(STUDY, "no results/table.parquet", f"sh experiments/{STUDY}/run.sh")
    return pd.read_parquet(path)


def plot_smollm2_audit(rows: pd.DataFrame):
    """Left: exact dH against the first-order prediction per probe, by step size (log-log of
    the absolute values, sign agreement in the legend). Right: median relative error of each
    predictor by step size, on the probes each one is defined at (first and second order:
    every probe; the tabular ones: the probes the batch visited)."""
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(FULL, FULL * 0.42))
    lrs = sorted(rows["lr"].unique())
    marks = ["o", "s", "^", "D"]
    for i, lr in enumerate(lrs):
        d = rows[np.isclose(rows["lr"], lr)]
        e, p = d["dH_exact"].to_numpy(float), d["dH_first_order"].to_numpy(float)
        st = fit_stats(e, p)
        ax.scatter(np.abs(p), np.abs(e), s=6, marker=marks[i % 4], alpha=0.6,
                   label=f"lr {lr:g}: sign {st['sign_agree']:.2f}")  # fmt: skip
    lim = [max(1e-8, np.abs(rows["dH_exact"]).replace(0, np.nan).min()),
           np.abs(rows[["dH_exact", "dH_first_order"]]).max().max()]  # fmt: skip
    ax.plot(lim, lim, color="0.5", lw=0.8)
    ax.set(xscale="log", yscale="log", xlabel="|first-order prediction| (nats)",
           ylabel="|exact dH| (nats)", title="per probe, SmolLM2-135M")  # fmt: skip
    ax.legend(fontsize=6)
    width = 0.8 / len(PREDICTORS)
    for k, (name, label) in enumerate(PREDICTORS.items()):
        vals = []
        for lr in lrs:
            d = rows[np.isclose(rows["lr"], lr)]
            if name not in ("dH_first_order", "dH_second_order"):
                d = d[d["visited"]]
            vals.append(
                fit_stats(d["dH_exact"].to_numpy(float), d[name].to_numpy(float))["median_rel_err"]
            )
        bx.bar(np.arange(len(lrs)) + k * width, vals, width, label=label)
    bx.set_xticks(np.arange(len(lrs)) + 0.4 - width / 2, [f"{x:g}" for x in lrs])
    bx.set(yscale="log", xlabel="Adam step size", ylabel="median relative error",
           title="by predictor")  # fmt: skip
    bx.axhline(1.0, color="0.5", lw=0.8)
    bx.legend(fontsize=6)
    fig.tight_layout()
    return fig, (ax, bx)
