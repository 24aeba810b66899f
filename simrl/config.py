"""Configuration: frozen dataclasses, loaded from TOML with dotted overrides.

Every field carries a one-line doc and a check (`param(default, doc, check)`); each
section checks its own fields on construction and `Config` checks the combinations, so
a bad value raises `ConfigError(field, value, allowed)` before any work starts.

    cfg = Config.from_toml("quickstart.toml", overrides={"optim.lr": 0.1})
    cfg = Config(algo=AlgoConfig(loss="clip_cov"), run=RunConfig(seeds=64))
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from simrl._version import __version__
from simrl.advantages import ADVANTAGES
from simrl.aggregation import AGGREGATIONS
from simrl.errors import ConfigError
from simrl.kl import KL_ESTIMATORS
from simrl.losses import POLICY_LOSSES
from simrl.optim import OPTIMIZERS
from simrl.rewards import DETERMINISTIC, REWARDS
from simrl.validate import Bool, FloatList, IntList, Range, one_of, require

POS = Range(0.0, lo_open=True)
NONNEG = Range(0.0)
UNIT = Range(0.0, 1.0)
POS_INT = Range(1, integer=True)
NONNEG_INT = Range(0, integer=True)

TASK_KINDS = ("bandit", "sequence")
ANSWER_KINDS = ("env", "policy")
DYNAMIC_SAMPLING = ("off", "drop", "resample")
STEER_MODES = ("linear", "exp")
ON_NONFINITE = ("raise", "record")


def param(default: Any, doc: str, check: Any) -> Any:
    """A config field: its default, a one-line doc, and the check of its values."""
    return field(default=default, metadata={"doc": doc, "check": check})


class Section:
    """Shared behaviour of the config sections: field checks on construction."""

    section: ClassVar[str]

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if not f.metadata["check"].ok(value):
                raise ConfigError(f"{self.section}.{f.name}", value, f.metadata["check"].allowed())


@dataclass(frozen=True)
class TaskConfig(Section):
    section: ClassVar[str] = "task"
    kind: str = param(
        "bandit",
        "task family: 'bandit' (one answer token per prompt) or 'sequence' (token sequences: mode, reasoning tokens with forks, answer; simrl/tasks/reasoning.py)",
        one_of(TASK_KINDS),
    )
    num_prompts: int = param(64, "number of prompts S", POS_INT)
    num_answers: int = param(
        16,
        "answers per prompt K (bandit: its vocabulary; sequence: the final answer values, one correct)",
        Range(2, integer=True),
    )
    num_correct: int = param(1, "correct answers per prompt", POS_INT)
    prior_strength: float = param(
        0.3,
        "bandit: base policy's total probability on the correct answers of a prompt (mean over prompts if prior_spread > 0); sequence: base probability of the most accurate mode, the rest split evenly (unless mode_prior is given)",
        Range(0.0, 1.0, lo_open=True, hi_open=True),
    )
    prior_spread: float = param(
        0.0,
        "std of per-prompt prior strengths, drawn from a Beta with mean prior_strength (0 = all equal)",
        NONNEG,
    )
    format_mass: float = param(
        0.0,
        "bandit: base probability of one designated wrong 'format' answer per prompt; sequence: base probability of the format token after the reasoning (0 = none)",
        Range(0.0, 1.0, hi_open=True),
    )
    train_prompts: int = param(
        0,
        "prompts RL trains on: the first train_prompts (0 = all); the rest are held out and reported as *_heldout (1 = one-shot RLVR, arXiv 2504.20571)",
        NONNEG_INT,
    )
    seed: int = param(
        0,
        "seed of the task instance (answer positions, per-prompt strengths), separate from run seeds",
        NONNEG_INT,
    )
    # ---- the sequence family (task.kind = "sequence"; simrl/tasks/reasoning.py) ----------
    num_modes: int = param(
        2,
        "sequence: reasoning modes the first token chooses between (think: code vs prose)",
        POS_INT,
    )
    mode_prior: tuple[float, ...] = param(
        (),
        "sequence: base probability of each mode (sums to 1); empty = prior_strength on the most accurate mode, the rest evenly",
        FloatList(0.0, 1.0),
    )
    mode_accuracy: tuple[float, ...] = param(
        (0.8, 0.3),
        "sequence: probability that the answer is correct in each mode (one value per mode)",
        FloatList(0.0, 1.0, empty=False),
    )
    share_mode_state: bool = param(
        True,
        "sequence: one mode-choice state shared by every prompt (a habit of the whole model); false = one per prompt",
        Bool(),
    )
    vocab: int = param(4, "sequence: tokens at each reasoning state", Range(2, integer=True))
    steps: int = param(
        4,
        "sequence: reasoning tokens after the mode token (max_len = 1 + steps [+ answer] [+ format])",
        POS_INT,
    )
    fork_positions: tuple[int, ...] = param(
        (1,),
        "sequence: reasoning positions (0-based) that are high-entropy forks, each with one good token (arXiv 2506.01939)",
        IntList(0, empty=True),
    )
    fork_entropy: float = param(
        1.0, "sequence: base entropy of a fork state, nats (< ln vocab)", POS
    )
    peak_mass: float = param(
        0.95,
        "sequence: base probability of the likely token at a non-fork reasoning state (the rest evenly)",
        Range(0.0, 1.0, lo_open=True, hi_open=True),
    )
    fork_effect: float = param(
        0.0,
        "sequence: how much the fork choices matter: accuracy = mode_accuracy * (1 - e + e * good forks / forks)",
        UNIT,
    )
    answer: str = param(
        "env",
        "sequence: 'env' = the answer is an outcome of the environment given mode and forks (like running the code); 'policy' = an answer token the policy chooses",
        one_of(ANSWER_KINDS),
    )
    end_prob: float = param(
        0.0,
        "sequence: base probability of the end token at each reasoning position >= min_steps (0 = fixed length)",
        Range(0.0, 1.0, hi_open=True),
    )
    min_steps: int = param(
        1, "sequence: reasoning tokens before the end token becomes available", POS_INT
    )


@dataclass(frozen=True)
class RewardConfig(Section):
    section: ClassVar[str] = "reward"
    kind: str = param("true", "reward: " + ", ".join(REWARDS.names), one_of(REWARDS.names))
    p: float = param(0.5, "probability of reward 1 for kind='random'", UNIT)
    flip: float = param(0.1, "probability of flipping the true reward for kind='noisy'", UNIT)


@dataclass(frozen=True)
class AlgoConfig(Section):
    section: ClassVar[str] = "algo"
    group_size: int = param(8, "responses sampled per prompt G", POS_INT)
    prompts_per_step: int = param(
        0, "prompts per step, sampled without replacement (0 = all prompts)", NONNEG_INT
    )
    advantage: str = param(
        "grpo", "advantage estimator: " + ", ".join(ADVANTAGES.names), one_of(ADVANTAGES.names)
    )
    std_eps: float = param(
        1e-6, "epsilon added to the group std in grpo (verl 1e-6; TRL uses 1e-4)", POS
    )
    std_ddof: int = param(
        1,
        "ddof of the group std in grpo (1 = torch.std, as TRL and verl)",
        Range(0, 1, integer=True),
    )
    loss: str = param(
        "vanilla", "policy loss: " + ", ".join(POLICY_LOSSES.names), one_of(POLICY_LOSSES.names)
    )
    clip_low: float = param(
        0.2,
        "PPO lower clip: ratios below 1 - clip_low get no gradient when A < 0",
        Range(0.0, 1.0, hi_open=True),
    )
    clip_high: float = param(
        0.2,
        "PPO upper clip: ratios above 1 + clip_high get no gradient when A > 0 (DAPO clip-higher)",
        NONNEG,
    )
    dual_clip: float = param(
        0.0, "dual-clip constant c > 1 bounding the loss of A < 0 tokens (0 = off)", NONNEG
    )
    clip_cov_ratio: float = param(
        2e-4,
        "Clip-Cov: fraction of tokens whose gradient is removed (verl default 2e-4)",
        Range(0.0, 1.0, lo_open=True),
    )
    clip_cov_lb: float = param(
        1.0, "Clip-Cov: lower covariance bound of eligible tokens (verl default 1)", Range()
    )
    clip_cov_ub: float = param(
        5.0, "Clip-Cov: upper covariance bound of eligible tokens (verl default 5)", Range()
    )
    kl_cov_ratio: float = param(
        2e-3,
        "KL-Cov: fraction of tokens penalised (verl default 2e-4; the official 7B KL-Cov recipe uses 2e-3)",
        Range(0.0, 1.0, lo_open=True),
    )
    kl_cov_coef: float = param(
        1.0, "KL-Cov: coefficient of |logp - logp_old| (verl ppo_kl_coef, default 1)", NONNEG
    )
    steer_mode: str = param(
        "linear",
        "STEER weight map: 'linear' onto [steer_w_min, steer_w_max] or 'exp'",
        one_of(STEER_MODES),
    )
    steer_w_min: float = param(
        0.8,
        "STEER: weight of the largest |Omega| (linear) / lower clamp (exp)",
        Range(0.0, lo_open=True),
    )
    steer_w_max: float = param(
        1.2, "STEER linear map: weight of the smallest |Omega|", Range(0.0, lo_open=True)
    )
    steer_k: float = param(
        0.0,
        "STEER exp map: weight exp(-steer_k |Omega|) clamped to [steer_w_min, 1]; 0 = public code's k = -ln(w_min) / max(max |Omega|, 0.02)",
        NONNEG,
    )
    forking_top_quantile: float = param(
        1.0,
        "only tokens whose state entropy is in the top fraction of the minibatch's tokens get gradient (0.2 = the 80/20 forking-token rule, Wang et al. 2025, arXiv 2506.01939; TRL top_entropy_quantile); 1 = all tokens; sequence tasks",
        Range(0.0, 1.0, lo_open=True),
    )
    overlong_cache: int = param(
        0,
        "DAPO soft overlong punishment (arXiv 2503.14476 Eq. 13): responses longer than max_len - overlong_cache get overlong_factor * (max_len - cache - length) / cache added to the reward (0 = off); sequence tasks",
        NONNEG_INT,
    )
    overlong_factor: float = param(
        1.0, "scale of the DAPO overlong penalty (verl overlong_penalty_factor)", NONNEG
    )
    epochs: int = param(
        1, "inner PPO epochs over each batch (ratios against the sampling policy)", POS_INT
    )
    minibatches: int = param(
        1, "minibatches per epoch (groups split in order; one optimiser step each)", POS_INT
    )
    agg: str = param(
        "token-mean",
        "loss aggregation (verl agg_loss): " + ", ".join(AGGREGATIONS.names),
        one_of(AGGREGATIONS.names),
    )
    kl_coef: float = param(
        0.0, "coefficient of the KL penalty to the reference policy (0 = off)", NONNEG
    )
    kl_kind: str = param(
        "k3", "KL penalty: " + ", ".join(KL_ESTIMATORS.names), one_of(KL_ESTIMATORS.names)
    )
    ref_reset_every: int = param(
        0,
        "ProRL: every N steps the reference becomes the current policy and the optimiser state resets (0 = never)",
        NONNEG_INT,
    )
    entropy_coef: float = param(
        0.0, "coefficient of the exact entropy bonus (loss -= coef * H)", NONNEG
    )
    dynamic_sampling: str = param(
        "off",
        "zero-variance groups: 'off' (kept, A = 0), 'drop' (removed), 'resample' (DAPO)",
        one_of(DYNAMIC_SAMPLING),
    )
    max_resample_rounds: int = param(3, "DAPO resample: cap on batches drawn per step", POS_INT)
    exact: bool = param(
        False,
        "use the exact expected gradient with A(a) = r(a) - E_pi r instead of sampled groups",
        Bool(),
    )


@dataclass(frozen=True)
class OptimConfig(Section):
    section: ClassVar[str] = "optim"
    kind: str = param("sgd", "optimiser: " + ", ".join(OPTIMIZERS.names), one_of(OPTIMIZERS.names))
    lr: float = param(0.5, "step size", POS)
    beta1: float = param(0.9, "adam first-moment decay", Range(0.0, 1.0, hi_open=True))
    beta2: float = param(0.999, "adam second-moment decay", Range(0.0, 1.0, hi_open=True))
    eps: float = param(1e-8, "adam denominator epsilon", POS)


@dataclass(frozen=True)
class RunConfig(Section):
    section: ClassVar[str] = "run"
    steps: int = param(100, "RL steps (one batch each)", POS_INT)
    seeds: int = param(
        8, "independent runs (replicates), seeded SeedSequence(seed).spawn(seeds)", POS_INT
    )
    seed: int = param(0, "root seed of the runs' random streams", NONNEG_INT)
    eval_every: int = param(
        1, "steps between metric rows (exact metrics; the last step is always recorded)", POS_INT
    )
    passk: tuple[int, ...] = param((1, 8), "k values for exact pass@k", IntList(1))
    audit: bool = param(
        False,
        "record the entropy-change audit: second order, Cui's Theorem 1, the one-token sum, STEER's two forms",
        Bool(),
    )
    on_nonfinite: str = param(
        "raise",
        "a non-finite value: 'raise' stops with an error naming run and step; 'record' marks the run failed",
        one_of(ON_NONFINITE),
    )


SECTIONS: dict[str, type[Section]] = {
    "task": TaskConfig,
    "reward": RewardConfig,
    "algo": AlgoConfig,
    "optim": OptimConfig,
    "run": RunConfig,
}


@dataclass(frozen=True)
class Config:
    """A whole simulation: task, reward, algorithm, optimiser and run settings."""

    task: TaskConfig = field(default_factory=TaskConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    algo: AlgoConfig = field(default_factory=AlgoConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        _check_combinations(self)

    # ---- derived values -------------------------------------------------------------
    @property
    def train_prompts(self) -> int:
        """Resolved number of training prompts (the 0 = all convention applied)."""
        return self.task.train_prompts or self.task.num_prompts

    @property
    def max_len(self) -> int:
        """Longest response in tokens: 1 for the bandit; for the sequence family the mode
        token, the reasoning tokens, the answer token (answer = 'policy') and the format
        token (format_mass > 0)."""
        t = self.task
        if t.kind == "bandit":
            return 1
        return 1 + t.steps + (t.answer == "policy") + (t.format_mass > 0)

    @property
    def prompts_per_step(self) -> int:
        """Resolved prompts per step (0 = all training prompts)."""
        return self.algo.prompts_per_step or self.train_prompts

    # ---- construction ------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any], overrides: dict[str, Any] | None = None) -> Config:
        """Build from nested sections (as TOML gives), then apply dotted overrides."""
        return cls(**build_sections(with_overrides(data, overrides, SECTIONS), SECTIONS))

    @classmethod
    def from_toml(cls, path: str | Path, overrides: dict[str, Any] | None = None) -> Config:
        return cls.from_dict(read_toml(path), overrides)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}

    def to_toml(self) -> str:
        """Resolved config as TOML, stamped with the simrl version that ran it."""
        lines = [f'simrl_version = "{__version__}"']
        for section, values in self.to_dict().items():
            lines += ["", f"[{section}]"]
            lines += [f"{k} = {_toml_value(v)}" for k, v in values.items()]
        return "\n".join(lines) + "\n"

    def replace(self, **overrides: Any) -> Config:
        """A copy with dotted overrides, e.g. cfg.replace(**{"optim.lr": 0.1})."""
        return Config.from_dict(self.to_dict(), overrides)


def with_overrides(data: dict[str, Any], overrides: dict[str, Any] | None, sections) -> dict:
    """A copy of nested config data (less its simrl_version stamp) with dotted overrides
    'section.field' applied; a key whose section is not one of `sections` is refused."""
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    data.pop("simrl_version", None)
    for key, value in (overrides or {}).items():
        section, _, name = key.partition(".")
        if not name or section not in sections:
            raise ConfigError(
                key,
                value,
                "overrides are 'section.field' with section one of " + ", ".join(sections),
            )
        data.setdefault(section, {})[name] = value
    return data


def build_sections(data: dict[str, Any], sections: dict[str, type]) -> dict[str, Any]:
    """Each section of `data` built as its dataclass in `sections` (checked field by field)."""
    kwargs = {}
    for section, values in data.items():
        if section not in sections:
            raise ConfigError(section, values, _suggest("section", section, sections))
        if not isinstance(values, dict):
            raise ConfigError(section, values, "must be a table of fields")
        kwargs[section] = _build_section(sections[section], values)
    return kwargs


def read_toml(path: str | Path) -> dict[str, Any]:
    """A config file's data; a missing file or bad TOML is a ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("config", str(path), "must be an existing TOML file")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("config", str(path), f"must be valid TOML ({e})") from None


def parse_override(text: str) -> tuple[str, Any]:
    """'optim.lr=0.1' -> ('optim.lr', 0.1); a value that is not a TOML literal stays a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError("--set", text, "must look like section.field=value")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip(), value


def field_docs() -> dict[str, str]:
    """Dotted field name -> one-line doc, for every field."""
    return {
        f"{name}.{f.name}": f.metadata["doc"] for name, cls in SECTIONS.items() for f in fields(cls)
    }


# ---- internals -------------------------------------------------------------------------


def _suggest(what: str, name: str, valid: Any) -> str:
    close = difflib.get_close_matches(name, list(valid), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {what}{hint}; valid: " + ", ".join(valid)


def _build_section(cls: type[Section], values: dict[str, Any]) -> Section:
    by_name = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    kwargs = {}
    for name, value in values.items():
        if name not in by_name:
            raise ConfigError(f"{cls.section}.{name}", value, _suggest("field", name, by_name))
        kwargs[name] = _coerce(f"{cls.section}.{name}", by_name[name], value)
    return cls(**kwargs)


def _coerce(key: str, f: dataclasses.Field, value: Any) -> Any:
    """TOML's types to the field's: int -> float where a float is wanted; list -> tuple;
    a bare true/false where a name is wanted stays a name (--set reward.kind=true)."""
    default = f.default
    if isinstance(default, str) and isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, tuple):
        if isinstance(value, list | tuple):
            if isinstance(f.metadata["check"], FloatList):
                return tuple(
                    float(x) if isinstance(x, int) and not isinstance(x, bool) else x for x in value
                )
            return tuple(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return (value,)
        raise ConfigError(key, value, f.metadata["check"].allowed())
    return value


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, float):
        return (
            repr(v)
            if math.isfinite(v)
            else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
        )
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return str(v)


#: task fields that only the sequence family reads, and algo fields only its engine has
SEQUENCE_TASK_FIELDS = (
    "num_modes", "mode_prior", "mode_accuracy", "share_mode_state", "vocab", "steps",
    "fork_positions", "fork_entropy", "peak_mass", "fork_effect", "answer", "end_prob",
    "min_steps",
)  # fmt: skip
SEQUENCE_ALGO_FIELDS = ("forking_top_quantile", "overlong_cache", "overlong_factor")


def _check_combinations(c: Config) -> None:
    if c.task.kind == "sequence":
        _check_sequence(c)
    else:
        _check_bandit(c)
    _check_common(c)


def _check_unused(c: Config, section: str, names: tuple[str, ...], kind: str) -> None:
    """A field the task kind does not read must stay at its default (never silently ignored)."""
    obj = getattr(c, section)
    defaults = type(obj)()
    for name in names:
        value = getattr(obj, name)
        if value != getattr(defaults, name):
            require(
                False,
                f"{section}.{name}",
                value,
                f"applies to task.kind = '{kind}' only (this is task.kind = '{c.task.kind}')",
            )


def _check_sequence(c: Config) -> None:
    t, a = c.task, c.algo
    _check_unused(c, "task", ("num_correct", "prior_spread"), "bandit")
    M = t.num_modes
    require(
        len(t.mode_accuracy) == M,
        "task.mode_accuracy",
        t.mode_accuracy,
        f"must have one value per mode (task.num_modes = {M})",
    )
    if t.mode_prior:
        require(
            len(t.mode_prior) == M,
            "task.mode_prior",
            t.mode_prior,
            f"must be empty or have one value per mode (task.num_modes = {M})",
        )
        require(
            abs(sum(t.mode_prior) - 1.0) < 1e-9 and min(t.mode_prior) > 0,
            "task.mode_prior",
            t.mode_prior,
            "must be positive probabilities that sum to 1",
        )
    require(
        M >= 2 or not t.mode_prior,
        "task.mode_prior",
        t.mode_prior,
        "needs task.num_modes >= 2",
    )
    require(
        all(p < t.steps for p in t.fork_positions),
        "task.fork_positions",
        t.fork_positions,
        f"must be reasoning positions 0..{t.steps - 1} (task.steps = {t.steps})",
    )
    require(
        t.fork_entropy < math.log(t.vocab),
        "task.fork_entropy",
        t.fork_entropy,
        f"must be < ln(task.vocab) = {math.log(t.vocab):.4g} nats",
    )
    require(
        t.min_steps <= t.steps,
        "task.min_steps",
        t.min_steps,
        f"must be <= task.steps = {t.steps}",
    )
    require(
        t.answer == "policy" or t.num_answers >= 2,
        "task.num_answers",
        t.num_answers,
        "must be >= 2",
    )
    require(
        a.overlong_cache < c.max_len,
        "algo.overlong_cache",
        a.overlong_cache,
        f"must be < max_len = {c.max_len} (the punished lengths are max_len - cache + 1 .. max_len)",
    )
    require(
        c.reward.kind != "format" or t.format_mass > 0,
        "reward.kind",
        c.reward.kind,
        "'format' needs the format token: set task.format_mass > 0",
    )
    if a.exact:
        variable = t.end_prob > 0
        require(
            not variable or a.agg in ("seq-mean-token-sum", "seq-mean-token-sum-norm"),
            "algo.agg",
            a.agg,
            "algo.exact with variable lengths (task.end_prob > 0) needs an aggregation whose "
            "token weights do not depend on the realised lengths: 'seq-mean-token-sum' or "
            "'seq-mean-token-sum-norm'",
        )
        require(
            a.overlong_cache == 0,
            "algo.overlong_cache",
            a.overlong_cache,
            "must be 0 with algo.exact (the exact gradient needs rewards in {0, 1})",
        )
        require(
            a.forking_top_quantile == 1.0,
            "algo.forking_top_quantile",
            a.forking_top_quantile,
            "must be 1 with algo.exact (the quantile rule selects among sampled tokens)",
        )


def _check_bandit(c: Config) -> None:
    t, r = c.task, c.reward
    _check_unused(c, "task", SEQUENCE_TASK_FIELDS, "sequence")
    _check_unused(c, "algo", SEQUENCE_ALGO_FIELDS, "sequence")
    has_format = t.format_mass > 0
    n_other_wrong = t.num_answers - t.num_correct - (1 if has_format else 0)
    require(
        t.num_correct < t.num_answers,
        "task.num_correct",
        t.num_correct,
        f"must be < task.num_answers = {t.num_answers} (a prompt needs a wrong answer)",
    )
    require(
        n_other_wrong >= 1,
        "task.num_answers",
        t.num_answers,
        f"must leave a wrong answer besides the format answer (num_correct = {t.num_correct}, format answer: {has_format})",
    )
    require(
        t.prior_strength + t.format_mass < 1.0,
        "task.format_mass",
        t.format_mass,
        f"must be < 1 - task.prior_strength = {1 - t.prior_strength:g} (the other wrong answers need mass)",
    )
    max_spread = math.sqrt(t.prior_strength * (1 - t.prior_strength))
    require(
        t.prior_spread < max_spread,
        "task.prior_spread",
        t.prior_spread,
        f"must be < sqrt(m (1 - m)) = {max_spread:.4g} for a Beta with mean m = task.prior_strength",
    )
    require(
        r.kind != "format" or has_format,
        "reward.kind",
        r.kind,
        "'format' needs a format answer: set task.format_mass > 0",
    )


def check_algo(a: AlgoConfig) -> None:
    """The combinations within the algo section, shared by the simulator and the bridge."""
    needs_pairs = (a.advantage == "rloo") or (a.advantage == "grpo" and a.std_ddof == 1)
    require(
        a.exact or not needs_pairs or a.group_size >= 2,
        "algo.group_size",
        a.group_size,
        f"must be >= 2 for advantage '{a.advantage}'"
        + (" with std_ddof = 1" if a.advantage == "grpo" else ""),
    )
    require(
        a.dual_clip == 0 or a.dual_clip > 1, "algo.dual_clip", a.dual_clip, "must be 0 (off) or > 1"
    )
    require(
        a.dual_clip == 0 or a.loss in ("vanilla", "steer"),
        "algo.dual_clip",
        a.dual_clip,
        f"dual clip applies to the 'vanilla' and 'steer' losses only, not '{a.loss}' (as in verl)",
    )
    require(
        a.clip_cov_lb < a.clip_cov_ub,
        "algo.clip_cov_lb",
        a.clip_cov_lb,
        f"must be < algo.clip_cov_ub = {a.clip_cov_ub}",
    )
    require(
        a.steer_w_min <= a.steer_w_max,
        "algo.steer_w_min",
        a.steer_w_min,
        f"must be <= algo.steer_w_max = {a.steer_w_max}",
    )
    require(
        a.steer_mode != "exp" or a.steer_w_min <= 1.0,
        "algo.steer_w_min",
        a.steer_w_min,
        "must be <= 1 with algo.steer_mode = 'exp' (it is the lower clamp of exp(-k |Omega|))",
    )


def _check_common(c: Config) -> None:
    t, a, r = c.task, c.algo, c.reward
    require(
        a.prompts_per_step <= c.train_prompts,
        "algo.prompts_per_step",
        a.prompts_per_step,
        f"must be <= the training prompts = {c.train_prompts} (sampled without replacement; 0 = all)",
    )
    require(
        t.train_prompts <= t.num_prompts,
        "task.train_prompts",
        t.train_prompts,
        f"must be <= task.num_prompts = {t.num_prompts} (0 = all)",
    )
    check_algo(a)
    require(
        a.minibatches <= c.prompts_per_step,
        "algo.minibatches",
        a.minibatches,
        f"must be <= prompts per step = {c.prompts_per_step} (minibatches split whole groups)",
    )
    if a.exact:
        require(
            r.kind in DETERMINISTIC,
            "reward.kind",
            r.kind,
            "algo.exact needs a deterministic reward: one of " + ", ".join(DETERMINISTIC),
        )
        require(
            a.loss in ("vanilla", "pg"),
            "algo.loss",
            a.loss,
            "algo.exact supports the 'vanilla' and 'pg' losses (sample-based token selection has no exact form)",
        )
        require(
            a.dynamic_sampling == "off",
            "algo.dynamic_sampling",
            a.dynamic_sampling,
            "must be 'off' with algo.exact (there are no sampled groups)",
        )
    require(max(c.run.passk) <= 1_000_000, "run.passk", c.run.passk, "k values must be <= 1e6")
