"""Per-run controllers that change between steps: the KL penalty in the reward (verl's
fixed and adaptive controllers), TR-DPO's reference mixing (TRL's SyncRefModelCallback)
and Skywork-OR1's adaptive entropy coefficient (TRL's use_adaptive_entropy).

Each is off by default and, while off, leaves every engine's arithmetic as it was (no
state is made: `initial(a)` is None), so no existing result changes and the fields stay
out of a cell's identity (simrl/prereg/identity.py). The rules, each read in the
installed library's code:

- **KL in the reward** (verl 0.9.1 `trainer/ppo/ray_trainer.py` `apply_kl_penalty`,
  `core_algos.py` `kl_penalty`, `FixedKLController`, `AdaptiveKLController`,
  `get_kl_controller`): each response token's reward becomes r_t - beta k(log pi_old -
  log pi_ref) with the chosen estimator's *value* (`algo.kl_reward_kind`; verl's
  `algorithm.kl_penalty`, "kl" = k1); an outcome estimator sums the token rewards, so a
  response's reward is r - beta sum_t k_t. beta is the controller's value *before* its
  update; then `current_kl` = the batch mean over responses of the per-response token mean
  of k (verl: masked_mean over the sequence, then the mean over the batch) and the
  adaptive controller multiplies beta by 1 + clip(current_kl / target - 1, -0.2, 0.2) n /
  horizon, n = the batch's responses (verl's `n_steps=batch_size`). Here the batch is the
  step's groups after dynamic sampling (verl's ray trainer has none).
- **TR-DPO reference mixing** (Gorbatovski et al. 2024, arXiv 2404.09656; TRL 1.16.0
  `trainer/callbacks.py` `SyncRefModelCallback.on_step_end` / `_sync_target_model`): after
  every optimiser update whose global count (TRL's `state.global_step`, counted from 1) is
  a multiple of tau = `algo.ref_sync_steps`, ref <- (1 - alpha) ref + alpha theta over the
  *parameters*. A tabular softmax policy's parameters are its logits, so the reference
  logits mix; a linear policy's logits are linear in (theta_tab, w), so mixing its
  parameters mixes its logits the same way. TRL computes the reference log-probs when it
  generates (`_generate_and_score_completions`), so a mix takes effect from the next step.
- **Adaptive entropy coefficient** (Skywork-OR1, arXiv 2505.22312 Sec. 3.2.2; TRL 1.16.0
  `GRPOTrainer._compute_loss` with `use_adaptive_entropy`): at each optimiser update the
  applied coefficient is c if the previous update's measured entropy <= target else 0
  (before the first measurement: +inf, so 0); after the update's gradient the entropy
  e = the mean state entropy over the update's tokens kept by the forking mask (TRL's
  `effective_mask`, an exact entry counting its expected count), and c <- min(c + delta,
  c_max) if e <= target else max(c - delta, c_min). c starts at `algo.entropy_coef`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from simrl.algorithms.kl_estimators import KL_ESTIMATORS
from simrl.validate import NONNEG, NONNEG_INT, POS, POS_INT, Bool, Range, one_of, param, require

#: algo.kl_ctrl (verl algorithm.kl_ctrl.type)
KL_CTRL = ("fixed", "adaptive")

#: verl.utils.torch_functional.masked_mean divides by mask.sum() + 1e-8
VERL_MEAN_GUARD = 1e-8

#: verl's proportional-error clip in AdaptiveKLController.update
KL_CTRL_CLIP = 0.2

#: the algo fields, in order: name -> (type, param)
FIELDS = {
    "kl_in_reward": (
        bool,
        param(
            False,
            "subtract beta times the KL estimate of each response token from its reward (verl algorithm.use_kl_in_reward, apply_kl_penalty)",
            Bool(),
        ),
    ),
    "kl_reward_kind": (
        str,
        param(
            "k1",
            "KL estimator whose value the reward penalty uses (verl algorithm.kl_penalty; 'kl' there = k1): one of k1, k2, k3, abs, k1+, k3+",
            one_of(("k1", "k2", "k3", "abs", "k1+", "k3+")),
        ),
    ),
    "kl_ctrl": (
        str,
        param(
            "fixed",
            "the reward KL coefficient's controller (verl algorithm.kl_ctrl.type): 'fixed' or 'adaptive' (Ziegler et al. 2019)",
            one_of(KL_CTRL),
        ),
    ),
    "kl_reward_coef": (
        float,
        param(
            0.001,
            "the reward KL coefficient beta, initial for 'adaptive' (verl kl_ctrl.kl_coef)",
            NONNEG,
        ),
    ),
    "kl_target": (
        float,
        param(0.1, "the adaptive controller's target KL (verl kl_ctrl.target_kl)", POS),
    ),
    "kl_horizon": (
        int,
        param(10000, "the adaptive controller's horizon (verl kl_ctrl.horizon)", POS_INT),
    ),
    "ref_sync_steps": (
        int,
        param(
            0,
            "TR-DPO: mix the reference into the policy every N optimiser updates (TRL sync_ref_model, ref_model_sync_steps; 0 = off)",
            NONNEG_INT,
        ),
    ),
    "ref_mixup_alpha": (
        float,
        param(
            0.6,
            "TR-DPO: ref <- (1 - alpha) ref + alpha policy, over the logits (TRL ref_model_mixup_alpha)",
            Range(0.0, 1.0),
        ),
    ),
    "entropy_adaptive": (
        bool,
        param(
            False,
            "Skywork-OR1's adaptive entropy coefficient, starting at entropy_coef (TRL use_adaptive_entropy)",
            Bool(),
        ),
    ),
    "entropy_target": (
        float,
        param(
            0.2, "adaptive entropy: target mean token entropy in nats (TRL entropy_target)", NONNEG
        ),
    ),
    "entropy_coef_delta": (
        float,
        param(0.005, "adaptive entropy: step of the coefficient (TRL entropy_coef_delta)", NONNEG),
    ),
    "entropy_coef_min": (
        float,
        param(
            0.0, "adaptive entropy: lower bound of the coefficient (TRL entropy_coef_min)", NONNEG
        ),
    ),
    "entropy_coef_max": (
        float,
        param(
            1.0, "adaptive entropy: upper bound of the coefficient (TRL entropy_coef_max)", NONNEG
        ),
    ),
}

#: the update metrics a run with a controller reports (after the family's and the
#: policy's): the reward KL's current_kl and the beta it was applied with (verl
#: actor/reward_kl_penalty, actor/reward_kl_penalty_coeff), the entropy coefficient after
#: the step (TRL's logged entropy_coef); NaN where that controller is off
CONTROL_METRICS = ("kl_reward", "kl_reward_coef", "entropy_coef_now")


#: README's table (simrl/algorithm_table.py): (setting, rule, source) per controller
TABLE = (
    (
        "algo.kl_in_reward = true",
        "each response token's reward r_t - beta k(log pi_old - log pi_ref), k = algo.kl_reward_kind's value; beta fixed or adaptive (algo.kl_ctrl: beta *= 1 + clip(current_kl / kl_target - 1, -0.2, 0.2) n / kl_horizon)",
        "verl 0.9.1 trainer/ppo/ray_trainer.py apply_kl_penalty; core_algos.py FixedKLController, AdaptiveKLController (Ziegler et al. 2019, arXiv 1909.08593)",
    ),
    (
        "algo.ref_sync_steps = N",
        "TR-DPO: every N optimiser updates the reference's parameters (the logits) become (1 - alpha) ref + alpha policy, alpha = algo.ref_mixup_alpha",
        "Gorbatovski et al. 2024 (arXiv 2404.09656); TRL 1.16.0 trainer/callbacks.py SyncRefModelCallback",
    ),
    (
        "algo.entropy_adaptive = true",
        "the entropy coefficient c applies when the last update's kept-token mean entropy <= entropy_target; then c +/- entropy_coef_delta within [entropy_coef_min, entropy_coef_max]",
        "Skywork-OR1 (arXiv 2505.22312) Sec. 3.2.2; TRL 1.16.0 GRPOTrainer._compute_loss use_adaptive_entropy",
    ),
)


def declared_fields() -> list[tuple[str, type, object]]:
    """The fields for dataclasses.make_dataclass, in order."""
    return [(name, typ, p) for name, (typ, p) in FIELDS.items()]


def active(a) -> bool:
    """Is any controller on? (Off: every engine runs exactly as before.)"""
    return bool(a.kl_in_reward or a.ref_sync_steps > 0 or a.entropy_adaptive)


def check(a) -> None:
    """Combinations within the algo section (one clear line each)."""
    if a.entropy_adaptive:
        require(
            a.entropy_coef_min <= a.entropy_coef_max,
            "algo.entropy_coef_min",
            a.entropy_coef_min,
            f"must be <= algo.entropy_coef_max = {a.entropy_coef_max}",
        )
    if a.ref_sync_steps > 0:
        require(
            a.ref_reset_every == 0,
            "algo.ref_sync_steps",
            a.ref_sync_steps,
            "needs algo.ref_reset_every = 0 (one rule moves the reference: TR-DPO's mix or ProRL's reset)",
        )
        require(
            a.kl_coef > 0 or a.kl_in_reward,
            "algo.ref_sync_steps",
            a.ref_sync_steps,
            "moves the reference, which only a KL term reads: set algo.kl_coef > 0 or algo.kl_in_reward = true",
        )


def check_config(c) -> None:
    """Combinations with the task and the mode (Config's checks call it)."""
    a = c.algo
    if a.kl_in_reward:
        require(
            not a.exact,
            "algo.kl_in_reward",
            True,
            "needs algo.exact = false (the penalty is per sampled token, as verl applies it)",
        )
        if c.task.kind == "sequence":
            require(
                a.advantage not in PER_TOKEN_RETURN,
                "algo.kl_in_reward",
                True,
                f"advantage {a.advantage!r} reads per-token returns in verl (reward-to-go of the "
                "penalised token rewards), which the per-response advantages here cannot carry on "
                "a sequence task: use an outcome estimator (" + ", ".join(_outcome_names()) + ")",
            )
    if a.entropy_adaptive and a.exact and c.task.kind == "sequence":
        require(
            False,
            "algo.entropy_adaptive",
            True,
            "needs algo.exact = false on a sequence task (TRL measures the kept tokens' mean "
            "entropy, a ratio the expected counts do not give exactly)",
        )


#: verl estimators that turn token-level rewards into per-token returns (reward-to-go):
#: compute_reinforce_plus_plus_outcome_advantage and compute_remax_outcome_advantage
PER_TOKEN_RETURN = ("reinforce_pp", "remax")


def _outcome_names() -> list[str]:
    from simrl.algorithms.advantages import ADVANTAGES

    return [n for n in ADVANTAGES.names if n not in PER_TOKEN_RETURN]


@dataclass(frozen=True)
class ControlState:
    """A run's controller state between steps (None when every controller is off)."""

    kl_beta: float  # the reward KL coefficient's current value
    entropy_coef: float  # the adaptive entropy coefficient c
    last_entropy: float  # TRL's _last_world_entropy (inf before the first update)
    updates: int  # optimiser updates so far (TRL's global_step)


def initial(a) -> ControlState | None:
    if not active(a):
        return None
    return ControlState(float(a.kl_reward_coef), float(a.entropy_coef), math.inf, 0)


def kl_values(kind: str, logp_old: np.ndarray, logp_ref: np.ndarray) -> np.ndarray:
    """The estimator's value per token at x = log pi_old - log pi_ref (verl kl_penalty's
    forward value; a '+' estimator's value is its base's)."""
    k, _ = KL_ESTIMATORS[kind].numpy(logp_old, logp_ref)
    return np.asarray(k, dtype=float)


def kl_controller_update(a, beta: float, current_kl: float, n_steps: int) -> float:
    """verl 0.9.1 FixedKLController.update (no-op) / AdaptiveKLController.update."""
    if a.kl_ctrl == "fixed":
        return beta
    error = float(np.clip(current_kl / a.kl_target - 1, -KL_CTRL_CLIP, KL_CTRL_CLIP))
    return beta * (1 + error * n_steps / a.kl_horizon)


def penalise_rewards(a, ctl: ControlState, rewards: np.ndarray, kl_sum, lengths):
    """(rewards - beta sum_t k_t, current_kl, beta, the new state): `kl_sum` is each
    response's sum of k over its tokens and `lengths` its token count, shaped like
    `rewards` (n_groups, G). current_kl is verl's: the batch mean of
    masked_mean(k, mask, axis=-1) = sum_t k_t / (|y| + 1e-8) (verl.utils.torch_functional
    masked_mean's guard, kept so that the controller's trajectory is verl's)."""
    beta = ctl.kl_beta
    current = float(np.mean(kl_sum / (lengths + VERL_MEAN_GUARD))) if np.size(kl_sum) else 0.0
    n = int(np.size(rewards))
    new = replace(ctl, kl_beta=kl_controller_update(a, beta, current, n))
    return rewards - beta * kl_sum, current, beta, new


def applied_entropy_coef(a, ctl: ControlState | None) -> float:
    """The entropy coefficient an update applies (TRL: c if the last measured entropy <=
    target, else 0; the static algo.entropy_coef without the adaptive controller)."""
    if ctl is None or not a.entropy_adaptive:
        return a.entropy_coef
    return ctl.entropy_coef if ctl.last_entropy <= a.entropy_target else 0.0


def after_update(a, ctl: ControlState, world_entropy: float, z, ref):
    """The controllers after one optimiser update: the entropy coefficient's step from the
    update's measured entropy, the update count, the TR-DPO mix. Returns (state, ref)."""
    if a.entropy_adaptive:
        c = ctl.entropy_coef
        if world_entropy <= a.entropy_target:
            c = min(c + a.entropy_coef_delta, a.entropy_coef_max)
        else:
            c = max(c - a.entropy_coef_delta, a.entropy_coef_min)
        ctl = replace(ctl, entropy_coef=c, last_entropy=world_entropy)
    ctl = replace(ctl, updates=ctl.updates + 1)
    if sync_due(a, ctl) and ref is not None:  # ref None: the caller mixes (the bridge)
        ref = mix_reference(ref, z, a.ref_mixup_alpha)
    return ctl, ref


def sync_due(a, ctl: ControlState) -> bool:
    """Does TR-DPO mix after the update just counted? (TRL on_step_end:
    state.global_step % ref_model_sync_steps == 0)"""
    return a.ref_sync_steps > 0 and ctl.updates % a.ref_sync_steps == 0


def mix_reference(ref: np.ndarray, z: np.ndarray, alpha: float) -> np.ndarray:
    """TRL `_sync_target_model`: target.mul_(1 - alpha).add_(copy, alpha=alpha)."""
    return ref * (1.0 - alpha) + alpha * z


def kept_entropy_mean(h_tok: np.ndarray, count: np.ndarray, keep: np.ndarray) -> float:
    """TRL's window entropy: sum(H * mask) / clamp(sum(mask), min=1), mask the kept
    tokens (an exact entry weighs its expected count)."""
    w = count * keep
    return float((h_tok * w).sum() / max(w.sum(), 1.0))


def metrics(a, ctl: ControlState | None, kl_reward: float, beta: float) -> dict:
    return {
        "kl_reward": kl_reward if a.kl_in_reward else np.nan,
        "kl_reward_coef": beta if a.kl_in_reward else np.nan,
        "entropy_coef_now": ctl.entropy_coef if a.entropy_adaptive else np.nan,
    }
