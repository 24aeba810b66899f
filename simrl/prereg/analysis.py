"""`simrl prereg analyze`: exactly the registered analysis, then the exploratory one.

Reads only the store (never re-simulates). Confirmatory: every registered hypothesis
(inference.py), corrected together (Holm by default), each with a verdict; the
registered model fitted by OLS with Sum contrasts and summarised by anova_lm(typ=2)
within each level of `analysis.by` (and as a mixed model with a random intercept per
seed if the spec asks); the decomposition with paired-bootstrap intervals per stratum
(theory/decomposition.py); the registered additive rule. Exploratory: cell means of
every outcome with t intervals, clearly labelled as such.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats

from simrl.errors import ConfigError
from simrl.prereg import inference as inf
from simrl.prereg.formula import lhs
from simrl.prereg.grid import Cell, expand
from simrl.prereg.hypothesis_tests import TESTS, Context
from simrl.prereg.lock import check
from simrl.prereg.outcomes import collect, decomposition_terms, derived
from simrl.prereg.plurality import plurality_correct_share
from simrl.prereg.spec import load_study
from simrl.prereg.store import Store
from simrl.prereg.study import (
    AUDIT_OUTCOME,
    DECOMP_PREFIX,
    DERIVED_OUTCOMES,
    DIFFERENCE,
    RUN_OUTCOMES,
    Hypothesis,
    Study,
    metric_of,
)
from simrl.theory.decomposition import decompose_with_ci


@dataclass
class HypothesisResult:
    hypothesis: Hypothesis
    result: inf.TestResult


@dataclass
class ModelFit:
    stratum: dict[str, str]
    formula: str
    anova: pd.DataFrame
    nobs: int
    resid_df: float
    mixed: pd.DataFrame | None = None  # fixed effects of the mixed model
    mixed_note: str = ""


@dataclass
class AdditiveRow:
    factor: str
    report_as: str  # "point" or "bounds"
    point: float
    point_ci: tuple[float, float]
    bounds: tuple[float, float]
    blocking: list[str]  # interaction terms that forced bounds


@dataclass
class Analysis:
    study: Study
    lock: dict
    manifest: dict
    results: pd.DataFrame
    hypotheses: list[HypothesisResult]
    models: list[ModelFit]
    decomposition: pd.DataFrame | None  # per stratum: terms and shares with CIs
    decomposition_seeds: pd.DataFrame | None  # per stratum and seed: terms
    interactions: pd.DataFrame | None  # the additive rule's interaction tests
    additive: list[AdditiveRow]
    cell_means: pd.DataFrame  # exploratory: every outcome, every cell
    plurality: pd.DataFrame | None  # per level of a numeric factor: share of prompts
    trajectories: pd.DataFrame | None = None  # exploratory: per cell, metric over steps
    notes: list[str] = field(default_factory=list)


def analyze(study_path, on_trajectories=None) -> Analysis:
    """The analysis of a registered study's stored cells. on_trajectories(study, table), if
    given, is called with the exploratory trajectories as soon as they are computed (the
    report's figures of them can be drawn elsewhere meanwhile: prereg/figure_worker.py)."""
    study = load_study(study_path)
    lock = check(study.path)
    cells = expand(study)
    store = Store(study.path)
    results = collect(study, cells, store)
    traj = trajectories(study, cells, store, _trajectory_metric(study))
    if on_trajectories is not None:
        on_trajectories(study, traj)
    decomp_seeds = decomposition_terms(study, results) if study.decomposition else None
    hyps = [
        HypothesisResult(h, run_hypothesis(study, h, results, decomp_seeds, cells))
        for h in study.hypotheses
    ]
    adj = inf.correct([h.result.p for h in hyps], study.correction)
    for h, p in zip(hyps, adj, strict=True):
        h.result.p_adj = p
        h.result.decision = bool(np.isfinite(p) and p < h.hypothesis.alpha)
        h.result.verdict = _verdict(h)
    for hr in hyps:
        if hr.hypothesis.sensitivity:
            hr.result.detail["sensitivity"] = sensitivity(
                study, hr.hypothesis, results, decomp_seeds, cells
            )
    interactions, additive = additive_rule(study, results)
    return Analysis(
        study=study,
        lock=lock,
        manifest=store.manifest(),
        results=results,
        hypotheses=hyps,
        models=fit_models(study, results),
        decomposition=decomposition_table(study, decomp_seeds)
        if decomp_seeds is not None
        else None,
        decomposition_seeds=decomp_seeds,
        interactions=interactions,
        additive=additive,
        cell_means=cell_means(study, results),
        plurality=plurality_table(study, cells),
        trajectories=traj,
    )


def _verdict(hr: HypothesisResult) -> str:
    """The verdict rule (inference.verdict); with `each`, supported only if every level is,
    under the intersection-union p, and not supported as soon as one level is."""
    h, r = hr.hypothesis, hr.result
    if not h.each:
        return inf.verdict(r, h.direction, h.alpha, h.sesoi)
    levels = r.detail["per_level"].values()
    own = []
    for lv in levels:
        lv.p_adj = r.p_adj  # the combined test's decision applies to every level
        own.append(inf.verdict(lv, h.direction, h.alpha, h.sesoi))
    if all(v == inf.SUPPORTED for v in own):
        return inf.SUPPORTED
    if any(v == inf.NOT_SUPPORTED for v in own):
        return inf.NOT_SUPPORTED
    return inf.INCONCLUSIVE


# ---- hypotheses ---------------------------------------------------------------------------


def _data(
    h: Hypothesis, results: pd.DataFrame, decomp: pd.DataFrame | None
) -> tuple[pd.DataFrame, str]:
    if h.outcome.startswith(DECOMP_PREFIX):
        return inf.subset(decomp, h.where), h.outcome[len(DECOMP_PREFIX) :]
    return inf.drop_excluded_seeds(inf.subset(results, h.where)), h.outcome


def run_hypothesis(
    study: Study,
    h: Hypothesis,
    results: pd.DataFrame,
    decomp: pd.DataFrame | None,
    cells: list[Cell],
) -> inf.TestResult:
    """The registered test; with `each`, at every level of that factor, combined by the
    intersection-union test: p = max of the levels' p (Berger 1982), and the reported
    estimate and interval are those of the level with the largest p."""
    if not h.each:
        return _one_hypothesis(study, h, results, decomp, cells)
    per_level = {}
    for label in study.factor(h.each).labels:
        sub = replace(h, each="", where={**h.where, h.each: (label,)})
        per_level[label] = _one_hypothesis(study, sub, results, decomp, cells)
    worst = max(per_level, key=lambda k: per_level[k].p)
    r = per_level[worst]
    return inf.TestResult(
        r.estimate,
        r.ci,
        r.p,
        r.n,
        f"at every level of {h.each} (intersection-union, p = max over levels; shown: "
        f"{h.each}={worst}): {r.method}",
        {"per_level": per_level},
    )


def sensitivity(
    study: Study,
    h: Hypothesis,
    results: pd.DataFrame,
    decomp: pd.DataFrame | None,
    cells: list[Cell],
) -> dict[str, inf.TestResult]:
    """The registered sensitivity sweep: the same test at every level of h.sensitivity,
    each with its own (uncorrected) p and verdict. Reported beside the confirmatory
    verdict, which it never changes: it shows whether that verdict rests on one setting."""
    out = {}
    for label in study.factor(h.sensitivity).labels:
        sub = replace(h, sensitivity="", where={**h.where, h.sensitivity: (label,)})
        r = run_hypothesis(study, sub, results, decomp, cells)
        r.p_adj = r.p
        r.verdict = _verdict(HypothesisResult(sub, r))
        out[label] = r
    return out


def _one_hypothesis(
    study: Study,
    h: Hypothesis,
    results: pd.DataFrame,
    decomp: pd.DataFrame | None,
    cells: list[Cell],
) -> inf.TestResult:
    """The registered test of one hypothesis, from the registry (hypothesis_tests.TESTS)."""
    data, outcome = _data(h, results, decomp)
    seed = int.from_bytes(h.id.encode()[:4].ljust(4, b"\0"), "little")  # a fixed stream per id
    if data.empty:
        raise ConfigError(f"hypothesis {h.id}.where", h.where, "selects no runs")
    return TESTS[h.test].run(Context(study, h, data, outcome, cells, seed))


# ---- the registered model ----------------------------------------------------------------


def fit_models(study: Study, results: pd.DataFrame) -> list[ModelFit]:
    data = results[~results["excluded"]]
    from simrl.prereg.study import model_outcome

    outcome = model_outcome(study.model)
    formula = f"{lhs(outcome)} ~ {study.model.partition('~')[2].strip()}"
    fits = []
    strata = itertools.product(*(study.factor(b).labels for b in study.by)) if study.by else [()]
    for levels in strata:
        stratum = dict(zip(study.by, levels, strict=True))
        sub = inf.subset(data, {k: (v,) for k, v in stratum.items()}).copy()
        for col in study.factor_names:
            sub[col] = sub[col].cat.remove_unused_categories()
        fit = inf.fit_ols(formula, sub)
        table = inf.anova_table(fit)
        mf = ModelFit(stratum, formula, table, int(fit.nobs), float(fit.df_resid))
        if study.mixed:
            mf.mixed, mf.mixed_note = _mixed(formula, sub)
        fits.append(mf)
    return fits


def _mixed(formula: str, data: pd.DataFrame) -> tuple[pd.DataFrame | None, str]:
    import warnings

    import statsmodels.formula.api as smf

    fixed = re.sub(r"\+\s*C\(\s*seed[^)]*\)", "", formula)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit = smf.mixedlm(fixed, data, groups=data["seed"]).fit(reml=True)
    except Exception as e:  # a singular fit is a result to report, not a crash
        return None, f"mixed model failed: {type(e).__name__}: {e}"
    table = pd.DataFrame(
        {"coef": fit.fe_params, "se": fit.bse_fe, "p": fit.pvalues[fit.fe_params.index]}
    )
    note = f"random intercept per seed, variance {float(fit.cov_re.iloc[0, 0]):.4g}; residual variance {fit.scale:.4g}"
    if caught:
        note += f"; {len(caught)} warning(s), e.g. {str(caught[0].message)[:120]}"
    return table, note


# ---- decomposition ------------------------------------------------------------------------


def decomposition_table(study: Study, seeds: pd.DataFrame) -> pd.DataFrame:
    d = study.decomposition
    others = [f for f in study.factor_names if f != d.factor]
    rows = []
    groups = seeds.groupby(others, observed=True) if others else [((), seeds)]
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        acc = {role: g[f"value_{role}"].to_numpy() for role in ("true", "random", "frozen")}
        acc[d.anchor] = g["value_anchor"].to_numpy()
        res = decompose_with_ci(acc, anchor=d.anchor, n_boot=d.n_boot, alpha=0.05, seed=0)
        row = dict(zip(others, key, strict=True))
        row["n_seeds"] = res.estimate.n_seeds
        for name, (lo, hi) in res.ci.items():
            row[name] = getattr(res.estimate, name)
            row[f"{name}_lo"], row[f"{name}_hi"] = lo, hi
        rows.append(row)
    return pd.DataFrame(rows)


def plurality_table(study: Study, cells: list[Cell]) -> pd.DataFrame | None:
    """For each cell's task: the share of prompts whose base plurality answer is correct."""
    if not any(h.test == "sign_change" and h.crossing == "plurality" for h in study.hypotheses):
        return None
    seen, rows = {}, []
    for c in cells:
        if c.config.task in seen:
            continue
        seen[c.config.task] = plurality_correct_share(c.config)
        rows.append({**c.labels, "plurality_correct_share": seen[c.config.task]})
    task_factors = [
        f.name
        for f in study.factors
        if any(k.startswith("task.") for lv in f.levels for k in lv.settings)
    ]
    return pd.DataFrame(rows)[[*task_factors, "plurality_correct_share"]].drop_duplicates()


# ---- the additive rule --------------------------------------------------------------------


def additive_rule(
    study: Study, results: pd.DataFrame
) -> tuple[pd.DataFrame | None, list[AdditiveRow]]:
    """Interactions of the registered factors tested (Holm), then per factor: a point if no
    interaction containing it is both significant and at least the SESOI; bounds (the
    range of its simple effects over the other factors' cells) otherwise."""
    a = study.additive
    if a is None:
        return None, []
    data = inf.drop_excluded_seeds(inf.subset(results, a.where)).copy()
    for col in study.factor_names:
        data[col] = data[col].cat.remove_unused_categories()
    left = lhs(a.outcome)
    formula = f"{left} ~ " + " * ".join(f"C({f}, Sum)" for f in a.factors)
    fit = inf.fit_ols(formula, data)
    table = inf.anova_table(fit)
    rows = []
    for r in range(2, len(a.factors) + 1):
        for combo in itertools.combinations(a.factors, r):
            term = ":".join(f"C({f}, Sum)" for f in combo)
            res = inf.anova_term(data, formula, term, "two-sided", a.alpha)
            rows.append(
                {"term": term, "factors": combo, "estimate": res.estimate, "lo": res.ci[0],
                 "hi": res.ci[1], "F": float(table.loc[term, "F"]), "p": res.p}
            )  # fmt: skip
    inter = pd.DataFrame(rows)
    inter["p_holm"] = inf.correct(inter["p"].tolist(), "holm") if len(inter) else []
    inter["blocks"] = (inter["p_holm"] < a.alpha) & (inter["estimate"].abs() >= a.sesoi)
    inter["resid_df"] = float(fit.df_resid)
    out = []
    for f in a.factors:
        main = inf.anova_term(data, formula, f"C({f}, Sum)", "two-sided", a.alpha)
        lab0, lab1 = study.factor(f).labels
        others = [g for g in a.factors if g != f]
        cm = data.groupby([f, *others], observed=True)[a.outcome].mean()
        simple = []
        for levels in itertools.product(*(study.factor(g).labels for g in others)):
            simple.append(cm[(lab0, *levels)] - cm[(lab1, *levels)])
        blocking = [
            t
            for t, fs, b in zip(inter["term"], inter["factors"], inter["blocks"], strict=True)
            if b and f in fs
        ]
        out.append(
            AdditiveRow(f, "bounds" if blocking else "point", main.estimate, main.ci,
                        (float(min(simple)), float(max(simple))), blocking)
        )  # fmt: skip
    return inter.drop(columns=["factors"]), out


# ---- exploratory ----------------------------------------------------------------------------


def cell_means(study: Study, results: pd.DataFrame) -> pd.DataFrame:
    """Every cell's mean of every outcome over its included seeds, with a 95% t interval."""
    from simrl.prereg.outcomes import needed_outcomes

    data = results[~results["excluded"]]
    rows = []
    for _, g in data.groupby("cell", sort=False):
        row = {f: g[f].iloc[0] for f in study.factor_names}
        row["n"] = len(g)
        for o in needed_outcomes(study):
            x = g[o].to_numpy(dtype=float)
            m = x.mean()
            half = (
                stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)
                if x.size > 1
                else np.nan
            )
            row[o], row[f"{o}_lo"], row[f"{o}_hi"] = m, m - half, m + half
        rows.append(row)
    return pd.DataFrame(rows)


def _trajectory_metric(study: Study) -> str:
    """The primary outcome's metric when it is one per step, else accuracy."""
    metric = metric_of(study.primary[0])
    per_run = DIFFERENCE in metric or metric in RUN_OUTCOMES or AUDIT_OUTCOME.fullmatch(metric)
    return "acc" if per_run else metric


def trajectories(study: Study, cells: list[Cell], store: Store, metric: str) -> pd.DataFrame:
    """Exploratory: the mean over included seeds of a metric (and of acc and entropy_mean,
    when stored) at every recorded step, per cell."""
    rows = []
    for c in cells:
        df = store.read(c.key)
        if study.exclude_nonfinite:
            df = df[df["failed_step"] < 0]
        if metric in DERIVED_OUTCOMES:
            df = df.assign(**{metric: derived(metric, df, c)})
        cols = list(dict.fromkeys(m for m in (metric, "acc", "entropy_mean") if m in df))
        m = df.groupby("step")[cols].mean()
        rows.append(
            pd.DataFrame({**c.labels, "step": m.index, **{k: m[k].to_numpy() for k in cols}})
        )
    return pd.concat(rows, ignore_index=True)
