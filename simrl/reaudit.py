"""`simrl reaudit`: published RLVR results as data, decomposed, and held against the studies.

Reads experiments/reaudits/published.csv (numbers from papers: paper, arXiv version,
location, model, benchmark, condition, value, and how far each was verified) and
claims.csv (a published claim, the registered study and hypotheses that test it, and the
verdict that would reproduce it). Writes experiments/reaudits/report.md:

1. the telescoping decomposition (theory/decomposition.py; theory/NOTES.md, "Reward-gain
   decomposition") applied to what each paper reports: gains over the base model are
   acc(X) - acc(frozen), so null = gain(random), elicitation = gain(majority_vote) -
   gain(random), reward_design = gain(ground_truth) - gain(majority_vote), and the naive
   "true minus random" = elicitation + reward_design. The papers report no per-seed
   numbers, so the only interval attached is that of problem sampling (an upper bound on
   its standard error from the benchmark's size, difference_se_bound), which is a lower
   bound on the real uncertainty;
2. per claim, whether the simulator reproduces it qualitatively: the registered verdicts of
   its hypotheses (experiments/<study>/verdicts.json, written by `simrl prereg analyze`)
   against the verdict that reproduces the claim.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from simrl import io
from simrl.errors import ConfigError
from simrl.theory.decomposition import decompose

#: published condition -> role in the decomposition (majority vote = the self-consistency anchor)
ROLES = {"ground_truth": "true", "random": "random", "majority_vote": "self_consistency"}
#: problems in a benchmark: the sampling error of an accuracy measured on it
BENCHMARK_PROBLEMS = {"MATH-500": 500}
#: the two-sided 95% normal quantile
Z95 = 1.959963984540054


def difference_se_bound(n: int) -> float:
    """Upper bound, in points, on the standard error of a difference of two accuracies each
    measured on the same n problems, from problem sampling alone: each binomial variance
    p (1 - p) / n <= 1 / (4 n), the two treated as independent (the Wald interval for a
    difference of proportions; Agresti, Categorical Data Analysis, 3rd ed., 2013, 3.1.2).
    Run-to-run (seed) variation is not in it: the papers report one run per condition,
    so the real interval is wider still."""
    return 100.0 * float(np.sqrt(2.0 / (4.0 * n)))


def published_decomposition(published: pd.DataFrame) -> pd.DataFrame:
    """One row per (paper, version, model, benchmark) that reports all three conditions."""
    rows = []
    keys = ["paper", "arxiv", "version", "model", "benchmark"]
    for key, g in published.groupby(keys, sort=False):
        gains = {ROLES[c]: v for c, v in zip(g["condition"], g["value"], strict=True) if c in ROLES}
        if len(gains) < len(ROLES) or any(not np.isfinite(v) for v in gains.values()):
            continue
        d = decompose({**{k: [v] for k, v in gains.items()}, "frozen": [0.0]})
        rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                "total": d.total,
                "null": d.null,
                "elicitation": d.elicitation,
                "reward_design": d.reward_design,
                "naive": d.naive,
                "reward_design / naive": d.share_reward_design,
                "reward_design / total": d.reward_design / d.total if d.total else np.nan,
                "reward_design SE bound": difference_se_bound(BENCHMARK_PROBLEMS[key[4]])
                if key[4] in BENCHMARK_PROBLEMS
                else np.nan,
            }
        )
    return pd.DataFrame(rows)


def claim_status(claims: pd.DataFrame, experiments: Path) -> pd.DataFrame:
    """Each claim's hypotheses, their verdicts and numbers, and whether the claim is
    reproduced (every hypothesis has the reproducing verdict), contradicted (one has the
    opposite verdict), partly reproduced, or open (inconclusive or not yet analysed)."""
    rows = []
    for c in claims.itertuples(index=False):
        path = experiments / c.study / "verdicts.json"
        results = json.loads(path.read_text())["hypotheses"] if path.is_file() else {}
        want = c.reproduced_if
        against = "not supported" if want == "supported" else "supported"
        found, evidence = [], []
        for hid in c.hypotheses.split():
            r = results.get(hid)
            if r is None:
                found.append("missing")
                evidence.append(f"{hid}: not analysed")
                continue
            found.append(r["verdict"])
            ci = r["ci"]
            ci_text = "" if None in ci else f" [{ci[0]:.3g}, {ci[1]:.3g}]"
            est = "n/a" if r["estimate"] is None else f"{r['estimate']:.3g}"
            evidence.append(f"{hid}: {r['verdict']} ({est}{ci_text})")
        if all(v == want for v in found):
            status = "reproduced"
        elif all(v == against for v in found):
            status = "not reproduced"
        elif any(v == want for v in found) and any(v == against for v in found):
            status = "partly reproduced"
        elif any(v == against for v in found):
            status = "not reproduced (rest open)"
        elif any(v == want for v in found):
            status = "partly reproduced (rest open)"
        else:
            status = "open"
        rows.append(
            {
                "claim": c.claim,
                "paper": c.paper,
                "statement": c.statement,
                "study": c.study,
                "status": status,
                "evidence": "; ".join(evidence),
            }
        )
    return pd.DataFrame(rows)


def simulator_shares(experiments: Path) -> pd.DataFrame | None:
    """The decomposition study's reward-design share of the naive estimate per stratum (a
    ratio of seed means), for comparison with the published ones."""
    path = experiments / "decomposition" / "decomposition.parquet"
    if not path.is_file():
        return None
    d = pd.read_parquet(path)
    g = d.groupby(["task", "regime", "prior"], sort=False)
    out = g[["naive", "reward_design", "elicitation", "null", "total"]].mean().reset_index()
    out["reward_design / naive"] = out["reward_design"] / out["naive"]
    out["reward_design / total"] = out["reward_design"] / out["total"]
    return out


def run(
    folder: Path = Path("experiments/reaudits"),
    experiments: Path | None = None,
    out: Path | None = None,
) -> Path:
    """Write report.md into `out` (default: `folder`); returns its path."""
    experiments = experiments or folder.parent
    out = folder if out is None else out
    for name in ("published.csv", "claims.csv"):
        if not (folder / name).is_file():
            raise ConfigError("reaudit", str(folder / name), "must exist (see simrl/reaudit.py)")
    published = pd.read_csv(folder / "published.csv", dtype={"arxiv": str, "version": str})
    claims = pd.read_csv(folder / "claims.csv")
    decomp = published_decomposition(published)
    status = claim_status(claims, experiments)
    shares = simulator_shares(experiments)
    Path(out).mkdir(parents=True, exist_ok=True)
    io.write_text(out / "report.md", render(published, decomp, status, shares))
    return out / "report.md"


def _interval(r: dict) -> str:
    """The reward-design point with its 95% interval from problem sampling alone."""
    se = r.get("reward_design SE bound", np.nan)
    if not np.isfinite(se):
        return " No interval: the benchmark's size is not recorded."
    lo, hi = r["reward_design"] - Z95 * se, r["reward_design"] + Z95 * se
    zero = "includes" if lo <= 0 <= hi else "excludes"
    return (
        f" Its 95% interval from the sampling of the {r['benchmark']} problems alone is "
        f"[{lo:.3g}, {hi:.3g}] points (SE <= {se:.2g}: two accuracies on the same problems, "
        f"p(1 - p) <= 1/4; about 2.7 at accuracies near 75%), which {zero} zero; run-to-run "
        "variation would widen it."
    )


def render(published, decomp, status, shares) -> str:
    from simrl.prereg.report import table

    L = [
        "# Re-audits of published RLVR results",
        "",
        "Generated by `simrl reaudit` from `published.csv` and `claims.csv` (this folder) and the "
        "registered studies' `verdicts.json`. Numbers from papers are facts to cite: each row of "
        "`published.csv` says where it comes from and how far it was verified.",
        "",
        "## The decomposition applied to the published gains",
        "",
        "Gains over the base model are acc(X) - acc(frozen), so null = gain(random), elicitation "
        "= gain(majority vote) - gain(random), reward design = gain(ground truth) - gain(majority "
        "vote); naive = ground truth - random = elicitation + reward design (theory/NOTES.md, "
        "'Reward-gain decomposition'). The papers give no per-seed numbers: each point comes "
        "with the interval of the benchmark's problem sampling alone (below), a lower bound on "
        "the real uncertainty.",
        "",
        table(decomp.drop(columns=["arxiv"]), digits=3) if len(decomp) else "(none)",
        "",
    ]
    for r in decomp.to_dict("records"):
        L.append(
            f"- {r['model']}, {r['benchmark']} ({r['paper']}, arXiv {r['arxiv']} {r['version']}): "
            f"the naive 'true minus random' is {r['naive']:.3g} points while random alone gave "
            f"{r['null']:.3g}; majority vote, which uses no correct label, recovers "
            f"{r['elicitation']:.3g} of it, so reward design is {r['reward_design']:.3g} points: "
            f"{100 * r['reward_design / naive']:.0f}% of the naive estimate and "
            f"{100 * r['reward_design / total']:.1f}% of the headline gain of {r['total']:.3g}."
            + _interval(r)
        )
    L.append("")
    if shares is not None:
        L += [
            "In the simulator (experiments/decomposition, 64 seeds per cell, registered), the same "
            "ratios by prior strength:",
            "",
            table(shares, digits=3),
            "",
        ]
    L += [
        "## Published claims against the registered studies",
        "",
        "A claim is reproduced when every hypothesis that tests it has the verdict that "
        "reproduces it (`claims.csv`, column reproduced_if); the simulator reproduces "
        "qualitative patterns, not the papers' numbers.",
        "",
        table(status),
        "",
        "## Published numbers used",
        "",
        table(published.astype(object).where(published.notna(), "")),
        "",
    ]
    return "\n".join(L)
