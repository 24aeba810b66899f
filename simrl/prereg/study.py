"""The registered study as data: its constants, factors, hypotheses and the Study itself.

The parsed form of `experiments/<study>/prereg.toml` (simrl/prereg/spec.py parses and
validates it); everything here is a frozen dataclass or a name list.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SPEC_FILE = "prereg.toml"
#: the engine name a bridge study's cells are keyed and reported under
BRIDGE_ENGINE = "bridge"
DIRECTIONS = ("greater", "less", "two-sided", "equivalent")
CORRECTIONS = ("holm", "bonferroni", "fdr_bh", "none")
#: per-run outcomes derived from the metrics (simrl/prereg/outcomes.py)
DERIVED_OUTCOMES = ("acc_all",)
#: per-run outcomes of the whole trajectory: the entropy-performance law's fit, and the
#: held-out prompts' total exact entropy change (sum of dH_heldout over the run's steps)
LAW_OUTCOMES = ("law_a", "law_b", "law_r2")
HELDOUT_TOTAL = "dH_heldout_total"
RUN_OUTCOMES = (*LAW_OUTCOMES, HELDOUT_TOTAL)
#: "x - y": the per-run difference of two outcomes
DIFFERENCE = " - "
#: per-run statistics of an approximation against the exact entropy change over a run's
#: steps (simrl/approximation_grid.py fit_stats), e.g. "median_rel_err(dH_first_order)"
AUDIT_STATS = ("median_rel_err", "q90_rel_err", "sign_agree", "r2", "slope", "rank_corr")
AUDIT_OUTCOME = re.compile(r"(" + "|".join(AUDIT_STATS) + r")\((dH_[a-z0-9_]+)\)")
#: the exact change an approximation is scored against: dH_exact (the moved states), except
#: the held-out spill term, scored against the held-out states' exact change
AUDIT_REFERENCE = {"dH_spill_first_order": "dH_heldout"}
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
    test: str  # a name of the registry simrl/prereg/hypothesis_tests.py TESTS
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
    against: float = 0.0  # mean, median, quantile, proportion: the value compared with
    quantile: float = 0.5  # quantile: which quantile of the per-seed values
    share: float = 0.5  # proportion: the share of seeds above `against` under H0
    #: a registered sensitivity sweep: the same test at every level of this factor,
    #: reported beside the verdict (which it does not change)
    sensitivity: str = ""


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
    from simrl.prereg.formula import outcome_of

    return outcome_of(model)
