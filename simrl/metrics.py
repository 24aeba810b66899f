"""Exact metrics of a tabular policy, computed from its probabilities (no sampling).

Eval metrics describe the policy after a step; update metrics describe the step. Names
are flat snake_case so that statsmodels formulas can use them as they are.
"""

from __future__ import annotations

import numpy as np

from simrl.tasks import BanditTask
from simrl.theory import log_softmax, pass_at_k_exact, softmax

#: the quantiles of per-prompt entropy that are reported
ENTROPY_QUANTILES = (0.1, 0.5, 0.9)

EVAL_METRICS = (
    "acc",  # mean over prompts of pi(correct): exact pass@1
    "entropy_mean",  # mean over prompts of H(pi_s), nats
    "entropy_q10",
    "entropy_q50",
    "entropy_q90",
    "kl_base",  # mean over prompts of KL(pi_s || base_s)
    "mass_format",  # mean pi(format answer); NaN when the task has none
    "mass_incorrect_label",  # mean pi(the fixed wrong label of reward 'incorrect')
    "mass_base_top",  # mean pi(the base policy's most likely answer)
)

UPDATE_METRICS = (
    "reward_mean",  # mean sampled reward of the step's first batch (exact mode: expected)
    "zero_var_frac",  # share of the first batch's groups whose rewards are all equal
    "groups_used",  # groups in the batch that was trained on (after dynamic sampling)
    "clip_low_frac",  # share of token evaluations with A < 0 and ratio < 1 - clip_low
    "clip_high_frac",  # share with A > 0 and ratio > 1 + clip_high
    "clip_dual_frac",  # share with A < 0 and ratio > dual_clip
    "cov_selected_frac",  # share selected by Clip-Cov / KL-Cov
    "dH_exact",  # exact entropy change of the step, mean over the states it moved
    "dH_first_order",  # -Cov_pi(log pi, dz) of the step's actual dz, same states
    # the audit (run.audit = true; NaN otherwise), same states; see theory/NOTES.md:
    "dH_second_order",  # first + second order of the actual dz
    "dH_cui_t1",  # Cui Theorem 1: -eta Cov(l, pi A), exact expected A, eta = lr * weight
    "dH_token_sum",  # sum over token evaluations of the one-token first-order change
    "dH_steer_code",  # STEER public code: -lr sum_t w_t Omega_t (signed)
    "dH_steer_eq14",  # STEER Eq. 14 over the sampled tokens
)

#: the step's KL between the sampling policy pi_old and the updated policy, after the
#: task family's own update metrics (issue 17)
STEP_KL_METRICS = (
    # verl's ppo_kl (core_algos compute_policy_loss_*: masked_mean(-log r) over a
    # minibatch's tokens, at the policy before that minibatch's update), averaged over the
    # step's minibatch updates as verl averages its per-minibatch metric; 0 on a step of
    # one update (its ratio is 1). Sampled: the tokens trained on (exact mode: expected)
    "ppo_kl",
    # exact KL(pi_old || pi_new) of each state the step moved, mean over those states
    "kl_step_exact",
)

#: the audit metrics (computed only with run.audit = true)
AUDIT_METRICS = UPDATE_METRICS[-5:]
#: the per-prompt audit record (simulate(..., audit_prompts=True)): exact change, predictions
AUDIT_PROMPT_COLUMNS = ("dH_exact", "dH_first_order", *AUDIT_METRICS)


def passk_names(passk: tuple[int, ...], suffix: str = "") -> tuple[str, ...]:
    return tuple(f"pass_at_{k}{suffix}" for k in passk)


def metric_names(passk: tuple[int, ...]) -> tuple[str, ...]:
    """Every metric column: accuracy and pass@k on the training prompts, then on the held-out
    prompts (NaN when all prompts are trained), the other eval metrics (training prompts),
    the update metrics."""
    return (
        "acc",
        *passk_names(passk),
        "acc_heldout",
        *passk_names(passk, "_heldout"),
        *EVAL_METRICS[1:],
        *UPDATE_METRICS,
        *STEP_KL_METRICS,
    )


def eval_metrics(
    logits: np.ndarray, task: BanditTask, passk: tuple[int, ...], n_train: int | None = None
) -> dict[str, float]:
    """Exact eval metrics of the policy softmax(logits), logits (S, K): accuracy and pass@k
    on the first n_train prompts (the training prompts; all by default) and on the rest,
    the other metrics on the training prompts."""
    n_train = logits.shape[0] if n_train is None else n_train
    held = held_out_accuracy(logits[n_train:], task.correct[n_train:], passk)
    logits, task = logits[:n_train], task.restricted(n_train)
    logp = log_softmax(logits)
    pi = np.exp(logp)
    rows = np.arange(pi.shape[0])
    p_correct = (pi * task.correct).sum(axis=1)  # (S,)
    h = -(pi * logp).sum(axis=1)
    out = {"acc": p_correct.mean()}
    for k in passk:  # P(at least one of k independent samples is correct)
        out[f"pass_at_{k}"] = pass_at_k_exact(p_correct, k).mean()
    out.update(held)
    out["entropy_mean"] = h.mean()
    for q in ENTROPY_QUANTILES:
        out[f"entropy_q{round(q * 100)}"] = np.quantile(h, q)
    out["kl_base"] = (pi * (logp - log_softmax(task.base_logits))).sum(axis=1).mean()
    fmt = task.format_answer
    out["mass_format"] = pi[rows, fmt].mean() if (fmt >= 0).all() else np.nan
    out["mass_incorrect_label"] = pi[rows, task.incorrect_label].mean()
    out["mass_base_top"] = pi[rows, task.base_top].mean()
    return {k: float(v) for k, v in out.items()}


def held_out_accuracy(
    logits: np.ndarray, correct: np.ndarray, passk: tuple[int, ...]
) -> dict[str, float]:
    """acc_heldout and pass_at_k_heldout of the held-out prompts' rows; NaN when there are none."""
    if logits.shape[0] == 0:
        return {"acc_heldout": np.nan, **dict.fromkeys(passk_names(passk, "_heldout"), np.nan)}
    p_correct = (softmax(logits) * correct).sum(axis=1)
    out = {"acc_heldout": float(p_correct.mean())}
    for k in passk:
        out[f"pass_at_{k}_heldout"] = float(pass_at_k_exact(p_correct, k).mean())
    return out
