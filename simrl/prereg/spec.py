"""A study's pre-registration: `experiments/<study>/prereg.toml`, parsed and validated.

Everything a study decides before it sees data lives in the spec: the question, the
fixed config, the factors and their levels (any config field, dotted names), seeds and
steps, the outcomes, the hypotheses with their tests, alphas and smallest effect sizes of
interest (SESOI), the analysis model, the multiple-comparison correction, exclusion rules
and the stopping rule. Every mistake is a `ConfigError(field, value, allowed)` raised
before any work starts; every cell's config is built (and so checked by simrl.config).

    title = "..."
    question = "..."

    [design]
    seeds = 32                   # replicates 0..seeds-1, the same in every cell (paired)
    steps = 300
    eval_every = 25              # metric rows; registered steps must be among them
    stopping_rule = "fixed: every cell x every seed; no interim analysis"
    backend = "simulator"        # or "bridge": every cell runs on a transformer (below)

    [config]                     # the fixed config, nested sections as in simrl run
    task = { kind = "bandit", num_prompts = 32 }

    [[factor]]                   # a factor over one field ...
    name = "reward"
    field = "reward.kind"
    levels = ["frozen", "random", "self_consistency", "true"]

    [[factor]]                   # ... or named levels, each setting several fields
    name = "regime"
    [factor.levels.on_policy]
    algo = { loss = "pg", epochs = 1 }
    [factor.levels.clipped]
    algo = { loss = "vanilla", epochs = 4, clip_low = 0.2, clip_high = 0.2 }

    [outcomes]
    primary = ["acc"]            # metric names at the last step; "name@step" at a step
    secondary = ["entropy_mean", "acc@100"]

    [analysis]
    model = "acc ~ C(reward, Sum) * C(regime, Sum)"
    correction = "holm"

    [[hypothesis]]
    id = "H1"
    statement = "..."
    outcome = "acc"
    test = "paired"              # see simrl/prereg/hypothesis_tests.py
    factor = "reward"
    contrast = ["true", "random"]
    direction = "greater"
    alpha = 0.05
    sesoi = 0.02

With `backend = "bridge"` every cell runs as token-level GRPO on a causal LM
(simrl/bridge; `simrl.bridge.study.bridge_outcomes`) instead of the simulator: [config]
and the factors set the bridge's sections (`bridge.*`, reward, algo, optim, run; no
task: the bridge's task lives in [bridge]), every cell is a BridgeRunConfig checked
before any work, and the outcomes are the bridge's metrics under the simulator's names
(simrl/bridge/run.py `metric_names`). `design.engine` does not apply.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from simrl.config import SECTIONS
from simrl.engine.batch import ENGINES
from simrl.errors import ConfigError
from simrl.prereg.factors import (
    _bridge_available,
    _check_bridge_cells,
    _factors,
    _where,
    cell_configs,
)
from simrl.prereg.fields import _int, _keys, _names, _nonneg, _prob, _table, _text
from simrl.prereg.hypotheses import _check_factor_names, _hypotheses
from simrl.prereg.outcome_names import _check_model, _check_outcomes
from simrl.prereg.study import (
    BACKENDS,
    BRIDGE_ENGINE,
    BRIDGE_SECTIONS,
    CORRECTIONS,
    DESIGN_KEYS,
    SPEC_FILE,
    TOP_KEYS,
    Additive,
    Decomposition,
    Factor,
    Study,
)


def resolve(study: str | Path) -> Path:
    """A study name (experiments/<name>) or a folder holding prereg.toml."""
    p = Path(study)
    for cand in (p, Path("experiments") / p):
        if (cand / SPEC_FILE).is_file():
            return cand
    raise ConfigError(
        "study",
        str(study),
        f"must be a folder with {SPEC_FILE} (a path, or a name under experiments/)",
    )


def load_study(study: str | Path) -> Study:
    """Parse and validate a study's prereg.toml; build every cell's config once."""
    path = resolve(study)
    try:
        data = tomllib.loads((path / SPEC_FILE).read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(SPEC_FILE, str(path / SPEC_FILE), f"must be valid TOML ({e})") from None
    return parse(data, path)


def parse(data: dict[str, Any], path: Path) -> Study:
    _keys("", data, TOP_KEYS)
    title = _text(data, "title")
    question = _text(data, "question")
    design = _table(data, "design")
    _keys("design.", design, DESIGN_KEYS)
    seeds = _int(design, "design.seeds", "seeds", lo=2)
    seed = _int(design, "design.seed", "seed", lo=0, default=0)
    steps = _int(design, "design.steps", "steps", lo=1)
    eval_every = _int(design, "design.eval_every", "eval_every", lo=1, default=steps)
    passk = design.get("passk")
    if passk is not None:
        passk = tuple(passk) if isinstance(passk, list) else passk
    backend = design.get("backend", "simulator")
    if backend not in BACKENDS:
        raise ConfigError("design.backend", backend, "must be one of " + ", ".join(BACKENDS))
    sections: tuple[str, ...] = tuple(SECTIONS)
    if backend == "bridge":
        _bridge_available()
        sections = BRIDGE_SECTIONS
        if "engine" in design:
            raise ConfigError(
                "design.engine", design["engine"], "applies to backend 'simulator' only"
            )
    engine = design.get("engine", "fast") if backend == "simulator" else BRIDGE_ENGINE
    if backend == "simulator" and engine not in ENGINES:
        raise ConfigError("design.engine", engine, "must be one of " + ", ".join(ENGINES))
    stopping_rule = _text(design, "stopping_rule", where="design.")
    metrics = tuple(design.get("metrics", ()))

    base = _table(data, "config")
    for section, values in base.items():
        if section not in sections:
            hint = " (a [bridge] section needs design.backend = 'bridge')" * (section == "bridge")
            raise ConfigError(
                f"config.{section}", values, "sections are " + ", ".join(sections) + hint
            )
        if not isinstance(values, dict):
            raise ConfigError(f"config.{section}", values, "must be a table of fields")
    if "run" in base:
        for name in ("steps", "seeds", "seed", "eval_every", "passk"):
            if name in base["run"]:
                raise ConfigError(
                    f"config.run.{name}", base["run"][name], f"is set by [design] ({name})"
                )
    factors = _factors(data.get("factor", []), sections)
    outcomes = _table(data, "outcomes")
    _keys("outcomes.", outcomes, ("primary", "secondary"))
    primary = _names(outcomes, "outcomes.primary", "primary", required=True)
    secondary = _names(outcomes, "outcomes.secondary", "secondary")
    exploratory = tuple(data.get("exploratory", {}).get("outcomes", ()))

    analysis = _table(data, "analysis")
    _keys("analysis.", analysis, ("model", "by", "mixed", "correction", "n_boot", "additive"))
    model = _text(analysis, "model", where="analysis.")
    by = tuple(analysis.get("by", ()))
    mixed = bool(analysis.get("mixed", False))
    correction = analysis.get("correction", "holm")
    if correction not in CORRECTIONS:
        raise ConfigError(
            "analysis.correction", correction, "must be one of " + ", ".join(CORRECTIONS)
        )
    n_boot = _int(analysis, "analysis.n_boot", "n_boot", lo=100, default=2000)

    excl = data.get("exclusions", {})
    _keys("exclusions.", excl, ("nonfinite", "note"))
    exclude_nonfinite = bool(excl.get("nonfinite", True))
    exclusion_note = str(excl.get("note", ""))

    study = Study(
        path=path,
        title=title,
        question=question,
        seeds=seeds,
        seed=seed,
        steps=steps,
        eval_every=eval_every,
        passk=passk,
        engine=engine,
        stopping_rule=stopping_rule,
        metrics=metrics,
        base=base,
        factors=factors,
        primary=primary,
        secondary=secondary,
        model=model,
        by=by,
        mixed=mixed,
        correction=correction,
        exclude_nonfinite=exclude_nonfinite,
        exclusion_note=exclusion_note,
        hypotheses=(),
        decomposition=_decomposition(data.get("decomposition"), factors, n_boot),
        additive=None,
        exploratory=exploratory,
        n_boot=n_boot,
        backend=backend,
    )
    study = _with(study, cells=tuple(cell_configs(study)))  # builds and checks every config
    if backend == "bridge":
        _check_bridge_cells(study)
    study = _with(study, additive=_additive(analysis.get("additive"), study))
    study = _with(study, hypotheses=_hypotheses(data.get("hypothesis", []), study))
    _check_factor_names(study, by, "analysis.by")
    _check_outcomes(study)
    study = _with(study, model=_check_model(study))
    return study


def _with(study: Study, **changes: Any) -> Study:
    from dataclasses import replace

    return replace(study, **changes)


def _decomposition(raw: Any, factors: tuple[Factor, ...], n_boot: int) -> Decomposition | None:
    if raw is None:
        return None
    _keys("decomposition.", raw, ("factor", "outcome", "anchor", "conditions"))
    by_name = {f.name: f for f in factors}
    fname = raw.get("factor")
    if fname not in by_name:
        raise ConfigError("decomposition.factor", fname, "must be a factor: " + ", ".join(by_name))
    labels = by_name[fname].labels
    conditions = {"true": "true", "random": "random", "frozen": "frozen"}
    conditions.update(raw.get("conditions", {}))
    anchor = raw.get("anchor", "self_consistency")
    for role, lab in [*conditions.items(), ("anchor", anchor)]:
        if lab not in labels:
            raise ConfigError(
                f"decomposition.conditions.{role}",
                lab,
                f"must be a level of {fname}: " + ", ".join(labels),
            )
    outcome = raw.get("outcome", "acc")
    return Decomposition(fname, outcome, anchor, conditions, n_boot)


def _additive(raw: Any, study: Study) -> Additive | None:
    if raw is None:
        return None
    _keys("analysis.additive.", raw, ("outcome", "factors", "alpha", "sesoi", "where"))
    factors = tuple(raw.get("factors", ()))
    _check_factor_names(study, factors, "analysis.additive.factors")
    for f in factors:
        if len(study.factor(f).levels) != 2:
            raise ConfigError(
                "analysis.additive.factors", f, "the additive rule needs two-level factors"
            )
    alpha = raw.get("alpha", 0.05)
    sesoi = raw.get("sesoi", 0.0)
    _prob("analysis.additive.alpha", alpha)
    _nonneg("analysis.additive.sesoi", sesoi)
    return Additive(
        str(raw.get("outcome", study.primary[0])),
        factors,
        float(alpha),
        float(sesoi),
        _where(raw.get("where"), study.factors, "analysis.additive.where"),
    )
