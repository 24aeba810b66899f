"""The combination checks of a Config: what no single field can say (the task family's
fields, the algorithm's combinations, the sequence and bandit specifics). Each failure is
one ConfigError naming the field, its value and what is allowed."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from simrl import controllers
from simrl.algorithms.advantage import ADVANTAGES, check_advantage
from simrl.algorithms.aggregation import fixed_weight_names
from simrl.algorithms.aggregations import AGGREGATIONS
from simrl.algorithms.policy_loss import POLICY_LOSSES, check_losses, exact_losses, names_phrase
from simrl.algorithms.rewards import REWARDS
from simrl.validate import require

if TYPE_CHECKING:
    from simrl.config import AlgoConfig, Config


#: task fields that only the sequence family reads, and algo fields only its engine has
SEQUENCE_TASK_FIELDS = (
    "num_modes", "mode_prior", "mode_accuracy", "share_mode_state", "vocab", "reasoning_tokens",
    "fork_positions", "fork_entropy", "peak_mass", "fork_effect", "answer", "end_prob",
    "min_steps",
)  # fmt: skip
SEQUENCE_ALGO_FIELDS = ("forking_top_quantile", "overlong_cache", "overlong_factor")


#: task fields that only the bandit reads
BANDIT_TASK_FIELDS = ("num_correct", "prior_spread")


def unused_fields(kind: str) -> dict[str, tuple[str, ...]]:
    """section -> the fields a task kind does not read (they must hold their defaults)."""
    if kind == "sequence":
        return {"task": BANDIT_TASK_FIELDS}
    return {"task": SEQUENCE_TASK_FIELDS, "algo": SEQUENCE_ALGO_FIELDS}


def check_combinations(c: Config) -> None:
    """Every combination check of the config (Config.__post_init__ calls it)."""
    if c.task.kind == "sequence":
        _check_sequence(c)
    else:
        _check_bandit(c)
    _check_common(c)
    _check_policy(c)
    _check_sampling(c)


def _check_sampling(c: Config) -> None:
    """The rollout sampler (simrl/rollout_sampling.py): temperature, top_p, top_k,
    staleness, TIS. The exact expected gradient weighs every answer by pi_old itself."""
    from simrl.rollout_sampling import SAMPLER_FIELDS, differs

    a = c.algo
    if not differs(a):
        return
    for name, off in SAMPLER_FIELDS:
        value = getattr(a, name)
        require(
            not a.exact or value == off,
            f"algo.{name}",
            value,
            f"must be {off!r} with algo.exact = true (the exact gradient weighs each answer by pi_old, not by a sampler)",
        )
    require(
        a.tis_clip_min <= a.tis_clip_max,
        "algo.tis_clip_min",
        a.tis_clip_min,
        f"must be <= algo.tis_clip_max ({a.tis_clip_max})",
    )
    require(
        not c.run.audit,
        "run.audit",
        c.run.audit,
        "must be false when the rollout sampler differs from pi_old (temperature, top_p, top_k, staleness, tis): the dH breakdown assumes on-policy samples",
    )
    first = next(n for n, off in SAMPLER_FIELDS if getattr(a, n) != off)
    require(
        not controllers.active(a),
        f"algo.{first}",
        getattr(a, first),
        "cannot be combined with a controller (algo.kl_in_reward, ref_sync_steps, entropy_adaptive) yet: each is built and checked against its trainer on-policy only",
    )


def _check_policy(c: Config) -> None:
    """The policy class (simrl/policy.py): what the config alone can refuse. A feature
    file's shape and values are checked when it is loaded, before any run starts."""
    p = c.policy
    if p.kind == "tabular":
        from simrl.config import PolicyConfig

        for name in ("features", "strength", "rho", "dim", "rank", "features_file"):
            default = getattr(PolicyConfig, name)
            require(
                getattr(p, name) == default,
                f"policy.{name}",
                getattr(p, name),
                f"is read only with policy.kind = 'linear' (leave it at {default!r})",
            )
        return
    require(
        c.task.kind == "bandit",
        "policy.kind",
        p.kind,
        "'linear' needs task.kind = 'bandit' (sequence tasks have tabular states only, for now)",
    )
    if p.features == "low_rank":
        require(
            p.rank <= c.task.num_prompts,
            "policy.rank",
            p.rank,
            f"must be <= num_prompts = {c.task.num_prompts} (the rank of U V^T with U: S x r)",
        )
    if p.features == "file":
        f = p.features_file
        ok = f.endswith(".npy") or (".py:" in f and not f.endswith(":"))
        require(
            ok,
            "policy.features_file",
            f,
            "must be an .npy file or FILE.py:FUNCTION with features = 'file'",
        )
    else:
        require(
            p.features_file == "",
            "policy.features_file",
            p.features_file,
            "is read only with policy.features = 'file'",
        )


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
    _check_unused(c, "task", BANDIT_TASK_FIELDS, "bandit")
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
        all(p < t.reasoning_tokens for p in t.fork_positions),
        "task.fork_positions",
        t.fork_positions,
        f"must be reasoning positions 0..{t.reasoning_tokens - 1} (task.reasoning_tokens = {t.reasoning_tokens})",
    )
    require(
        t.fork_entropy < math.log(t.vocab),
        "task.fork_entropy",
        t.fork_entropy,
        f"must be < ln(task.vocab) = {math.log(t.vocab):.4g} nats",
    )
    require(
        t.min_steps <= t.reasoning_tokens,
        "task.min_steps",
        t.min_steps,
        f"must be <= task.reasoning_tokens = {t.reasoning_tokens}",
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
        not REWARDS[c.reward.kind].pays_format or t.format_mass > 0,
        "reward.kind",
        c.reward.kind,
        f"'{c.reward.kind}' needs the format token: set task.format_mass > 0",
    )
    if a.exact:
        variable = t.end_prob > 0
        require(
            not variable or AGGREGATIONS[a.agg].fixed_weight,
            "algo.agg",
            a.agg,
            "algo.exact with variable lengths (task.end_prob > 0) needs an aggregation whose "
            "token weights do not depend on the realised lengths: "
            + names_phrase(fixed_weight_names(), "or"),
        )
        require(
            a.overlong_cache == 0,
            "algo.overlong_cache",
            a.overlong_cache,
            "must be 0 with algo.exact (the exact gradient needs rewards in {0, 1})",
        )
        require(
            not variable or a.entropy_agg == "loss",
            "algo.entropy_agg",
            a.entropy_agg,
            "must be 'loss' with algo.exact and variable lengths (task.end_prob > 0): the "
            "kept-token mean divides by the realised token count",
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
        not REWARDS[r.kind].pays_format or has_format,
        "reward.kind",
        r.kind,
        f"'{r.kind}' needs a format answer: set task.format_mass > 0",
    )


def check_algo(a: AlgoConfig) -> None:
    """The combinations within the algo section, shared by the simulator and the bridge."""
    check_advantage(a)  # the chosen estimator's checks (simrl/algorithms/advantages/)
    check_losses(a)  # each loss's own checks (simrl/algorithms/losses/), then dual clip
    controllers.check(a)  # KL in the reward, TR-DPO's mix, adaptive entropy


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
    controllers.check_config(c)
    if c.run.audit_quadrants:  # theory/NOTES.md, "STEER's four quadrants"
        require(
            c.run.audit and c.optim.kind == "sgd" and c.policy.kind == "tabular",
            "run.audit_quadrants",
            True,
            "needs run.audit = true, optim.kind = 'sgd' and a tabular policy (a quadrant's "
            "displacement is its tokens' sgd step on the logits)",
        )
    if ADVANTAGES[a.advantage].reads_greedy and not a.exact:
        require(
            REWARDS[r.kind].deterministic,
            "reward.kind",
            r.kind,
            f"advantage {a.advantage!r} subtracts the greedy response's reward, which needs a "
            "deterministic reward (a random one's greedy value is a draw): one of "
            + ", ".join(e.name for e in REWARDS if e.deterministic),
        )
    require(
        a.minibatches <= c.prompts_per_step,
        "algo.minibatches",
        a.minibatches,
        f"must be <= prompts per step = {c.prompts_per_step} (minibatches split whole groups)",
    )
    if a.exact:
        require(
            a.entropy_adv_alpha == 0,
            "algo.entropy_adv_alpha",
            a.entropy_adv_alpha,
            "must be 0 with algo.exact (an exact entry's advantage is A = r - E r, not a sampled token's)",
        )
        require(
            REWARDS[r.kind].deterministic,
            "reward.kind",
            r.kind,
            "algo.exact needs a deterministic reward: one of "
            + ", ".join(e.name for e in REWARDS if e.deterministic),
        )
        require(
            a.loss in exact_losses(),
            "algo.loss",
            a.loss,
            f"algo.exact supports the {names_phrase(exact_losses())} losses ("
            + (
                "a per-response rule has no form on an exact entry, which is a state"
                if POLICY_LOSSES[a.loss].sequence_level
                else "sample-based token selection has no exact form"
            )
            + ")",
        )
        require(
            a.dynamic_sampling == "off",
            "algo.dynamic_sampling",
            a.dynamic_sampling,
            "must be 'off' with algo.exact (there are no sampled groups)",
        )
    require(max(c.run.passk) <= 1_000_000, "run.passk", c.run.passk, "k values must be <= 1e6")
