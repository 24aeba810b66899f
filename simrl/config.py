"""Configuration: frozen dataclasses, loaded from TOML with dotted overrides.

Every field carries a one-line doc and a check (`param(default, doc, check)`); each
section checks its own fields on construction and `Config` checks the combinations, so
a bad value raises `ConfigError(field, value, allowed)` before any work starts.

    cfg = Config.from_toml("quickstart.toml", overrides={"optim.lr": 0.1})
    cfg = Config(algo=AlgoConfig(loss="clip_cov"), run=RunConfig(seeds=64))
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from simrl._version import __version__
from simrl.algorithms.advantage import declared_fields as advantage_fields
from simrl.algorithms.advantages import ADVANTAGES
from simrl.algorithms.aggregations import AGGREGATIONS
from simrl.algorithms.kl_estimators import KL_ESTIMATORS
from simrl.algorithms.losses import POLICY_LOSSES
from simrl.algorithms.optimiser import declared_fields as optimiser_fields
from simrl.algorithms.optimisers import OPTIMIZERS
from simrl.algorithms.policy_loss import declared_fields as loss_fields
from simrl.algorithms.reward import declared_fields as reward_fields
from simrl.algorithms.rewards import REWARDS
from simrl.config_checks import (  # noqa: F401  (check_algo: the bridge's config checks too)
    SEQUENCE_ALGO_FIELDS,
    SEQUENCE_TASK_FIELDS,
    check_algo,
    check_combinations,
    unused_fields,
)
from simrl.config_policy import PolicyConfig
from simrl.config_toml import (  # noqa: F401  (the bridge's config reads TOML the same way)
    _toml_value,
    build_sections,
    parse_override,
    read_toml,
    with_overrides,
)
from simrl.controllers import declared_fields as control_fields
from simrl.recipes import RECIPES
from simrl.recipes import apply as apply_recipe
from simrl.rollout_sampling import declared_fields as sampler_fields
from simrl.validate import (
    NONNEG,
    NONNEG_INT,
    POS,
    POS_INT,
    UNIT,
    Bool,
    FloatList,
    InRegistry,
    IntList,
    Range,
    Section,
    one_of,
    param,
)

TASK_KINDS = ("bandit", "sequence")
ANSWER_KINDS = ("env", "policy")
DYNAMIC_SAMPLING = ("off", "drop", "resample")
#: algo.entropy_agg: how the entropy bonus weighs the tokens (verl: like the loss; TRL: kept-token mean)
ENTROPY_AGG = ("loss", "kept-token-mean")
ON_NONFINITE = ("raise", "record")


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
    reasoning_tokens: int = param(
        4,
        "sequence: reasoning tokens after the mode token (max_len = 1 + reasoning_tokens [+ answer] [+ format]); formerly task.steps, not run.steps (training steps)",
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
class _RewardHead(Section):
    """The reward's kind, before the rewards' own fields (RewardConfig)."""

    section: ClassVar[str] = "reward"
    kind: str = param(
        "true", "reward (simrl/algorithms/rewards/): " + ", ".join(REWARDS.names),
        InRegistry(REWARDS),
    )  # fmt: skip


#: the rewards' own fields (random's p, noisy's flip), declared in their modules
#: (simrl/algorithms/rewards/), in registration order
_RewardFields = dataclasses.make_dataclass(
    "_RewardFields", reward_fields(), bases=(_RewardHead,), frozen=True
)
_RewardFields.__module__ = __name__  # pickles by name (make_dataclass's module= is 3.12+)


@dataclass(frozen=True)
class RewardConfig(_RewardFields):
    """The reward: its kind and the rewards' own fields."""


@dataclass(frozen=True)
class _AlgoHead(Section):
    """The algo fields before the advantage estimator's (AlgoConfig)."""

    section: ClassVar[str] = "algo"
    group_size: int = param(8, "responses sampled per prompt G", POS_INT)
    prompts_per_step: int = param(
        0, "prompts per step, sampled without replacement (0 = all prompts)", NONNEG_INT
    )
    advantage: str = param(
        "grpo",
        "advantage estimator (simrl/algorithms/advantages/): " + ", ".join(ADVANTAGES.names),
        InRegistry(ADVANTAGES),
    )


#: the advantage estimators' own fields (std_eps, std_ddof), declared in their modules
#: (simrl/algorithms/advantages/), in registration order
_AlgoAdvantageFields = dataclasses.make_dataclass(
    "_AlgoAdvantageFields",
    advantage_fields(),
    bases=(_AlgoHead,),
    frozen=True,
)
_AlgoAdvantageFields.__module__ = __name__  # pickles by name (make_dataclass's module= is 3.12+)


@dataclass(frozen=True)
class _AlgoLoss(_AlgoAdvantageFields):
    """The policy loss's name (AlgoConfig)."""

    loss: str = param(
        "vanilla",
        "policy loss (simrl/algorithms/losses/): " + ", ".join(POLICY_LOSSES.names),
        InRegistry(POLICY_LOSSES),
    )


#: the policy losses' own fields (clip_low, ..., steer_k, ...), declared in their modules
#: (simrl/algorithms/losses/), in registration order
_AlgoLossFields = dataclasses.make_dataclass(
    "_AlgoLossFields",
    loss_fields(),
    bases=(_AlgoLoss,),
    frozen=True,
)
_AlgoLossFields.__module__ = __name__  # pickles by name (make_dataclass's module= is 3.12+)


@dataclass(frozen=True)
class _AlgoCore(_AlgoLossFields):
    """The algo fields after the policy loss's, before the controllers' (AlgoConfig)."""

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
        "loss aggregation (verl agg_loss; simrl/algorithms/aggregations/): "
        + ", ".join(AGGREGATIONS.names),
        InRegistry(AGGREGATIONS),
    )
    loss_scale_factor: float = param(
        0.0,
        "the constant of the aggregations 'seq-mean-token-sum-norm' and 'token-sum-norm' (verl agg_loss loss_scale_factor); 0 = the padded response length T (verl's default, None)",
        NONNEG,
    )
    kl_coef: float = param(
        0.0, "coefficient of the KL penalty to the reference policy (0 = off)", NONNEG
    )
    kl_kind: str = param(
        "k3",
        "KL penalty (simrl/algorithms/kl_estimators/): " + ", ".join(KL_ESTIMATORS.names),
        InRegistry(KL_ESTIMATORS),
    )
    ref_reset_every: int = param(
        0,
        "ProRL: every N steps the reference becomes the current policy and the optimiser state resets (0 = never)",
        NONNEG_INT,
    )
    entropy_coef: float = param(
        0.0, "coefficient of the exact entropy bonus (loss -= coef * H)", NONNEG
    )
    entropy_adv_alpha: float = param(
        0.0,
        "alpha of the entropy-based advantage: every token's A += min(alpha H_old, |A| / "
        "entropy_adv_kappa), H_old the sampling entropy at its state (arXiv 2506.14758; 0 = off)",
        NONNEG,
    )
    entropy_adv_kappa: float = param(
        2.0, "kappa of the entropy-based advantage: the term is at most |A| / kappa", POS
    )
    entropy_agg: str = param(
        "loss",
        "how the entropy bonus weighs the tokens' state entropies: 'loss' = aggregated like the policy loss (algo.agg) over every response token (verl agg_loss(entropy, response_mask, loss_agg_mode)); 'kept-token-mean' = the mean over the minibatch's tokens kept by the forking-token mask (TRL GRPOTrainer._compute_loss: entropies masked by the top-entropy mask, divided by their count)",
        one_of(ENTROPY_AGG),
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
    recipe: str = param(
        "",
        "a published recipe's settings for the fields this config does not set (simrl/recipes/, "
        "`simrl recipes`): " + ", ".join(RECIPES) + "; '' = none",
        one_of(("", *RECIPES)),
    )


#: the rollout sampler's fields (temperature, top_p, top_k, staleness, TIS), declared in
#: simrl/rollout_sampling.py, then the controllers' (KL in the reward, TR-DPO's reference
#: mix, adaptive entropy), declared in simrl/controllers.py
_AlgoSamplerFields = dataclasses.make_dataclass(
    "_AlgoSamplerFields", sampler_fields(), bases=(_AlgoCore,), frozen=True
)
_AlgoSamplerFields.__module__ = __name__  # pickles by name (make_dataclass's module= is 3.12+)
_AlgoControlFields = dataclasses.make_dataclass(
    "_AlgoControlFields", control_fields(), bases=(_AlgoSamplerFields,), frozen=True
)
_AlgoControlFields.__module__ = __name__  # pickles by name (make_dataclass's module= is 3.12+)


@dataclass(frozen=True)
class AlgoConfig(_AlgoControlFields):
    """The algorithm: group size, advantage, policy loss (and its fields), aggregation,
    KL, entropy bonus, epochs and minibatches, dynamic sampling, exact mode, controllers."""


@dataclass(frozen=True)
class _OptimHead(Section):
    """The optim fields before the optimisers' own (OptimConfig)."""

    section: ClassVar[str] = "optim"
    kind: str = param(
        "sgd",
        "optimiser (simrl/algorithms/optimisers/): " + ", ".join(OPTIMIZERS.names),
        InRegistry(OPTIMIZERS),
    )
    lr: float = param(0.5, "step size", POS)


#: the optimisers' own fields (adam's beta1, beta2, eps), declared in their modules
#: (simrl/algorithms/optimisers/), in registration order
_OptimFields = dataclasses.make_dataclass(
    "_OptimFields", optimiser_fields(), bases=(_OptimHead,), frozen=True
)
_OptimFields.__module__ = __name__  # pickles by name (make_dataclass's module= is 3.12+)


@dataclass(frozen=True)
class OptimConfig(_OptimFields):
    """The optimiser on the logits: its kind, the step size and its own fields."""


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
    audit_quadrants: bool = param(
        False,
        "with audit: the entropy change split into STEER's four quadrants (sign of A x token above / below the mean log-probability), theory/NOTES.md",
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
    "policy": PolicyConfig,
}


@dataclass(frozen=True)
class Config:
    """A whole simulation: task, reward, algorithm, optimiser and run settings."""

    task: TaskConfig = field(default_factory=TaskConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    algo: AlgoConfig = field(default_factory=AlgoConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)

    def __post_init__(self) -> None:
        check_combinations(self)

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
        return 1 + t.reasoning_tokens + (t.answer == "policy") + (t.format_mass > 0)

    @property
    def prompts_per_step(self) -> int:
        """Resolved prompts per step (0 = all training prompts)."""
        return self.algo.prompts_per_step or self.train_prompts

    # ---- construction ------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any], overrides: dict[str, Any] | None = None) -> Config:
        """Build from nested sections (as TOML gives), then apply dotted overrides, then the
        recipe's fields (algo.recipe) where neither sets them."""
        data = apply_recipe(with_overrides(data, overrides, SECTIONS))
        return cls(**build_sections(data, SECTIONS))

    @classmethod
    def from_toml(cls, path: str | Path, overrides: dict[str, Any] | None = None) -> Config:
        return cls.from_dict(read_toml(path), overrides)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}

    def to_toml(self) -> str:
        """Resolved config as TOML, stamped with the simrl version that ran it; the fields
        its task kind does not read are left out (they must hold their defaults, so the
        text loads back to the same config). A cell's identity is not this text: it is
        simrl/prereg/identity.py's, of every field."""
        lines = [f'simrl_version = "{__version__}"']
        unused = unused_fields(self.task.kind)
        for section, values in self.to_dict().items():
            lines += ["", f"[{section}]"]
            skip = unused.get(section, ())
            lines += [f"{k} = {_toml_value(v)}" for k, v in values.items() if k not in skip]
        return "\n".join(lines) + "\n"

    def replace(self, **overrides: Any) -> Config:
        """A copy with dotted overrides, e.g. cfg.replace(**{"optim.lr": 0.1}). With
        "algo.recipe" among them, the recipe's fields replace the config's, except those
        given in the same call (a config lists every field, so nothing else would)."""
        data = self.to_dict()
        if overrides.get("algo.recipe"):
            from simrl.recipes import get, sequence_only

            kind = overrides.get("task.kind", self.task.kind)
            for s in get(overrides["algo.recipe"]).settings:
                if s.field in overrides or (kind == "bandit" and sequence_only(s.field)):
                    continue
                section, _, name = s.field.partition(".")
                data[section][name] = s.value
        return Config.from_dict(data, overrides)


def field_docs() -> dict[str, str]:
    """Dotted field name -> one-line doc, for every field."""
    return {
        f"{name}.{f.name}": f.metadata["doc"] for name, cls in SECTIONS.items() for f in fields(cls)
    }
