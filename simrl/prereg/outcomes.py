"""Per-run outcomes from the stored cells, and per-seed decomposition terms.

Outcomes of a run: a metric at the last step (`acc`), at a registered step (`acc@50`),
and derived ones:

    acc_all   accuracy over all prompts, trained and held out:
              (n_train acc + n_heldout acc_heldout) / num_prompts  (= acc without a split;
              on the bridge n_train = bridge.train_prompts, n_heldout = bridge.eval_prompts)
    law_a, law_b, law_r2
              R = -a exp(H) + b fitted to one run's recorded (entropy_mean, acc) points
              (theory/laws.py; Cui et al. 2025); NaN if the entropy never moved
    dH_heldout_total
              the sum of dH_heldout over the run's steps: the exact change of the mean
              entropy of the states outside every step's batch from the base policy to the
              last step (a telescoping sum, exact when that set is the same every step:
              the held-out prompts, with every training prompt in every batch; linear
              policies; needs eval_every = 1)
    x - y     the per-run difference of two outcomes, e.g. "pass_at_1 - pass_at_64"
    stat(dH_x)  an entropy-change approximation against the exact change over the run's
              steps: median_rel_err, q90_rel_err, sign_agree, r2, slope, rank_corr
              (simrl/residual_stats.py fit_stats; needs run.audit and eval_every = 1);
              dH_spill_first_order is scored against dH_heldout (the held-out states'
              exact change; a linear policy's columns, no run.audit needed)

Exclusion (registered in [exclusions]): a run that hit a non-finite value
(failed_step >= 0) is marked `excluded`; tests on paired data drop the seed from every
condition they compare (inference.py), so pairs stay pairs.

Decomposition terms (theory/decomposition.py; theory/NOTES.md, "Reward-gain
decomposition"): within each stratum (a combination of the levels of the other
factors), seed i of every reward condition is a pair, and each term is a difference of
two conditions' values for that seed, DIFFERENCES[term] = (minuend, subtrahend).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simrl.config import Config
from simrl.errors import ConfigError
from simrl.prereg.grid import Cell
from simrl.prereg.store import Store
from simrl.prereg.study import (
    AUDIT_OUTCOME,
    AUDIT_REFERENCE,
    DERIVED_OUTCOMES,
    DIFFERENCE,
    HELDOUT_TOTAL,
    RUN_OUTCOMES,
    Study,
    metric_of,
    model_outcome,
    step_of,
)
from simrl.residual_stats import fit_stats
from simrl.theory.decomposition import DIFFERENCES
from simrl.theory.laws import fit_entropy_law


def needed_outcomes(study: Study) -> tuple[str, ...]:
    names = [*list(study.outcomes), model_outcome(study.model)]
    names += [h.outcome for h in study.hypotheses if not h.outcome.startswith("decomposition.")]
    if study.decomposition is not None:
        names.append(study.decomposition.outcome)
    if study.additive is not None:
        names.append(study.additive.outcome)
    return tuple(dict.fromkeys(names))


def cell_outcomes(
    study: Study, cell: Cell, df: pd.DataFrame, names: tuple[str, ...]
) -> pd.DataFrame:
    """One row per seed of a cell: its levels, failed_step, excluded, and the outcomes."""
    by_step = _Steps(df)
    last = by_step[study.steps]
    failed = last["failed_step"].to_numpy()
    n = len(failed)
    # the columns built first and framed once (inserting them one by one cost more than
    # the outcomes): cell, the factors' labels, seed, failed_step, excluded, the outcomes
    cols: dict[str, object] = {"cell": [cell.key] * n}
    cols.update((factor, [label] * n) for factor, label in cell.labels.items())
    cols["seed"] = last.index.to_numpy()
    cols["failed_step"] = failed
    cols["excluded"] = (failed >= 0) & study.exclude_nonfinite
    for name in names:
        cols[name] = _outcome(study, cell, df, by_step, name)
    return pd.DataFrame(cols)


class _Steps(dict):
    """step -> that step's rows indexed by seed, each built on first use."""

    def __init__(self, df: pd.DataFrame):
        super().__init__()
        self._df = df

    def __missing__(self, step: int) -> pd.DataFrame:
        rows = self._df[self._df["step"].to_numpy() == step].set_index("seed")
        if rows.empty:
            raise KeyError(step)
        self[step] = rows
        return rows


def _outcome(study: Study, cell: Cell, df: pd.DataFrame, by_step: dict, name: str) -> np.ndarray:
    """(seeds,) values of one outcome: 'x - y' is the per-run difference of two outcomes."""
    if DIFFERENCE in name:
        left, right = name.split(DIFFERENCE, 1)
        return _outcome(study, cell, df, by_step, left.strip()) - _outcome(
            study, cell, df, by_step, right.strip()
        )
    if name == HELDOUT_TOTAL:
        return _heldout_total(df)
    if name in RUN_OUTCOMES:
        return _law(df, name)
    audit = AUDIT_OUTCOME.fullmatch(name)
    if audit:
        return _audit(df, *audit.groups())
    metric, step = metric_of(name), step_of(name)
    rows = by_step[study.steps if step is None else step]
    if metric in DERIVED_OUTCOMES:
        return derived(metric, rows, cell).to_numpy()
    return rows[metric].to_numpy()


def _audit(df: pd.DataFrame, stat: str, approximation: str) -> np.ndarray:
    """Per run: an approximation of the entropy change against the exact one over the run's
    steps (step 0, the base policy, has no update), by simrl.residual_stats.fit_stats."""
    exact = AUDIT_REFERENCE.get(approximation, "dH_exact")
    out = []
    for _, run in df[df["step"] > 0].groupby("seed", sort=True):
        out.append(fit_stats(run[exact].to_numpy(), run[approximation].to_numpy())[stat])
    return np.asarray(out, dtype=float)


def _heldout_total(df: pd.DataFrame) -> np.ndarray:
    """Per run: the sum of dH_heldout over its steps (step 0 has no update): the held-out
    states' exact mean-entropy change from the base policy to the last step."""
    steps = df[df["step"] > 0]
    return steps.groupby("seed", sort=True)["dH_heldout"].sum(min_count=1).to_numpy(dtype=float)


def _law(df: pd.DataFrame, name: str) -> np.ndarray:
    """Per run: R = -a exp(H) + b fitted to the run's recorded (entropy_mean, acc) points
    (Cui et al. 2025, arXiv 2505.22617; theory/laws.py, theory/NOTES.md 'Entropy-performance
    law'); NaN where the entropy never moved (no slope to fit)."""
    out = []
    for _, run in df.groupby("seed", sort=True):
        try:
            fit = fit_entropy_law(run["entropy_mean"].to_numpy(), run["acc"].to_numpy())
            out.append({"law_a": fit.a, "law_b": fit.b, "law_r2": fit.r2}[name])
        except ValueError:
            out.append(np.nan)
    return np.asarray(out)


def derived(metric: str, rows: pd.DataFrame, cell: Cell) -> pd.Series:
    if metric == "acc_all":
        cfg = cell.config
        if not isinstance(cfg, Config):  # bridge: RL problems and held-out problems
            n_train, n_held = cfg.bridge.train_prompts, cfg.bridge.eval_prompts
            return (n_train * rows["acc"] + n_held * rows["acc_heldout"]) / (n_train + n_held)
        n, n_train = cfg.task.num_prompts, cfg.train_prompts
        if n_train == n:
            return rows["acc"]
        return (n_train * rows["acc"] + (n - n_train) * rows["acc_heldout"]) / n
    raise AssertionError(metric)


def collect(study: Study, cells: list[Cell], store: Store) -> pd.DataFrame:
    """results.parquet: every run's outcomes, in grid order; refuses missing cells."""
    missing = store.missing(cells)
    if missing:
        raise ConfigError(
            "study",
            study.name,
            f"{len(missing)} of {len(cells)} cells have no results yet: run `simrl prereg run {study.path}`",
        )
    bad = store.check_cells(cells)
    if bad:
        key, why = next(iter(bad.items()))
        raise ConfigError(
            f"{store.path(key)}",
            why,
            f"{len(bad)} of {len(cells)} stored cells fail verification and are not used; "
            f"`simrl prereg run {study.path}` sets them aside and recomputes them",
        )
    names = needed_outcomes(study)
    frames = [cell_outcomes(study, c, store.read(c.key), names) for c in cells]
    out = pd.concat(frames, ignore_index=True)
    for f in study.factors:
        out[f.name] = pd.Categorical(out[f.name], categories=list(f.labels))
    return out


def decomposition_terms(study: Study, results: pd.DataFrame) -> pd.DataFrame:
    """Per stratum and seed, every term of the decomposition (seeds excluded in any of
    the stratum's conditions are dropped from it)."""
    d = study.decomposition
    roles = {**d.conditions, "anchor": d.anchor}
    others = [f for f in study.factor_names if f != d.factor]
    rows = []
    groups = results.groupby(others, observed=True) if others else [((), results)]
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        bad = set(g.loc[g["excluded"], "seed"])
        wide = g[~g["seed"].isin(bad)].pivot(index="seed", columns=d.factor, values=d.outcome)
        frame = pd.DataFrame({"seed": wide.index.to_numpy()})
        for name, value in zip(others, key, strict=True):
            frame[name] = value
        for term, (hi, lo) in DIFFERENCES.items():
            frame[term] = (wide[roles[hi]] - wide[roles[lo]]).to_numpy()
        for role, label in roles.items():
            frame[f"value_{role}"] = wide[label].to_numpy()
        rows.append(frame)
    out = pd.concat(rows, ignore_index=True)
    for f in study.factors:
        if f.name in out:
            out[f.name] = pd.Categorical(out[f.name], categories=list(f.labels))
    return out


def numeric_levels(study: Study, factor: str) -> dict[str, float]:
    return {lv.label: float(lv.value) for lv in study.factor(factor).levels}


def finite(x: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(x)))
