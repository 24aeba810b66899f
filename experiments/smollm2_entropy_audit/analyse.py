"""Analysis of experiments/smollm2_entropy_audit: the hypotheses of spec.md on
results/table.parquet (written by run.sh), into stats.csv, verdicts.json and report.md.

    PYTHONPATH=. python3 experiments/smollm2_entropy_audit/analyse.py

Each statistic is simrl/residual_stats.py `fit_stats` over the probes of every update at
one step size (simrl/bridge/entropy_audit.py `audit_stats`), with a 95% percentile
bootstrap interval: 2000 resamples of the updates' probe rows at that step size (rows
drawn with replacement, numpy seed 0). A hypothesis is supported when its statistic's
interval lies wholly on the predicted side of its threshold at every step size it names,
not supported when the point estimate is on the other side at any of them, and
inconclusive otherwise (spec.md, "Decision rule").
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from simrl import io
from simrl.bridge.entropy_audit import audit_stats
from simrl.residual_stats import fit_stats

HERE = Path(__file__).parent
RESAMPLES = 2000


def subset(df: pd.DataFrame, name: str) -> pd.DataFrame:
    return df if name == "all" else df[df["visited"] == (name == "visited")]


def stat_fn(kind: str, pred: str | None, stat: str | None):
    """fn(rows) -> the statistic a hypothesis tests."""
    if kind == "fit":
        return lambda d: fit_stats(d["dH_exact"].to_numpy(float), d[pred].to_numpy(float))[stat]
    if kind == "fit_diff":  # stat(a) - stat(b)
        a, b = pred

        def diff(d):
            e = d["dH_exact"].to_numpy(float)
            return (
                fit_stats(e, d[a].to_numpy(float))[stat] - fit_stats(e, d[b].to_numpy(float))[stat]
            )

        return diff
    raise ValueError(kind)


#: the registered hypotheses of spec.md: id -> (subset, statistic, direction, threshold, lrs)
HYPOTHESES = {
    "E1_first_order_sign": (
        "all",
        ("fit", "dH_first_order", "sign_agree"),
        "greater",
        0.9,
        (1e-6, 1e-5),
    ),
    "E2_second_order_better": (
        "all",
        ("fit_diff", ("dH_first_order", "dH_second_order"), "median_rel_err"),
        "greater",
        0.0,
        None,
    ),
    "E3_cui_worse": (
        "visited",
        ("fit_diff", ("dH_cui_t1", "dH_first_order"), "median_rel_err"),
        "greater",
        0.0,
        None,
    ),
    "E4_cui_sign": ("visited", ("fit", "dH_cui_t1", "sign_agree"), "greater", 0.5, None),
    "E5_steer_rank": ("visited", ("fit", "dH_steer_code", "rank_corr"), "greater", 0.0, None),
}


def markdown(df: pd.DataFrame) -> str:
    def cell(x):
        return f"{x:.3g}" if isinstance(x, float) else str(x)

    head = "| " + " | ".join(df.columns) + " |\n|" + "---|" * len(df.columns)
    rows = ["| " + " | ".join(cell(x) for x in r) + " |" for r in df.itertuples(index=False)]
    return "\n".join([head, *rows])


def spill_share(d: pd.DataFrame) -> float:
    """Mean |dH_exact| at unvisited probes over mean |dH_exact| at visited ones."""
    v, u = d[d["visited"]], d[~d["visited"]]
    return float(np.abs(u["dH_exact"]).mean() / np.abs(v["dH_exact"]).mean())


def paired_lrs(table: pd.DataFrame, small: float, large: float) -> pd.DataFrame:
    """One row per (update, probe): dH_exact and dH_first_order at both step sizes."""
    key = ["update", "probe"]
    cols = [*key, "dH_exact", "dH_first_order"]
    a = table[np.isclose(table["lr"], small)][cols]
    b = table[np.isclose(table["lr"], large)][cols]
    return a.merge(b, on=key, suffixes=("_small", "_large"))


def grows(d: pd.DataFrame) -> float:
    """median_rel_err(dH_first_order) at the large step size minus at the small one."""

    def err(sfx):
        e = d["dH_exact" + sfx].to_numpy(float)
        return fit_stats(e, d["dH_first_order" + sfx].to_numpy(float))["median_rel_err"]

    return err("_large") - err("_small")


def bootstrap(d: pd.DataFrame, fn, rng: np.random.Generator) -> tuple[float, float, float]:
    est = float(fn(d))
    vals = []
    for _ in range(RESAMPLES):
        idx = rng.integers(0, len(d), len(d))
        vals.append(fn(d.iloc[idx]))
    vals = np.asarray(vals, float)
    vals = vals[np.isfinite(vals)]
    lo, hi = np.quantile(vals, [0.025, 0.975]) if vals.size else (np.nan, np.nan)
    return est, float(lo), float(hi)


def verdict(parts: list[tuple[float, float, float]], direction: str, thr: float) -> str:
    sign = 1 if direction == "greater" else -1
    if any(not np.isfinite(e) or sign * (e - thr) <= 0 for e, _, _ in parts):
        return "not supported"
    if all(sign * ((lo if sign > 0 else hi) - thr) > 0 for _, lo, hi in parts):
        return "supported"
    return "inconclusive"


def main() -> None:
    table = pd.read_parquet(HERE / "results" / "table.parquet")
    stats = audit_stats(table)
    io.write_text(HERE / "stats.csv", stats.to_csv(index=False))
    lrs = sorted(table["lr"].unique())
    out, lines = {}, []
    hyps = dict(HYPOTHESES)
    hyps["E6_spill"] = ("both", ("spill",), "greater", 0.1, None)
    hyps["E7_first_order_grows"] = ("all", ("grows",), "greater", 0.0, (1e-4,))
    for hid, (sub, spec, direction, thr, only) in hyps.items():
        rng = np.random.default_rng(0)
        parts, per_lr = [], {}
        for lr in only or lrs:
            d = table[np.isclose(table["lr"], lr)]
            if spec[0] == "grows":  # paired: the same (update, probe) rows at 1e-4 and 1e-6
                d = paired_lrs(table, 1e-6, lr)
                fn = grows
            else:
                fn = spill_share if spec[0] == "spill" else stat_fn(*spec)
                d = d if sub == "both" else subset(d, sub)
            est, lo, hi = bootstrap(d, fn, rng)
            parts.append((est, lo, hi))
            per_lr[f"{lr:g}"] = {"estimate": est, "ci95": [lo, hi], "n_rows": len(d)}
        v = verdict(parts, direction, thr)
        # the binding step size (the interval bound nearest the threshold on the predicted
        # side) gives the headline estimate and interval, as simrl reaudit reads them
        sign = 1 if direction == "greater" else -1
        k = int(np.argmin([sign * ((lo if sign > 0 else hi) - thr) for _, lo, hi in parts]))
        out[hid] = {
            "subset": sub,
            "direction": direction,
            "threshold": thr,
            "estimate": parts[k][0],
            "ci": [parts[k][1], parts[k][2]],
            "per_lr": per_lr,
            "verdict": v,
        }
        cells = "; ".join(
            f"lr {k}: {x['estimate']:.3f} [{x['ci95'][0]:.3f}, {x['ci95'][1]:.3f}]"
            for k, x in per_lr.items()
        )
        lines.append(f"| {hid} | {sub} | {direction} {thr:g} | {cells} | **{v}** |")
    data = {"study": "smollm2_entropy_audit", "correction": "none", "hypotheses": out}
    io.write_text(HERE / "verdicts.json", json.dumps(data, indent=1) + "\n")
    n_probes = table["probe"].nunique()
    kinds = table.drop_duplicates("probe")["kind"].value_counts().to_dict()
    visited = table.groupby("lr")["visited"].sum().iloc[0]
    report = [
        "# smollm2_entropy_audit: report (written by analyse.py)",
        "",
        f"{n_probes} probes ({kinds}), {table['update'].nunique()} independent updates from "
        f"the base model, step sizes {', '.join(f'{x:g}' for x in lrs)} (Adam, paired on each "
        f"update's batch); {visited} probe-updates visited by the batch (of "
        f"{n_probes * table['update'].nunique()}).",
        "",
        "| hypothesis | probes | registered | estimate [95% bootstrap CI] per step size | verdict |",
        "|---|---|---|---|---|",
        *lines,
        "",
        "## Every predictor (fit_stats over the probes of all updates)",
        "",
        markdown(stats),
        "",
    ]
    io.write_text(HERE / "report.md", "\n".join(report))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
