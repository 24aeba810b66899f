"""Write an analysis: report.md, results.parquet (per-run outcomes), decomposition.parquet
(per stratum and seed, when registered) and the PNG figures the report cites.

The report: the verdicts first, then each hypothesis in detail, the registered model and
decomposition, the registered additive rule, a clearly separated exploratory part, the
exclusions, the deviation log (amendments with reasons and diffs) and the provenance.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from simrl import io
from simrl.prereg.analysis import Analysis
from simrl.prereg.provenance import deviations, provenance
from simrl.prereg.report_figures import (  # noqa: F401  (report.<name> for callers)
    FIGURES,
    FigureJob,
    draw_jobs,
    figure_jobs,
    share,
    trajectory_jobs,
    write_figures,
)


def fmt(v, digits: int = 4) -> str:
    if isinstance(v, str):
        return v
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "n/a"
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, int | np.integer):
        return str(int(v))
    v = float(v)
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
        return f"{v:.{digits - 1}e}"
    return f"{v:.{digits}g}"


def table(df: pd.DataFrame, digits: int = 4) -> str:
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(fmt(v, digits) for v in row) + " |")
    return "\n".join(lines)


def _p(p: float) -> str:
    if p is None or not np.isfinite(p):
        return "n/a"
    return "< 1e-10" if p < 1e-10 else fmt(p, 3)


def write(a: Analysis, worker=None) -> Path:
    """The report bundle (results, figures, verdicts, report.md), staged in a temporary
    folder and renamed into the study only once all of it is written, report.md last: a
    killed analyze leaves the previous bundle as it was."""
    study = a.study
    with io.staged(study.path, last=("report.md",)) as stage:
        io.write_parquet(stage / "results.parquet", _plain(a.results))
        if a.decomposition_seeds is not None:
            io.write_parquet(stage / "decomposition.parquet", _plain(a.decomposition_seeds))
        figures = write_figures(a, stage / FIGURES, worker)
        io.write_text(stage / "verdicts.json", json.dumps(verdicts(a), indent=2) + "\n")
        io.write_text(stage / "report.md", render(a, figures))
    return study.path / "report.md"


def verdicts(a: Analysis) -> dict:
    """The confirmatory results, machine-readable (simrl reaudit reads them)."""

    def num(v: float) -> float | None:
        return None if v is None or not np.isfinite(v) else float(v)

    return {
        "study": a.study.name,
        "spec_sha256": a.lock["amendments"][-1]["spec_sha256"]
        if a.lock["amendments"]
        else a.lock["spec_sha256"],
        "correction": a.study.correction,
        "hypotheses": {
            hr.hypothesis.id: {
                "statement": hr.hypothesis.statement,
                "outcome": hr.hypothesis.outcome,
                "direction": hr.hypothesis.direction,
                "sesoi": hr.hypothesis.sesoi,
                "estimate": num(hr.result.estimate),
                "ci": [num(hr.result.ci[0]), num(hr.result.ci[1])],
                "p": num(hr.result.p),
                "p_adj": num(hr.result.p_adj),
                "verdict": hr.result.verdict,
            }
            for hr in a.hypotheses
        },
    }


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for col in df.columns:
        if isinstance(df[col].dtype, pd.CategoricalDtype):
            df[col] = df[col].astype(str)
    return df


# ---- the markdown -------------------------------------------------------------------------


def render(a: Analysis, figures: dict[str, str]) -> str:
    s = a.study
    lock = a.lock
    L: list[str] = [f"# {s.title}", "", f"**Question.** {s.question}", ""]
    L += [
        f"Study `{s.name}`, registered {lock['registered_utc']} (spec sha256 `{lock['spec_sha256'][:16]}…`). "
        f"{s.cell_count()} cells x {s.seeds} seeds = {len(a.results)} runs of {s.steps} steps, "
        f"engine `{s.engine}`; the same seeds 0..{s.seeds - 1} in every cell (paired).",
        "",
        "Factors: " + "; ".join(f"**{f.name}** ({', '.join(f.labels)})" for f in s.factors) + ".",
        "",
        f"Stopping rule: {s.stopping_rule}",
        "",
        "## Verdicts (confirmatory)",
        "",
        f"Correction: {s.correction} over the {len(a.hypotheses)} registered hypotheses. "
        "Intervals are (1 - alpha) two-sided and not adjusted; decisions use the adjusted p. "
        "Verdict rules: supported = significant after correction and at least the SESOI in the "
        "predicted direction; not supported = the interval excludes an effect of the SESOI in "
        "the predicted direction; otherwise inconclusive (see simrl/prereg/inference.py).",
        "",
    ]
    rows = []
    for hr in a.hypotheses:
        h, r = hr.hypothesis, hr.result
        rows.append(
            [h.id, h.outcome + _where(h.where), h.test, h.direction, fmt(h.sesoi), fmt(r.estimate),
             f"[{fmt(r.ci[0])}, {fmt(r.ci[1])}]", _p(r.p), _p(r.p_adj), "reject" if r.decision else "keep",
             f"**{r.verdict}**"]
        )  # fmt: skip
    L.append(
        table(
            pd.DataFrame(
                rows,
                columns=[
                    "id",
                    "outcome",
                    "test",
                    "direction",
                    "SESOI",
                    "estimate",
                    "CI",
                    "p",
                    "p adj",
                    "H0",
                    "verdict",
                ],
            )
        )
    )
    L += ["", "### Hypotheses in detail", ""]
    for hr in a.hypotheses:
        h, r = hr.hypothesis, hr.result
        L += [
            f"**{h.id}** — {h.statement}",
            "",
            f"- {r.method}; n = {r.n}.",
            f"- estimate {fmt(r.estimate)}, {round((1 - h.alpha) * 100)}% CI [{fmt(r.ci[0])}, {fmt(r.ci[1])}], "
            f"p = {_p(r.p)}, adjusted p = {_p(r.p_adj)} (alpha {h.alpha}, SESOI {h.sesoi}): **{r.verdict}**.",
        ]
        L += _detail(r.detail)
        L.append("")
    L += _models(a)
    L += _decomposition(a, figures)
    L += _additive(a)
    L += _exploratory(a, figures)
    L += _exclusions(a)
    L += _discussion(a)
    L += deviations(a)
    L += provenance(a)
    return "\n".join(L).rstrip() + "\n"


def _detail(detail: dict) -> list[str]:
    plain = {k: v for k, v in detail.items() if isinstance(v, int | float | str | list)}
    out = []
    if plain:
        out.append(
            "- "
            + ", ".join(
                f"{k} = "
                + ("[" + ", ".join(fmt(x) for x in v) + "]" if isinstance(v, list) else fmt(v))
                for k, v in plain.items()
            )
        )
    for level, r in detail.get("per_level", {}).items():
        out.append(
            f"  - at {level}: estimate {fmt(r.estimate)} [{fmt(r.ci[0])}, {fmt(r.ci[1])}], p = {_p(r.p)}"
        )
    sweep = detail.get("sensitivity", {})
    if sweep:
        out.append("- sensitivity sweep (registered; uncorrected p, does not change the verdict):")
    for level, r in sweep.items():
        out.append(
            f"  - at {level}: estimate {fmt(r.estimate)} [{fmt(r.ci[0])}, {fmt(r.ci[1])}], "
            f"p = {_p(r.p)}: {r.verdict}"
        )
    return out


def _where(where: dict) -> str:
    if not where:
        return ""
    return " [" + ", ".join(f"{k}={'/'.join(v)}" for k, v in where.items()) + "]"


def _models(a: Analysis) -> list[str]:
    L = [
        "## Registered model",
        "",
        f"`{a.study.model}`, OLS with Sum contrasts, `anova_lm(typ=2)`.",
        "",
    ]
    for m in a.models:
        name = ", ".join(f"{k}={v}" for k, v in m.stratum.items()) or "all cells"
        t = m.anova.reset_index().rename(columns={"index": "term", "PR(>F)": "p"})
        L += [f"**{name}** — {m.nobs} runs, residual df {fmt(m.resid_df)}", "", table(t), ""]
        if m.mixed is not None or m.mixed_note:
            L += [f"Mixed model ({m.mixed_note}):", ""]
            if m.mixed is not None:
                L += [table(m.mixed.reset_index().rename(columns={"index": "term"})), ""]
    return L


def _decomposition(a: Analysis, figures: dict[str, str]) -> list[str]:
    if a.decomposition is None:
        return []
    d = a.study.decomposition
    L = [
        "## Decomposition (registered)",
        "",
        f"Telescoping decomposition of `{d.outcome}` over `{d.factor}` (theory/decomposition.py; "
        f"theory/NOTES.md, 'Reward-gain decomposition'), anchor `{d.anchor}`: total = null + "
        "elicitation + reward_design; naive = true - random = elicitation + reward_design. "
        f"Paired bootstrap over seeds ({d.n_boot} replicates), 95% percentile intervals.",
        "",
    ]
    others = [f for f in a.study.factor_names if f != d.factor]
    cols = [*others, "n_seeds"]
    t = a.decomposition[cols].copy()
    for term in ("total", "null", "elicitation", "reward_design", "naive", "share_reward_design"):
        t[term] = [
            f"{fmt(v, 3)} [{fmt(lo, 3)}, {fmt(hi, 3)}]"
            for v, lo, hi in zip(
                a.decomposition[term],
                a.decomposition[f"{term}_lo"],
                a.decomposition[f"{term}_hi"],
                strict=True,
            )
        ]
    L += [table(t), ""]
    if "decomposition" in figures:
        L += [f"![decomposition]({figures['decomposition']})", ""]
    if a.plurality is not None:
        L += [
            "Share of prompts whose base plurality answer is correct (exact, from the task):",
            "",
            table(a.plurality),
            "",
        ]
    return L


def _additive(a: Analysis) -> list[str]:
    if a.study.additive is None:
        return []
    ad = a.study.additive
    L = [
        "## Additive decomposition: points or bounds (registered rule)",
        "",
        f"Outcome `{ad.outcome}`{_where(ad.where)}, factors {', '.join(ad.factors)}; full factorial OLS with "
        f"Sum contrasts. Rule: a factor's effect is reported as a point (its main effect) only if no "
        f"interaction containing it is significant after Holm at alpha {ad.alpha} with |estimate| >= "
        f"{ad.sesoi}; otherwise only as bounds (the range of its simple effects over the other factors' cells).",
        "",
        table(a.interactions),
        "",
    ]
    rows = []
    for r in a.additive:
        point = f"{fmt(r.point)} [{fmt(r.point_ci[0])}, {fmt(r.point_ci[1])}]"
        rows.append([r.factor, r.report_as, point if r.report_as == "point" else "—",
                     f"[{fmt(r.bounds[0])}, {fmt(r.bounds[1])}]", ", ".join(r.blocking) or "none"])  # fmt: skip
    L += [
        table(
            pd.DataFrame(
                rows,
                columns=[
                    "factor",
                    "reported as",
                    "point (main effect, CI)",
                    "bounds (simple effects)",
                    "interactions forcing bounds",
                ],
            )
        ),
        "",
    ]
    return L


def _exploratory(a: Analysis, figures: dict[str, str]) -> list[str]:
    s = a.study
    L = [
        "---",
        "",
        "## Exploratory (not pre-registered; descriptive, no error control)",
        "",
        "Cell means over included seeds with 95% t intervals.",
        "",
    ]
    outcomes = [o for o in s.outcomes]
    cols = [*s.factor_names, "n"]
    t = a.cell_means[cols].copy()
    for o in outcomes:
        t[o] = [
            f"{fmt(v, 3)} ± {fmt((hi - lo) / 2, 2)}"
            for v, lo, hi in zip(
                a.cell_means[o], a.cell_means[f"{o}_lo"], a.cell_means[f"{o}_hi"], strict=True
            )
        ]
    L += [table(t), ""]
    captions = {
        "cells": "cell means of the primary outcome",
        "trajectories": "trajectories of the primary metric",
        "passk": "exact pass@k against k",
        "law": "accuracy against exp(entropy) along the mean trajectories",
    }
    for key in figures:
        if key == "decomposition":
            continue
        caption = captions.get(key, key.replace("trajectories_", "") + " trajectories")
        L += [f"![{caption}]({figures[key]})", ""]
    return L


def _exclusions(a: Analysis) -> list[str]:
    s = a.study
    ex = a.results[a.results["excluded"]]
    rule = "runs with a non-finite value are excluded" if s.exclude_nonfinite else "no exclusions"
    L = ["## Exclusions", "", f"Registered rule: {rule}. {s.exclusion_note}".strip(), ""]
    if ex.empty:
        L += ["No run was excluded.", ""]
    else:
        counts = (
            ex.groupby(list(s.factor_names), observed=True).size().reset_index(name="excluded runs")
        )
        L += [f"{len(ex)} runs excluded:", "", table(counts), ""]
    return L


def _discussion(a: Analysis) -> list[str]:
    """The study folder's discussion.md, if any: interpretation written after the results."""
    path = a.study.path / "discussion.md"
    if not path.is_file():
        return []
    return [
        "## Discussion (written after the results; not registered)",
        "",
        path.read_text().strip(),
        "",
    ]
