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
    test = "paired"              # see HYPOTHESIS_TESTS
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

import itertools
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simrl.config import SECTIONS, Config
from simrl.engine.batch import ENGINES, record_steps
from simrl.errors import ConfigError
from simrl.metrics import metric_names
from simrl.metrics_sequence import sequence_metric_names
from theory.decomposition import SHARES, TERMS

SPEC_FILE = "prereg.toml"
#: the engine name a bridge study's cells are keyed and reported under
BRIDGE_ENGINE = "bridge"
#: the hypothesis tests; each is defined in simrl/prereg/inference.py
HYPOTHESIS_TESTS = ("paired", "mean", "anova", "trend", "sign_change")
DIRECTIONS = ("greater", "less", "two-sided", "equivalent")
CORRECTIONS = ("holm", "bonferroni", "fdr_bh", "none")
#: per-run outcomes derived from the metrics (simrl/prereg/outcomes.py)
DERIVED_OUTCOMES = ("acc_all",)
#: per-run outcomes of the whole trajectory: the entropy-performance law's fit
RUN_OUTCOMES = ("law_a", "law_b", "law_r2")
#: "x - y": the per-run difference of two outcomes
DIFFERENCE = " - "
#: per-run statistics of an approximation against the exact entropy change over a run's
#: steps (simrl/theory_audit.py fit_stats), e.g. "median_rel_err(dH_first_order)"
AUDIT_STATS = ("median_rel_err", "q90_rel_err", "sign_agree", "r2", "slope", "rank_corr")
AUDIT_OUTCOME = re.compile(r"(" + "|".join(AUDIT_STATS) + r")\((dH_[a-z0-9_]+)\)")
#: decomposition outcomes: per-seed terms, and shares (ratios of means; trend tests only)
DECOMP_PREFIX = "decomposition."
TOP_KEYS = (
    "title",
    "question",
    "design",
    "config",
    "factor",
    "outcomes",
    "analysis",
    "exclusions",
    "decomposition",
    "hypothesis",
    "exploratory",
)
#: where a study's cells run: the tabular simulator, or the transformer bridge
BACKENDS = ("simulator", "bridge")
#: the config sections a bridge study sets (simrl/bridge/config.py)
BRIDGE_SECTIONS = ("bridge", "reward", "algo", "optim", "run")
DESIGN_KEYS = (
    "backend",
    "seeds",
    "seed",
    "steps",
    "eval_every",
    "passk",
    "engine",
    "stopping_rule",
    "metrics",
)
HYPOTHESIS_KEYS = (
    "id",
    "statement",
    "outcome",
    "test",
    "factor",
    "contrast",
    "term",
    "where",
    "direction",
    "alpha",
    "sesoi",
    "crossing",
    "each",
    "factor2",
    "contrast2",
    "against",
)


@dataclass(frozen=True)
class Level:
    """One level of a factor: its label, the dotted config fields it sets, and its value
    on a numeric scale (for trend tests; None when the level is not a number)."""

    label: str
    settings: dict[str, Any]
    value: float | None = None


@dataclass(frozen=True)
class Factor:
    name: str
    levels: tuple[Level, ...]

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(lv.label for lv in self.levels)

    @property
    def numeric(self) -> bool:
        return all(lv.value is not None for lv in self.levels)

    def level(self, label: str) -> Level:
        return self.levels[self.labels.index(label)]


@dataclass(frozen=True)
class Hypothesis:
    """A registered hypothesis: what it says, what it tests and how it is decided."""

    id: str
    statement: str
    outcome: str  # a per-run outcome, or "decomposition.<term or share>"
    test: str  # one of HYPOTHESIS_TESTS
    direction: str  # one of DIRECTIONS
    alpha: float
    sesoi: float  # smallest effect size of interest, in the estimate's units (>= 0)
    factor: str = ""  # paired: the contrasted factor; trend / sign_change: the numeric one
    contrast: tuple[str, ...] = ()  # paired: (level a, level b), estimate = a - b
    term: str = ""  # anova: a term of the registered model, e.g. "C(a, Sum):C(b, Sum)"
    where: dict[str, tuple[str, ...]] = field(default_factory=dict)  # factor -> labels
    crossing: str = ""  # sign_change: "plurality" or a number on the factor's scale
    #: test at every level of this factor; the claim holds at all of them (intersection-union)
    each: str = ""
    #: paired: a second contrast; the estimate is the difference of differences
    #: (a - b at c) - (a - b at d) with contrast2 = (c, d)
    factor2: str = ""
    contrast2: tuple[str, ...] = ()
    against: float = 0.0  # mean: the value the mean is tested against


@dataclass(frozen=True)
class Decomposition:
    """The telescoping decomposition (theory/decomposition.py) over a reward factor."""

    factor: str
    outcome: str
    anchor: str  # the level label of the correctness-free anchor
    conditions: dict[str, str]  # role ("true", "random", "frozen") -> level label
    n_boot: int = 2000


@dataclass(frozen=True)
class Additive:
    """The registered rule for reporting an additive decomposition as points or bounds."""

    outcome: str
    factors: tuple[str, ...]
    alpha: float
    sesoi: float
    where: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Study:
    path: Path
    title: str
    question: str
    seeds: int
    seed: int
    steps: int
    eval_every: int
    passk: tuple[int, ...] | None
    engine: str
    stopping_rule: str
    metrics: tuple[str, ...]  # metric columns stored per cell (empty = all)
    base: dict[str, dict[str, Any]]  # the fixed config, nested sections
    factors: tuple[Factor, ...]
    primary: tuple[str, ...]
    secondary: tuple[str, ...]
    model: str
    by: tuple[str, ...]  # fit the model separately within each level of these factors
    mixed: bool
    correction: str
    exclude_nonfinite: bool
    exclusion_note: str
    hypotheses: tuple[Hypothesis, ...]
    decomposition: Decomposition | None
    additive: Additive | None
    exploratory: tuple[str, ...]  # outcomes summarised (not tested) in the exploratory part
    n_boot: int = 2000
    #: every cell: its levels (factor -> label) and its resolved config, in grid order
    #: (a simrl Config; a BridgeRunConfig with backend = "bridge")
    cells: tuple[tuple[dict[str, str], Any], ...] = ()
    backend: str = "simulator"  # one of BACKENDS

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def spec_path(self) -> Path:
        return self.path / SPEC_FILE

    @property
    def factor_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.factors)

    def factor(self, name: str) -> Factor:
        return self.factors[self.factor_names.index(name)]

    @property
    def outcomes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.primary + self.secondary + self.exploratory))

    def cell_count(self) -> int:
        return math.prod(len(f.levels) for f in self.factors)


def step_of(outcome: str) -> int | None:
    """'acc@50' -> 50; 'acc' -> None."""
    _, sep, step = outcome.partition("@")
    return int(step) if sep else None


def metric_of(outcome: str) -> str:
    """'acc@50' -> 'acc'."""
    return outcome.partition("@")[0]


def model_outcome(model: str) -> str:
    """The outcome on the left of a formula: 'acc ~ ...' or 'Q("acc@50") ~ ...'."""
    lhs = model.partition("~")[0].strip()
    m = re.fullmatch(r"Q\(\s*[\"'](.+)[\"']\s*\)", lhs)
    return m.group(1) if m else lhs


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
    _check_model(study)
    return study


def _with(study: Study, **changes: Any) -> Study:
    from dataclasses import replace

    return replace(study, **changes)


# ---- the grid's configs ------------------------------------------------------------------


def cell_configs(study: Study) -> list[tuple[dict[str, str], Config]]:
    """Every cell: its factor levels (name -> label) and its resolved config. The levels
    vary fastest in the last factor; a bad combination names the cell."""
    out = []
    for levels in itertools.product(*(f.levels for f in study.factors)):
        labels = {f.name: lv.label for f, lv in zip(study.factors, levels, strict=True)}
        overrides: dict[str, Any] = {}
        for lv in levels:
            overrides.update(lv.settings)
        overrides.update(
            {
                "run.steps": study.steps,
                "run.seeds": study.seeds,
                "run.seed": study.seed,
                "run.eval_every": study.eval_every,
                "run.on_nonfinite": "record",  # a failure is recorded (and excluded), never fatal
            }
        )
        if study.passk is not None:
            overrides["run.passk"] = list(study.passk)
        try:
            if study.backend == "bridge":
                from simrl.bridge.config import BridgeRunConfig

                cfg = BridgeRunConfig.from_dict(study.base, overrides)
            else:
                cfg = Config.from_dict(study.base, overrides)
        except ConfigError as e:
            cell = ", ".join(f"{k}={v}" for k, v in labels.items())
            raise ConfigError(e.field, e.value, f"{e.allowed} (in cell {cell})") from None
        out.append((labels, cfg))
    return out


def available_metrics(cfg: Any) -> tuple[str, ...]:
    if not isinstance(cfg, Config):  # a bridge cell (BridgeRunConfig)
        from simrl.bridge.run import TIMING_NAMES
        from simrl.bridge.run import metric_names as bridge_metric_names

        # wall-clock throughput is not a result: a cell must be bitwise reproducible
        return tuple(m for m in bridge_metric_names(cfg.run.passk) if m not in TIMING_NAMES)
    if cfg.task.kind == "sequence":
        names = sequence_metric_names(cfg.run.passk, cfg.task.num_modes, cfg.max_len)
    else:
        names = metric_names(cfg.run.passk)
    return names


# ---- parsing helpers ---------------------------------------------------------------------


def _keys(prefix: str, table: dict, allowed: tuple[str, ...]) -> None:
    for key in table:
        if key not in allowed:
            import difflib

            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"{prefix}{key}", table[key], f"unknown key{hint}; valid: " + ", ".join(allowed)
            )


def _table(data: dict, key: str) -> dict:
    value = data.get(key)
    if not isinstance(value, dict):
        raise ConfigError(key, value, f"[{key}] must be a table")
    return value


def _text(data: dict, key: str, where: str = "") -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(where + key, value, "must be a non-empty string")
    return value.strip()


def _int(data: dict, name: str, key: str, lo: int, default: int | None = None) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ConfigError(name, value, f"must be an integer >= {lo}")
    return value


def _names(data: dict, name: str, key: str, required: bool = False) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(name, value, "must be a list of outcome names")
    if required and not value:
        raise ConfigError(name, value, "needs at least one outcome")
    return tuple(value)


def _flatten(prefix: str, table: dict, out: dict) -> None:
    for key, value in table.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            _flatten(dotted, value, out)
        else:
            out[dotted] = value


def _label(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check_bridge_cells(study: Study) -> None:
    """A bridge cell's numbers depend on the device (CPU float32 vs CUDA bf16 autocast), so
    a study names it: 'auto' would store CPU and GPU results under one cell key."""
    for labels, cfg in study.cells:
        if cfg.bridge.device == "auto":
            cell = ", ".join(f"{k}={v}" for k, v in labels.items())
            raise ConfigError(
                "bridge.device",
                "auto",
                f"must be 'cpu' or 'cuda' in a study (a cell's numbers depend on it; in cell {cell})",
            )


def _bridge_available() -> None:
    """A bridge study needs torch and transformers: say so before anything else."""
    import importlib.util

    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            "design.backend",
            "bridge",
            f"needs {' and '.join(missing)}: pip install torch==2.13.0 && pip install -e '.[llm]'",
        )


def _factors(raw: Any, sections: tuple[str, ...] = tuple(SECTIONS)) -> tuple[Factor, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError("factor", raw, "needs at least one [[factor]] table")
    factors, set_by = [], {}
    for i, f in enumerate(raw):
        where = f"factor[{i}]"
        _keys(f"{where}.", f, ("name", "field", "levels"))
        name = f.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ConfigError(f"{where}.name", name, "must be an identifier (letters, digits, _)")
        if name in ("seed", "cell", "run", "step", "failed_step", "excluded"):
            raise ConfigError(f"{where}.name", name, "is a reserved column name")
        levels_raw = f.get("levels")
        levels: list[Level] = []
        if "field" in f:
            fld = f["field"]
            _check_field(f"factor.{name}.field", fld, sections)
            if not isinstance(levels_raw, list) or len(levels_raw) < 2:
                raise ConfigError(f"factor.{name}.levels", levels_raw, "must list >= 2 values")
            for v in levels_raw:
                num = float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None
                levels.append(Level(_label(v), {fld: v}, num))
            fields_set = {fld}
        else:
            if not isinstance(levels_raw, dict) or len(levels_raw) < 2:
                raise ConfigError(
                    f"factor.{name}.levels",
                    levels_raw,
                    "must be a list of values (with field = ...) or a table of >= 2 named levels",
                )
            fields_set = set()
            for label, table in levels_raw.items():
                if not isinstance(table, dict):
                    raise ConfigError(
                        f"factor.{name}.levels.{label}", table, "must be a table of config fields"
                    )
                table = dict(table)
                value = table.pop("value", None)
                if value is not None and (
                    isinstance(value, bool) or not isinstance(value, int | float)
                ):
                    raise ConfigError(
                        f"factor.{name}.levels.{label}.value", value, "must be a number"
                    )
                settings: dict[str, Any] = {}
                _flatten("", table, settings)
                for fld in settings:
                    _check_field(f"factor.{name}.levels.{label}", fld, sections)
                fields_set |= set(settings)
                levels.append(Level(str(label), settings, None if value is None else float(value)))
        labels = [lv.label for lv in levels]
        if len(set(labels)) != len(labels):
            raise ConfigError(f"factor.{name}.levels", labels, "level labels must be distinct")
        if name in (g.name for g in factors):
            raise ConfigError(f"{where}.name", name, "factor names must be distinct")
        for fld in fields_set:
            if fld in set_by:
                raise ConfigError(
                    f"factor.{name}",
                    fld,
                    f"is already set by factor {set_by[fld]!r}; a field belongs to one factor",
                )
            set_by[fld] = name
        factors.append(Factor(name, tuple(levels)))
    return tuple(factors)


def _check_field(where: str, fld: Any, sections: tuple[str, ...] = tuple(SECTIONS)) -> None:
    section, _, name = str(fld).partition(".")
    if section not in sections or not name:
        raise ConfigError(
            where,
            fld,
            "config fields are dotted: section.field, section one of " + ", ".join(sections),
        )
    if section == "run" and name in (
        "steps",
        "seeds",
        "seed",
        "eval_every",
        "passk",
        "on_nonfinite",
    ):
        raise ConfigError(where, fld, "is set by [design], not by a factor")


def _where(raw: Any, study_factors: tuple[Factor, ...], name: str) -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(name, raw, "must be a table factor -> level label (or list of labels)")
    by_name = {f.name: f for f in study_factors}
    out = {}
    for fname, labels in raw.items():
        if fname not in by_name:
            raise ConfigError(name, fname, "unknown factor; factors: " + ", ".join(by_name))
        labels = tuple(_label(x) for x in (labels if isinstance(labels, list) else [labels]))
        for lab in labels:
            if lab not in by_name[fname].labels:
                raise ConfigError(
                    f"{name}.{fname}",
                    lab,
                    "unknown level; levels: " + ", ".join(by_name[fname].labels),
                )
        out[fname] = labels
    return out


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


def _prob(name: str, v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v < 1:
        raise ConfigError(name, v, "must be a number in (0, 1)")


def _nonneg(name: str, v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not (v >= 0 and math.isfinite(v)):
        raise ConfigError(name, v, "must be a finite number >= 0")


def _hypotheses(raw: Any, study: Study) -> tuple[Hypothesis, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError("hypothesis", raw, "needs at least one [[hypothesis]] table")
    out: list[Hypothesis] = []
    for i, h in enumerate(raw):
        where = f"hypothesis[{i}]"
        _keys(f"{where}.", h, HYPOTHESIS_KEYS)
        hid = h.get("id")
        if not isinstance(hid, str) or not hid:
            raise ConfigError(f"{where}.id", hid, "must be a non-empty string")
        where = f"hypothesis {hid}"
        if hid in (x.id for x in out):
            raise ConfigError(f"{where}.id", hid, "hypothesis ids must be distinct")
        test = h.get("test")
        if test not in HYPOTHESIS_TESTS:
            raise ConfigError(
                f"{where}.test", test, "must be one of " + ", ".join(HYPOTHESIS_TESTS)
            )
        direction = h.get("direction", "two-sided")
        if direction not in DIRECTIONS:
            raise ConfigError(
                f"{where}.direction", direction, "must be one of " + ", ".join(DIRECTIONS)
            )
        alpha = h.get("alpha", 0.05)
        _prob(f"{where}.alpha", alpha)
        if "sesoi" not in h:
            raise ConfigError(
                f"{where}.sesoi", None, "a smallest effect size of interest (>= 0) is required"
            )
        _nonneg(f"{where}.sesoi", h["sesoi"])
        if direction == "equivalent" and h["sesoi"] <= 0:
            raise ConfigError(f"{where}.sesoi", h["sesoi"], "must be > 0 for an equivalence test")
        outcome = h.get("outcome", study.primary[0])
        hyp = Hypothesis(
            id=hid,
            statement=_text(h, "statement", where=f"{where}."),
            outcome=str(outcome),
            test=test,
            direction=direction,
            alpha=float(alpha),
            sesoi=float(h["sesoi"]),
            factor=str(h.get("factor", "")),
            contrast=tuple(_label(x) for x in h.get("contrast", ())),
            term=str(h.get("term", "")),
            where=_where(h.get("where"), study.factors, f"{where}.where"),
            crossing=_label(h.get("crossing", "")),
            each=str(h.get("each", "")),
            factor2=str(h.get("factor2", "")),
            contrast2=tuple(_label(x) for x in h.get("contrast2", ())),
            against=float(h.get("against", 0.0)),
        )
        _check_hypothesis(hyp, study, where)
        out.append(hyp)
    return tuple(out)


def _check_hypothesis(h: Hypothesis, study: Study, where: str) -> None:
    decomp = h.outcome.startswith(DECOMP_PREFIX)
    if h.each:
        if h.each not in study.factor_names:
            raise ConfigError(
                f"{where}.each", h.each, "must be a factor: " + ", ".join(study.factor_names)
            )
        if h.test not in ("paired", "mean"):
            raise ConfigError(f"{where}.each", h.each, "applies to the 'paired' and 'mean' tests")
        taken = {h.factor, *h.where} | (
            {study.decomposition.factor} if decomp and study.decomposition else set()
        )
        if h.each in taken:
            raise ConfigError(
                f"{where}.each",
                h.each,
                "must differ from the tested, restricted and reward factors",
            )
    if decomp:
        if study.decomposition is None:
            raise ConfigError(f"{where}.outcome", h.outcome, "needs a [decomposition] table")
        name = h.outcome[len(DECOMP_PREFIX) :]
        if name not in TERMS + SHARES:
            raise ConfigError(
                f"{where}.outcome",
                h.outcome,
                "decomposition outcomes: " + ", ".join(TERMS + SHARES),
            )
        if name in SHARES and h.test != "trend":
            raise ConfigError(
                f"{where}.test",
                h.test,
                f"{name} is a ratio of means, not a per-seed value: use test = 'trend'",
            )
        if study.decomposition.factor in h.where or h.factor == study.decomposition.factor:
            raise ConfigError(
                f"{where}.where",
                study.decomposition.factor,
                "a decomposition term already spans the reward factor",
            )
    needs_factor = h.test in ("paired", "trend", "sign_change")
    if needs_factor:
        if h.factor not in study.factor_names:
            raise ConfigError(
                f"{where}.factor", h.factor, "must be a factor: " + ", ".join(study.factor_names)
            )
    if h.against != 0.0 and h.test != "mean":
        raise ConfigError(f"{where}.against", h.against, "applies to the 'mean' test")
    if h.test == "paired":
        _check_contrast(study, h.factor, h.contrast, f"{where}.contrast")
        if h.factor in h.where:
            raise ConfigError(
                f"{where}.where", h.factor, "the contrasted factor cannot also be restricted"
            )
        if h.factor2 or h.contrast2:
            if h.factor2 not in study.factor_names or h.factor2 == h.factor or h.factor2 in h.where:
                raise ConfigError(
                    f"{where}.factor2",
                    h.factor2,
                    "must be another factor, not restricted by where: "
                    + ", ".join(study.factor_names),
                )
            _check_contrast(study, h.factor2, h.contrast2, f"{where}.contrast2")
    elif h.factor2 or h.contrast2:
        raise ConfigError(f"{where}.factor2", h.factor2, "applies to the 'paired' test")
    if h.test in ("trend", "sign_change"):
        if not study.factor(h.factor).numeric:
            raise ConfigError(
                f"{where}.factor",
                h.factor,
                "needs numeric levels (a list of numbers, or value = ... on each level)",
            )
        if h.factor in h.where and len(h.where[h.factor]) < 2:
            raise ConfigError(
                f"{where}.where", h.factor, "a trend needs at least two levels of its factor"
            )
    if h.test == "sign_change":
        if h.crossing == "plurality" and study.backend == "bridge":
            raise ConfigError(
                f"{where}.crossing",
                h.crossing,
                "'plurality' needs the simulator's exact task; on the bridge give a number",
            )
        if h.crossing != "plurality":
            try:
                float(h.crossing)
            except ValueError:
                raise ConfigError(
                    f"{where}.crossing",
                    h.crossing,
                    "must be 'plurality' or a number on the factor's scale",
                ) from None
        if h.direction not in ("greater", "less"):
            raise ConfigError(
                f"{where}.direction",
                h.direction,
                "sign_change: 'greater' (negative below the crossing, positive above) or 'less'",
            )
    if h.test == "anova":
        if not h.term:
            raise ConfigError(f"{where}.term", h.term, "an anova test names a term of the model")
        if h.direction == "equivalent":
            raise ConfigError(
                f"{where}.direction", h.direction, "an anova term has no equivalence test here"
            )
    if not decomp:
        _check_outcome_name(study, h.outcome, f"{where}.outcome")


def _check_contrast(study: Study, factor: str, contrast: tuple[str, ...], where: str) -> None:
    labels = study.factor(factor).labels
    if len(contrast) != 2 or any(c not in labels for c in contrast) or contrast[0] == contrast[1]:
        raise ConfigError(
            where, list(contrast), f"must be two different levels of {factor}: " + ", ".join(labels)
        )


def _check_factor_names(study: Study, names: tuple[str, ...], where: str) -> None:
    for n in names:
        if n not in study.factor_names:
            raise ConfigError(where, n, "must be a factor: " + ", ".join(study.factor_names))


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
        for needed in ("dH_exact", audit.group(2)):
            _check_outcome_name(study, needed, where)
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


def _check_model(study: Study) -> None:
    _lhs, sep, rhs = study.model.partition("~")
    if not sep:
        raise ConfigError("analysis.model", study.model, "must be a formula 'outcome ~ terms'")
    _check_outcome_name(study, model_outcome(study.model), "analysis.model")
    for name in re.findall(r"C\(\s*([A-Za-z_][A-Za-z0-9_]*)", rhs):
        if name not in study.factor_names:
            raise ConfigError(
                "analysis.model", name, "is not a factor: " + ", ".join(study.factor_names)
            )
