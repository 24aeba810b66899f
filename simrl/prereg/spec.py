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

from pathlib import Path
from typing import Any

from simrl.config import SECTIONS
from simrl.engine.batch import ENGINES
from simrl.errors import ConfigError
from simrl.io import read_toml
from simrl.prereg.factors import (
    _bridge_available,
    _check_bridge_cells,
    _factors,
    _where,
    cell_configs,
)
from simrl.prereg.fields import (
    MAX_BOOT,
    REQUIRED,
    Ints,
    Optional,
    Param,
    Strings,
    Table,
    Text,
    _keys,
    _names,
    _table,
    _text,
    read,
)
from simrl.prereg.hypotheses import _check_factor_names, _hypotheses
from simrl.prereg.outcome_names import _check_model, _check_outcomes
from simrl.prereg.study import (
    BACKENDS,
    BRIDGE_ENGINE,
    BRIDGE_SECTIONS,
    CORRECTIONS,
    SPEC_FILE,
    TOP_KEYS,
    Additive,
    Decomposition,
    Factor,
    Study,
)
from simrl.validate import Bool, Range, one_of

#: [design], [analysis], [exclusions], [exploratory]: every field with its default, doc, check
DESIGN = {
    "backend": Param("simulator", "where cells run", one_of(BACKENDS)),
    "seeds": Param(REQUIRED, "replicates per cell (paired)", Range(2, integer=True)),
    "seed": Param(0, "the root seed", Range(0, integer=True)),
    "steps": Param(REQUIRED, "steps per run", Range(1, integer=True)),
    "eval_every": Param(
        None, "steps between metric rows (default: steps)", Optional(Range(1, integer=True))
    ),
    "passk": Param(None, "the k of pass@k", Optional(Ints(1))),
    "engine": Param(
        None,
        "the simulator engine (fast; reference for a cell the numba engine refuses, checked at register)",
        Optional(one_of(ENGINES)),
    ),
    "stopping_rule": Param(REQUIRED, "when data collection stops", Text()),
    "metrics": Param([], "metric columns stored per cell (empty: all)", Strings("metric names")),
}
ANALYSIS = {
    "model": Param(REQUIRED, "the registered model (simrl/prereg/formula.py)", Text()),
    "by": Param([], "fit the model within each level of these factors", Strings("factor names")),
    "mixed": Param(False, "also fit a random intercept per seed", Bool()),
    "correction": Param("holm", "the multiple-comparison correction", one_of(CORRECTIONS)),
    "n_boot": Param(2000, "bootstrap replicates", Range(100, MAX_BOOT, integer=True)),
}
EXCLUSIONS = {
    "nonfinite": Param(True, "exclude seeds with a non-finite value", Bool()),
    "note": Param("", "the exclusion rule, in words", Optional(Text(), empty="")),
}
DECOMPOSITION = {
    "factor": Param(REQUIRED, "the reward factor", Text()),
    "outcome": Param("acc", "the decomposed outcome", Text()),
    "anchor": Param("self_consistency", "the correctness-free anchor level", Text()),
    "conditions": Param({}, "role (true, random, frozen) -> level label", Table()),
}
ADDITIVE = {
    "outcome": Param("", "the outcome (default: the first primary)", Text()),
    "factors": Param([], "two-level factors of the additive rule", Strings("factor names")),
    "alpha": Param(0.05, "the interaction tests' level", Range(0.0, 1.0, True, True)),
    "sesoi": Param(0.0, "smallest interaction of interest", Range(0.0)),
}
EXPLORATORY = {"outcomes": Param([], "outcomes summarised, not tested", Strings("outcome names"))}


def resolve(study: str | Path, root: str | Path | None = None) -> Path:
    """A folder holding prereg.toml, or a study name under ROOT/experiments/ (ROOT: `root`,
    else the current folder)."""
    p = Path(study)
    for cand in (p, Path(root or ".") / "experiments" / p):
        if (cand / SPEC_FILE).is_file():
            return cand
    if root is None and len(p.parts) == 1 and not Path("experiments").is_dir():
        from simrl import shipped

        if (shipped.experiments() / p / SPEC_FILE).is_file():
            return shipped.experiments() / p
    raise ConfigError(
        "study",
        str(study),
        f"must be a folder with {SPEC_FILE} (a path, or a name under experiments/)",
    )


def resolve_writable(study: str | Path, root: str | Path | None = None) -> Path:
    """resolve(), for a command that writes into the study (register, run, analyze): a name
    that only a shipped study has (no experiments/ here or under --root) answers with the
    copy to make, instead of writing into the installed package or another folder's checkout."""
    path = resolve(study, root)
    if root is None and path not in (Path(study), Path("experiments") / study):
        raise ConfigError(
            "study",
            str(study),
            f"is a shipped study (read-only, {path}): copy it and use the copy, "
            f"cp -r {path} {Path(study).name} (or pass --root DIR of your project)",
        )
    return path


def load_study(study: str | Path) -> Study:
    """Parse and validate a study's prereg.toml; build every cell's config once."""
    path = resolve(study)
    return parse(legacy_names(read_toml(path / SPEC_FILE), path), path)


def legacy_names(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """A registered spec's renamed fields under their new names (config_toml.RENAMED).

    A locked spec cannot change (its sha256 is in prereg.lock.json), so a field renamed
    after it was registered (task.steps -> task.reasoning_tokens) is read under its new
    name when the spec is exactly the registered text. Any other spec (a new one, one being
    registered or amended, one edited after its lock) keeps the old name, and building its
    configs answers with the one-line error that names the new one. The cells' identities
    keep the old name (prereg/identity.py), so the stored keys are the same either way."""
    from simrl.config_toml import RENAMED

    old = {k.partition(".")[::2]: v[0].partition(".")[2] for k, v in RENAMED.items()}
    dotted = {k: v[0] for k, v in RENAMED.items()}

    def uses(table: Any) -> bool:
        return isinstance(table, dict) and any(
            isinstance(table.get(sec), dict) and name in table[sec] for sec, name in old
        )

    factors = data.get("factor", [])
    factors = factors if isinstance(factors, list) else []
    levels = [
        t
        for f in factors
        if isinstance(f, dict) and isinstance(f.get("levels"), dict)
        for t in f["levels"].values()
    ]
    fields = [f for f in factors if isinstance(f, dict) and f.get("field") in dotted]
    if not (uses(data.get("config")) or fields or any(uses(t) for t in levels)):
        return data
    if not _is_registered_text(path):
        return data

    def rename(table: dict[str, Any]) -> None:
        for sec, name in old:
            if isinstance(table.get(sec), dict) and name in table[sec]:
                section = dict(table[sec])
                section[old[sec, name]] = section.pop(name)
                table[sec] = section

    import copy

    data = copy.deepcopy(data)
    if isinstance(data.get("config"), dict):
        rename(data["config"])
    for f in data.get("factor", []):
        if isinstance(f, dict):
            if f.get("field") in dotted:
                f["field"] = dotted[f["field"]]
            if isinstance(f.get("levels"), dict):
                for table in f["levels"].values():
                    if isinstance(table, dict):
                        rename(table)
    return data


def _is_registered_text(path: Path) -> bool:
    """The spec file is the text its lock registered (the last amendment's, if any)."""
    from simrl.prereg.lock import read_lock, registered_hash, sha256_file

    lock = read_lock(path)
    return lock is not None and registered_hash(lock) == sha256_file(path / SPEC_FILE)


def parse(data: dict[str, Any], path: Path) -> Study:
    _keys("", data, TOP_KEYS)
    title = _text(data, "title")
    question = _text(data, "question")
    design = read(_table(data, "design"), "design.", DESIGN)
    seeds, seed, steps = design["seeds"], design["seed"], design["steps"]
    eval_every = design["eval_every"] or steps
    passk = None if design["passk"] is None else tuple(design["passk"])
    backend = design["backend"]
    sections: tuple[str, ...] = tuple(SECTIONS)
    if backend == "bridge":
        _bridge_available()
        sections = BRIDGE_SECTIONS
        if design["engine"] is not None:
            raise ConfigError(
                "design.engine", design["engine"], "applies to backend 'simulator' only"
            )
        engine = BRIDGE_ENGINE
    else:
        engine = design["engine"] or "fast"
    stopping_rule = design["stopping_rule"].strip()
    metrics = tuple(design["metrics"])

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

    analysis = read(_table(data, "analysis"), "analysis.", ANALYSIS, skip=("additive",))
    model, by, mixed = analysis["model"], tuple(analysis["by"]), analysis["mixed"]
    correction, n_boot = analysis["correction"], analysis["n_boot"]
    excl = read(data.get("exclusions", {}), "exclusions.", EXCLUSIONS)
    exclude_nonfinite, exclusion_note = excl["nonfinite"], excl["note"]
    exploratory = tuple(read(data.get("exploratory", {}), "exploratory.", EXPLORATORY)["outcomes"])

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
    study = _with(study, additive=_additive(data["analysis"].get("additive"), study))
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
    d = read(raw, "decomposition.", DECOMPOSITION)
    by_name = {f.name: f for f in factors}
    fname = d["factor"]
    if fname not in by_name:
        raise ConfigError("decomposition.factor", fname, "must be a factor: " + ", ".join(by_name))
    labels = by_name[fname].labels
    conditions = {"true": "true", "random": "random", "frozen": "frozen"}
    for role, lab in d["conditions"].items():
        if role not in conditions or not isinstance(lab, str):
            raise ConfigError(
                f"decomposition.conditions.{role}",
                lab,
                "roles are true, random, frozen -> a level label",
            )
    conditions.update(d["conditions"])
    anchor = d["anchor"]
    for role, lab in [*conditions.items(), ("anchor", anchor)]:
        if lab not in labels:
            raise ConfigError(
                f"decomposition.conditions.{role}",
                lab,
                f"must be a level of {fname}: " + ", ".join(labels),
            )
    return Decomposition(fname, d["outcome"], anchor, conditions, n_boot)


def _additive(raw: Any, study: Study) -> Additive | None:
    if raw is None:
        return None
    a = read(raw, "analysis.additive.", ADDITIVE, skip=("where",))
    factors = tuple(a["factors"])
    _check_factor_names(study, factors, "analysis.additive.factors")
    for f in factors:
        if len(study.factor(f).levels) != 2:
            raise ConfigError(
                "analysis.additive.factors", f, "the additive rule needs two-level factors"
            )
    return Additive(
        a["outcome"] or study.primary[0],
        factors,
        float(a["alpha"]),
        float(a["sesoi"]),
        _where(raw.get("where"), study.factors, "analysis.additive.where"),
    )
