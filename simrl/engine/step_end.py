"""The end of a step, bandit or sequence (reference.step and sequence_ref.step call
finish_step): the run's state, the update metrics (batch statistics, clip fractions,
exact entropy change against first order, the dH breakdown, verl's ppo_kl and the exact
step KL, a linear policy's held-out columns), the frozen anchor's metrics and the
finiteness check. The numba engine's forms are kernels/step.py's step_metrics and
kept_finite and kernels/metrics.py's entropy_change (the exact step KL in its pass over the moved
states) and minibatch_ppo_kl.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from simrl.controllers import ControlState
from simrl.engine.dh_breakdown import (
    BreakdownSums,
    breakdown_metrics,
    breakdown_table,
    quadrant_metrics,
)
from simrl.metrics import AUDIT_METRICS, AUDIT_PROMPT_COLUMNS, STEP_KL_METRICS
from simrl.optim import OptState, init_state
from simrl.policy import LinearState
from simrl.rewards import PromptFacts, expected_reward
from simrl.tasks import BanditTask
from simrl.theory import entropy, first_order_entropy_change, log_softmax, softmax

if TYPE_CHECKING:
    from simrl.engine.reference import RunParams


@dataclass(frozen=True)
class RunState:
    logits: np.ndarray  # (S, K)
    ref_logits: np.ndarray  # (S, K) reference of the KL penalty
    opt: OptState  # the optimiser state of the logits (of theta_tab for a linear policy)
    policy: LinearState | None = None  # a linear policy's theta_tab, w and w's optimiser
    #: algo.staleness = k: the logits at the start of the last k steps, oldest first
    #: (simrl/rollout_sampling.py); () otherwise
    history: tuple = ()
    control: ControlState | None = None  # the controllers' state (simrl/controllers.py)


def facts(task: BanditTask, s: int) -> PromptFacts:
    return PromptFacts(task.correct[s], int(task.format_answer[s]), int(task.incorrect_label[s]))


def minibatch_ppo_kl(z, logp_old, states, tokens, count) -> float:
    """verl's ppo_kl of one minibatch update (verl 0.9.1 core_algos
    compute_policy_loss_vanilla and the others: masked_mean(-(log_prob - old_log_prob))
    over the minibatch's tokens), at the logits z before the update; a token counts
    `count` times (an exact entry: its expected count)."""
    lp = log_softmax(z)[states, tokens]
    total = count.sum()
    return float((count * (logp_old[states, tokens] - lp)).sum() / total) if total > 0 else np.nan


def mean_or_nan(values: list[float]) -> float:
    """The mean of the minibatch updates' values (verl averages its per-minibatch metric)."""
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else np.nan


def step_kl_exact(z0: np.ndarray, z: np.ndarray, moved: np.ndarray) -> float:
    """Mean over the moved states of the exact KL(pi_old || pi_new) = sum pi_old (l_old - l)."""
    if not moved.any():
        return np.nan
    lo, ln = log_softmax(z0[moved]), log_softmax(z[moved])
    p = np.exp(lo)
    return float(np.where(p > 0, p * (lo - ln), 0.0).sum(axis=1).mean())


def finish_step(
    cfg, state, z, opt, z0, h_old, t, tally, batch_stats, breakdown, params, lin=None,
    prompts=None, ppo_kl=np.nan,
):  # fmt: skip
    """The end of a step, bandit or sequence: ProRL reset, then the update metrics (batch
    statistics, clip fractions from the tally, exact entropy change vs first order over
    the moved states, the breakdown). `params.breakdown_advantages` (or the bandit's expected
    rewards) gives the breakdown's exact expected advantages.

    A linear policy (`lin`): the moved states are those whose own theta_tab moved (with
    Phi = 0 exactly the tabular rule), and the states outside the step's batch (`prompts`)
    get the held-out columns: the exact entropy change dH_heldout and its first-order
    prediction dH_spill_first_order = -Cov(log pi, dz) of the actual dz (theory/NOTES.md,
    "Shared parameters")."""
    a = cfg.algo
    ref = state.ref_logits
    if a.ref_reset_every and (t + 1) % a.ref_reset_every == 0:
        ref, opt = z.copy(), init_state(z.shape)
        if lin is not None:
            lin = LinearState(lin.theta, lin.w, init_state(lin.w.shape))
    if lin is None:
        moved = np.any(z != z0, axis=1)
    else:
        moved = np.any(lin.theta != state.policy.theta, axis=1)
    dz = z - z0
    reward_mean, zero_var_frac, n_groups = batch_stats
    metrics = {
        "reward_mean": reward_mean,
        "zero_var_frac": zero_var_frac,
        "groups_used": float(n_groups),
        "clip_low_frac": tally[1] / tally[0] if tally[0] else 0.0,
        "clip_high_frac": tally[2] / tally[0] if tally[0] else 0.0,
        "clip_dual_frac": tally[3] / tally[0] if tally[0] else 0.0,
        "cov_selected_frac": tally[4] / tally[0] if tally[0] else 0.0,
        "dH_exact": float((entropy(z) - h_old)[moved].mean()) if moved.any() else np.nan,
        "dH_first_order": float(first_order_entropy_change(z0, dz)[moved].mean())
        if moved.any()
        else np.nan,
    }
    if breakdown is not None:
        per_state = breakdown_per_state(params, z0, z, h_old, moved, breakdown)
        metrics.update(breakdown_metrics(per_state, moved))
        metrics["breakdown_per_state"] = per_state  # (S, 7): simulate(..., audit_prompts=True)
        if breakdown.quadrant is not None:  # run.audit_quadrants (sgd: config check)
            metrics.update(quadrant_metrics(z0, z, h_old, moved, breakdown))
    else:
        metrics.update(breakdown_metrics(None, moved))
    if lin is not None:
        metrics.update(heldout_metrics(z0, z, h_old, prompts))
    metrics["ppo_kl"] = ppo_kl
    metrics["kl_step_exact"] = step_kl_exact(z0, z, moved)
    return RunState(z, ref, opt, lin, state.control), metrics


def heldout_metrics(z0, z, h_old, prompts) -> dict:
    """dH_heldout (exact) and dH_spill_first_order (-Cov(log pi, dz)), means over the states
    not in the step's batch; NaN when every state was in it."""
    out = np.ones(z.shape[0], dtype=bool)
    out[np.asarray(prompts, dtype=np.int64)] = False
    if not out.any():
        return {"dH_heldout": np.nan, "dH_spill_first_order": np.nan}
    return {
        "dH_heldout": float((entropy(z[out]) - h_old[out]).mean()),
        "dH_spill_first_order": float(first_order_entropy_change(z0[out], (z - z0)[out]).mean()),
    }


def breakdown_per_state(
    params: RunParams, z0, z, h_old, moved, breakdown: BreakdownSums
) -> np.ndarray:
    """(S, 7) per state, columns AUDIT_PROMPT_COLUMNS: exact dH, then the six predictions;
    NaN rows for the states the step did not move."""
    cfg, task = params.config, params.task
    out = np.full((z.shape[0], len(AUDIT_PROMPT_COLUMNS)), np.nan)
    if not moved.any():
        return out
    if hasattr(params, "breakdown_advantages"):  # a sequence task: per parameter row
        adv = params.breakdown_advantages(np.exp(log_softmax(z0)))[moved]
        return breakdown_table(cfg.optim.lr, z0, z, h_old, moved, breakdown, adv)
    rbar = np.array(
        [
            expected_reward(cfg.reward.kind, facts(task, s), p=cfg.reward.p, flip=cfg.reward.flip)
            for s in np.flatnonzero(moved)
        ]
    )  # (n_moved, K) E[r | a]
    adv = rbar - (softmax(z0[moved]) * rbar).sum(axis=1, keepdims=True)  # exact expected A
    return breakdown_table(cfg.optim.lr, z0, z, h_old, moved, breakdown, adv)


def frozen_update_metrics() -> dict:
    """The frozen anchor samples nothing and moves nothing."""
    return {
        "reward_mean": np.nan,
        "zero_var_frac": np.nan,
        "groups_used": 0.0,
        "clip_low_frac": 0.0,
        "clip_high_frac": 0.0,
        "clip_dual_frac": 0.0,
        "cov_selected_frac": 0.0,
        "dH_exact": np.nan,
        "dH_first_order": np.nan,
        **dict.fromkeys(AUDIT_METRICS, np.nan),
        **dict.fromkeys(STEP_KL_METRICS, np.nan),
    }


def is_finite(state: RunState) -> bool:
    lin = state.policy
    return bool(
        np.isfinite(state.logits).all()
        and np.isfinite(state.opt.m).all()
        and np.isfinite(state.opt.v).all()
        and (
            lin is None
            or (
                np.isfinite(lin.theta).all()
                and np.isfinite(lin.w).all()
                and np.isfinite(lin.w_opt.m).all()
                and np.isfinite(lin.w_opt.v).all()
            )
        )
    )
