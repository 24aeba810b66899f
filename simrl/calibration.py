"""Calibrating the simulator's overlap against the bridge's tiny Llama (issue 18, study 3;
experiments/overlap_calibration).

- `match_overlap`: the value of one policy knob (random_features' rho, or a family's
  strength) at which the simulator's `policy.overlap` (simrl.policy.overlap, at
  initialisation) equals a target, by bisection; policy.overlap is monotone in rho (NOTES,
  "Feature families": the off-diagonal kernel is strength^2 rho [a = a']) and in the strength
  (the tabular part's share of the kernel shrinks as the features grow). The target is the
  mean over the given task configs (the two priors), the knob one number for all of them.
- `CONTRASTS` and `contrasts(frame)`: the per-level estimates of bridge_replay's accuracy and
  mode-mass hypotheses B1-B9 (experiments/bridge_replay/prereg.toml): 13 numbers, each the
  mean over seeds of a run's outcome (B1, B5, B6, B8: `test = "mean"`) or of a paired
  difference of two cells' runs of the same seed (B2, B3, B4, B7, B9: `test = "paired"`),
  as simrl/prereg/hypothesis_tests.py computes them (the `each` hypotheses split into one
  contrast per prior). On the simulator the bridge's `mode_prob_code` (the exact mass of
  the code mode, the strong prior's top mode) is `mass_base_top` (the exact mass of the
  base policy's top answer).
- `score(pred, obs)`: how well one simulator configuration's contrasts predict the bridge's:
  sign agreement (the share of contrasts whose estimates have the same sign) and the mean
  absolute error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Contrast:
    id: str  # hypothesis id of bridge_replay, with the level of an `each` split
    outcome: str  # the bridge's outcome column
    where: dict  # the cell (factor -> level) or, for a paired contrast, the fixed factors
    factor: str = ""  # paired: the factor whose two levels are compared
    levels: tuple[str, str] = ("", "")  # paired: (a, b), estimate mean(a - b)


def _each(hid, outcome, where, factor="", levels=("", "")):
    return [
        Contrast(f"{hid}:{p}", outcome, {**where, "prior": p}, factor, levels)
        for p in ("weak", "strong")
    ]


GAIN = "acc_all - acc_all@0"

#: bridge_replay's B1-B9 (prereg.toml), split per prior where the hypothesis has each = prior
CONTRASTS: tuple[Contrast, ...] = (
    Contrast("B1", GAIN, {"prior": "strong", "regime": "clipped", "reward": "random"}),
    Contrast("B2", GAIN, {"reward": "random", "regime": "clipped"}, "prior", ("strong", "weak")),
    Contrast(
        "B3", GAIN, {"prior": "strong", "reward": "random"}, "regime", ("clipped", "on_policy")
    ),
    Contrast(
        "B4",
        "mode_prob_code",
        {"prior": "strong", "reward": "random"},
        "regime",
        ("clipped", "on_policy"),
    ),
    *_each("B5", GAIN, {"regime": "on_policy", "reward": "random"}),
    *_each("B6", GAIN, {"regime": "clipped", "reward": "true"}),
    *_each("B7", "acc_all", {}, "reward", ("true", "random")),
    Contrast("B8", GAIN, {"prior": "strong", "regime": "clipped", "reward": "self_consistency"}),
    *_each("B9", "acc_all", {}, "reward", ("self_consistency", "random")),
)

#: the bridge's outcome -> the simulator's
SIM_OUTCOME = {"mode_prob_code": "mass_base_top"}


def _select(frame: pd.DataFrame, where: dict) -> pd.DataFrame:
    mask = np.ones(len(frame), dtype=bool)
    for k, v in where.items():
        mask &= (frame[k] == v).to_numpy()
    return frame[mask & ~frame["excluded"].to_numpy()]


def per_seed(frame: pd.DataFrame, c: Contrast, outcome: str | None = None) -> pd.Series:
    """One contrast's value per seed from one configuration's runs (columns: the factors,
    seed, excluded and the outcome): the run's outcome (a mean contrast) or the difference of
    the two levels' runs of that seed (paired; only seeds present in both), pooled over the
    levels of any factor `where` leaves free (per seed, the mean over those cells, as the
    registered paired test pools them). The estimate is the mean over seeds."""
    col = outcome or c.outcome
    if not c.factor:
        return _select(frame, c.where).groupby("seed")[col].mean()
    a = _select(frame, {**c.where, c.factor: c.levels[0]}).groupby("seed")[col].mean()
    b = _select(frame, {**c.where, c.factor: c.levels[1]}).groupby("seed")[col].mean()
    both = a.index.intersection(b.index)
    return a[both] - b[both]


def estimate(frame: pd.DataFrame, c: Contrast, outcome: str | None = None) -> float:
    """One contrast's estimate: the mean over seeds of `per_seed`."""
    return float(per_seed(frame, c, outcome).mean())


def seed_table(frame: pd.DataFrame, simulator: bool = False) -> pd.DataFrame:
    """(seeds x 13 contrasts): each contrast's per-seed values (`simulator`: map outcomes)."""
    cols = {}
    for c in CONTRASTS:
        col = SIM_OUTCOME.get(c.outcome, c.outcome) if simulator else c.outcome
        cols[c.id] = per_seed(frame, c, col)
    return pd.DataFrame(cols)


def contrasts(frame: pd.DataFrame, simulator: bool = False) -> pd.Series:
    """The 13 contrast estimates of one configuration's runs (`simulator`: map outcomes)."""
    return seed_table(frame, simulator).mean()


def score(pred: pd.Series, obs: pd.Series) -> dict[str, float]:
    """sign agreement (share of contrasts with equal signs, 0 counting as its own sign) and
    the mean absolute error of `pred` against `obs`, over their common contrasts."""
    idx = pred.index.intersection(obs.index)
    p, o = pred[idx].to_numpy(float), obs[idx].to_numpy(float)
    return {
        "sign_agreement": float(np.mean(np.sign(p) == np.sign(o))),
        "mae": float(np.mean(np.abs(p - o))),
        "n": len(idx),
    }


def sim_overlap(data: dict) -> float:
    """policy.overlap at initialisation of a simulator config (a dict)."""
    from simrl.config import Config
    from simrl.policy import build_features, overlap
    from simrl.tasks import build_task

    cfg = Config.from_dict(data)
    task = build_task(cfg.task)
    return overlap(build_features(cfg, task), task.base_logits)


def match_overlap(
    target: float,
    configs: list[dict],
    knob: str,
    lo: float,
    hi: float,
    tol: float = 1e-6,
) -> tuple[float, float]:
    """(knob value, achieved mean overlap): bisection on policy.<knob> in [lo, hi] so that
    the mean over `configs` of policy.overlap equals `target` (the bound if the target is
    out of reach)."""

    def mean_ov(x):
        vals = []
        for d in configs:
            d = {**d, "policy": {**d["policy"], knob: x}}
            vals.append(sim_overlap(d))
        return float(np.mean(vals))

    f_lo, f_hi = mean_ov(lo), mean_ov(hi)
    if target <= f_lo:
        return lo, f_lo
    if target >= f_hi:
        return hi, f_hi
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if mean_ov(mid) < target:
            lo = mid
        else:
            hi = mid
    x = 0.5 * (lo + hi)
    return x, mean_ov(x)


# ---- the registered comparison of experiments/overlap_calibration ----------------------------

#: the bridge's two draws of bridge_replay's grid: the registered result and its recompute
_REPLAY = Path(__file__).resolve().parents[1] / "experiments" / "bridge_replay"
BRIDGE_DRAWS = {
    "registered": _REPLAY / "results.parquet",
    "recompute": _REPLAY / "recompute-2026-12-07" / "results.parquet",
}


def _scores(pred: np.ndarray, draws: list[np.ndarray], agree: np.ndarray) -> tuple[float, float]:
    """(mean over draws of the MAE, mean over draws of the sign agreement on `agree`)."""
    mae = np.mean([np.mean(np.abs(pred - d)) for d in draws])
    sign = np.mean([np.mean(np.sign(pred[agree]) == np.sign(d[agree])) for d in draws])
    return float(mae), float(sign)


def compare(
    sim: pd.DataFrame,
    bridge: dict[str, pd.DataFrame],
    factor: str = "sim",
    tabular: tuple[str, ...] = (),
    n_boot: int = 2000,
    seed: int = 0,
) -> dict:
    """Each simulator configuration (the levels of `factor`) scored against every bridge draw:
    the MAE over the 13 contrasts (mean over draws) and the sign agreement over the contrasts
    whose sign is the same in every draw; the best configuration (lowest MAE) and its MAE
    advantage over the best of `tabular`, with a percentile bootstrap interval that resamples
    the seeds of every bridge draw and of the simulator (paired within each: one seed draw
    for all cells)."""
    tables = {k: seed_table(f) for k, f in bridge.items()}
    draws = [t.mean().to_numpy() for t in tables.values()]
    agree = np.all([np.sign(d) == np.sign(draws[0]) for d in draws], axis=0)
    levels = list(dict.fromkeys(sim[factor]))
    sims = {lv: seed_table(sim[sim[factor] == lv], simulator=True) for lv in levels}
    ids = [c.id for c in CONTRASTS]
    rows = {}
    for lv, t in sims.items():
        pred = t.mean().to_numpy()
        mae, sign = _scores(pred, draws, agree)
        rows[lv] = {
            "mae": mae,
            "sign_agreement": sign,
            "contrasts": dict(zip(ids, pred.tolist(), strict=True)),
        }
        rows[lv]["mae_by_draw"] = {
            k: float(np.mean(np.abs(pred - d))) for k, d in zip(tables, draws, strict=True)
        }
    best = min(rows, key=lambda lv: rows[lv]["mae"])
    out = {
        "contrasts": ids,
        "bridge": {
            k: dict(zip(ids, d.tolist(), strict=True)) for k, d in zip(tables, draws, strict=True)
        },
        "sign_stable": [i for i, a in zip(ids, agree, strict=True) if a],
        "configs": rows,
        "best": best,
    }
    if tabular:
        tab = min(tabular, key=lambda lv: rows[lv]["mae"])
        rng = np.random.default_rng(seed)
        others = [lv for lv in levels if lv != tab]
        diffs = {lv: [] for lv in others}
        for _ in range(n_boot):
            bd = [
                t.iloc[rng.integers(0, len(t), len(t))].mean().to_numpy() for t in tables.values()
            ]
            sb = {
                lv: t.iloc[rng.integers(0, len(t), len(t))].mean().to_numpy()
                for lv, t in sims.items()
            }
            base = _scores(sb[tab], bd, agree)[0]
            for lv in others:
                diffs[lv].append(base - _scores(sb[lv], bd, agree)[0])
        out["tabular_best"] = tab
        for lv in others:
            lo, hi = np.percentile(diffs[lv], [2.5, 97.5])
            rows[lv]["mae_gain_over_tabular"] = rows[tab]["mae"] - rows[lv]["mae"]
            rows[lv]["mae_gain_ci"] = [float(lo), float(hi)]
        if best != tab:
            out["mae_gain_over_tabular"] = rows[best]["mae_gain_over_tabular"]
            out["mae_gain_ci"] = rows[best]["mae_gain_ci"]
        else:
            out["mae_gain_over_tabular"], out["mae_gain_ci"] = 0.0, [0.0, 0.0]
        out["sign_gain_over_tabular"] = rows[best]["sign_agreement"] - rows[tab]["sign_agreement"]
    return out


def gain_verdict(gain: float, ci: list[float], sesoi: float) -> str:
    """P2's rule: supported if the interval's lower end is above 0 and the estimate is at
    least the SESOI; not supported if the interval's upper end is below the SESOI."""
    if ci[0] > 0 and gain >= sesoi:
        return "supported"
    if ci[1] < sesoi:
        return "not supported"
    return "inconclusive"


def verdicts(out: dict, predicted_best: str, sesoi: float, no_gain: tuple[str, ...]) -> dict:
    """The registered predictions P1-P3 of experiments/overlap_calibration/prereg.toml."""
    p3 = {}
    for lv in no_gain:
        r = out["configs"][lv]
        gain, ci = r.get("mae_gain_over_tabular", 0.0), r.get("mae_gain_ci", [0.0, 0.0])
        # P3 predicts NO gain of the SESOI: it holds where the gain's interval is below it
        v = gain_verdict(gain, ci, sesoi)
        p3[lv] = {
            "gain": gain,
            "ci": ci,
            "holds": {"not supported": "yes", "supported": "no"}.get(v, "inconclusive"),
        }
    p3_all = [x["holds"] for x in p3.values()]
    return {
        "P1_best": {
            "predicted": predicted_best,
            "observed": out["best"],
            "verdict": "supported" if out["best"] == predicted_best else "not supported",
        },
        "P2_gain": {
            "config": predicted_best,
            "gain": out["configs"][predicted_best].get("mae_gain_over_tabular", 0.0),
            "ci": out["configs"][predicted_best].get("mae_gain_ci", [0.0, 0.0]),
            "verdict": gain_verdict(
                out["configs"][predicted_best].get("mae_gain_over_tabular", 0.0),
                out["configs"][predicted_best].get("mae_gain_ci", [0.0, 0.0]),
                sesoi,
            ),
        },
        "P3_no_gain": {
            "per_config": p3,
            "verdict": "supported"
            if all(h == "yes" for h in p3_all)
            else ("not supported" if any(h == "no" for h in p3_all) else "inconclusive"),
        },
    }


def report_md(out: dict) -> str:
    """The comparison as a markdown section (calibration.md)."""
    ids = out["contrasts"]
    lines = [
        "| config | MAE (mean of draws) | MAE registered | MAE recompute | sign agreement "
        "| MAE gain over best tabular [95% CI] |",
        "|---|---|---|---|---|---|",
    ]
    order = sorted(out["configs"], key=lambda lv: out["configs"][lv]["mae"])
    for lv in order:
        r = out["configs"][lv]
        by = r["mae_by_draw"]
        gain = ""
        if "mae_gain_ci" in r:
            lo, hi = r["mae_gain_ci"]
            gain = f"{r['mae_gain_over_tabular']:+.4f} [{lo:+.4f}, {hi:+.4f}]"
        lines.append(
            f"| {lv} | {r['mae']:.4f} | {by.get('registered', np.nan):.4f} | "
            f"{by.get('recompute', np.nan):.4f} | {r['sign_agreement']:.3f} | {gain} |"
        )
    lines += ["", "| contrast | " + " | ".join([*out["bridge"], *order]) + " |"]
    lines.append("|---" * (1 + len(out["bridge"]) + len(order)) + "|")
    for i in ids:
        vals = [out["bridge"][k][i] for k in out["bridge"]]
        vals += [out["configs"][lv]["contrasts"][i] for lv in order]
        lines.append(f"| {i} | " + " | ".join(f"{v:+.3f}" for v in vals) + " |")
    lines.append("")
    lines.append(f"Best configuration (lowest MAE): **{out['best']}**.")
    if "tabular_best" in out:
        lo, hi = out["mae_gain_ci"]
        lines.append(
            f"Its MAE advantage over the best tabular configuration ({out['tabular_best']}): "
            f"{out['mae_gain_over_tabular']:+.4f} [{lo:+.4f}, {hi:+.4f}] (95% percentile "
            f"bootstrap over the seeds of both bridge draws and of the simulator); sign "
            f"agreement {out['sign_gain_over_tabular']:+.3f}."
        )
    if "verdicts" in out:
        v = out["verdicts"]
        lines.append("")
        lines.append(
            f"- P1 (best = {v['P1_best']['predicted']}): observed {v['P1_best']['observed']}: "
            f"**{v['P1_best']['verdict']}**."
        )
        lo, hi = v["P2_gain"]["ci"]
        lines.append(
            f"- P2 ({v['P2_gain']['config']} gains >= SESOI over the best tabular): "
            f"{v['P2_gain']['gain']:+.4f} [{lo:+.4f}, {hi:+.4f}]: **{v['P2_gain']['verdict']}**."
        )
        holds = ", ".join(f"{k}: {x['holds']}" for k, x in v["P3_no_gain"]["per_config"].items())
        lines.append(
            f"- P3 (no random_features / low_rank configuration gains the SESOI; per config, "
            f"whether it holds: {holds}): **{v['P3_no_gain']['verdict']}**."
        )
        lines.append("")
    lines.append(
        f"Sign agreement counts the {len(out['sign_stable'])} contrasts whose sign is the same "
        f"in both bridge draws: {', '.join(out['sign_stable'])}."
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """python3 -m simrl.calibration STUDY: the registered comparison of a calibration
    study's results (results.parquet, factor `sim`) with bridge_replay's two draws; writes
    STUDY/calibration.json and STUDY/calibration.md."""
    import argparse
    import json
    import sys

    from simrl.io import write_text

    ap = argparse.ArgumentParser(prog="python3 -m simrl.calibration")
    ap.add_argument("study")
    ap.add_argument("--tabular", nargs="+", default=["tab_sgd", "tab_adam"])
    ap.add_argument("--n-boot", type=int, default=2000)
    ap.add_argument("--predicted-best", default="")
    ap.add_argument("--sesoi", type=float, default=0.01)
    a = ap.parse_args(argv)
    study = Path(a.study)
    res = study / "results.parquet"
    if not res.is_file():
        print(f"error: {res}: no results.parquet (run the study first)", file=sys.stderr)
        return 2
    sim = pd.read_parquet(res)
    missing = [t for t in a.tabular if t not in set(sim["sim"])]
    if missing:
        print(f"error: --tabular {missing[0]!r}: not a level of factor 'sim'", file=sys.stderr)
        return 2
    bridge = {k: pd.read_parquet(v) for k, v in BRIDGE_DRAWS.items()}
    if a.predicted_best and a.predicted_best not in set(sim["sim"]):
        print(
            f"error: --predicted-best {a.predicted_best!r}: not a level of factor 'sim'",
            file=sys.stderr,
        )
        return 2
    out = compare(sim, bridge, tabular=tuple(a.tabular), n_boot=a.n_boot)
    if a.predicted_best:
        no_gain = tuple(lv for lv in out["configs"] if lv.startswith(("rf_", "lr_")))
        out["verdicts"] = verdicts(out, a.predicted_best, a.sesoi, no_gain)
    write_text(study / "calibration.json", json.dumps(out, indent=1) + "\n")
    write_text(study / "calibration.md", report_md(out))
    print(report_md(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
