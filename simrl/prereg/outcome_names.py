"""Outcome names: each registered outcome is a metric every cell stores, at a recorded step."""

from __future__ import annotations

from simrl.engine.batch import record_steps
from simrl.errors import ConfigError
from simrl.prereg import formula
from simrl.prereg.factors import available_metrics
from simrl.prereg.study import (
    AUDIT_OUTCOME,
    AUDIT_REFERENCE,
    DERIVED_OUTCOMES,
    DIFFERENCE,
    HELDOUT_TOTAL,
    RUN_OUTCOMES,
    Study,
)


def _check_outcome_name(study: Study, outcome: str, where: str) -> None:
    """The metric exists for every cell's task kind, and a registered step is recorded."""
    if DIFFERENCE in outcome:
        for side in outcome.split(DIFFERENCE, 1):
            _check_outcome_name(study, side.strip(), where)
        return
    audit = AUDIT_OUTCOME.fullmatch(outcome)
    if audit:
        if study.eval_every != 1:
            raise ConfigError(
                where, outcome, "an audit statistic needs every step: design.eval_every = 1"
            )
        approximation = audit.group(2)
        for needed in (AUDIT_REFERENCE.get(approximation, "dH_exact"), approximation):
            _check_outcome_name(study, needed, where)
        return
    if outcome == HELDOUT_TOTAL:
        if study.eval_every != 1:
            raise ConfigError(where, outcome, "a sum over the steps needs design.eval_every = 1")
        _check_outcome_name(study, "dH_heldout", where)
        return
    if outcome in RUN_OUTCOMES:
        for needed in ("acc", "entropy_mean"):
            if study.metrics and needed not in study.metrics:
                raise ConfigError(where, outcome, f"needs {needed!r} among design.metrics")
        return
    metric, sep, step = outcome.partition("@")
    if sep:
        if not step.isdigit():
            raise ConfigError(
                where, outcome, "a step outcome is 'metric@step' with an integer step"
            )
        recorded = record_steps(study.steps, study.eval_every)
        if int(step) not in recorded:
            raise ConfigError(
                where,
                outcome,
                f"step {step} is not recorded: rows are at multiples of design.eval_every = "
                f"{study.eval_every} and at the last step {study.steps}",
            )
    if metric in DERIVED_OUTCOMES:
        return
    for labels, cfg in study.cells:
        names = available_metrics(cfg)
        if metric not in names:
            cell = ", ".join(f"{k}={v}" for k, v in labels.items())
            raise ConfigError(
                where, outcome, f"is not a metric of cell {cell}; metrics: " + ", ".join(names)
            )
        if study.metrics and metric not in study.metrics:
            raise ConfigError(where, outcome, "must be among design.metrics (the stored columns)")


def _check_outcomes(study: Study) -> None:
    for cfg_labels, cfg in study.cells:
        names = available_metrics(cfg)
        for m in study.metrics:
            if m not in names:
                cell = ", ".join(f"{k}={v}" for k, v in cfg_labels.items())
                raise ConfigError("design.metrics", m, f"is not a metric of cell {cell}")
    for o in study.primary:
        _check_outcome_name(study, o, "outcomes.primary")
    for o in study.secondary:
        _check_outcome_name(study, o, "outcomes.secondary")
    for o in study.exploratory:
        _check_outcome_name(study, o, "exploratory.outcomes")
    if study.decomposition is not None:
        _check_outcome_name(study, study.decomposition.outcome, "decomposition.outcome")
    if study.additive is not None:
        _check_outcome_name(study, study.additive.outcome, "analysis.additive.outcome")


def _check_model(study: Study) -> str:
    """Parse the registered model with simrl's own grammar (simrl/prereg/formula.py) and
    check its outcome; returns the canonical formula, the only text statsmodels sees."""
    parsed = formula.parse(study.model, study.factor_names)
    _check_outcome_name(study, parsed.outcome, "analysis.model")
    return parsed.text()
