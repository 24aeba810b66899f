"""Exact metrics of a policy on a sequence task, by dynamic programming over its graph.

The token-entropy distribution is the distribution of H(state) over the tokens a
response generates (entropy_mean, its mean, is the token-level entropy; entropy_response
and entropy_answer are the exact entropies of the distributions over whole responses and
over final answers): a state n of prompt s is visited with probability reach(n) per
response, so over the training prompts a token comes from state n with weight
reach(n) / sum reach. Quantiles are of that weighted distribution (the smallest entropy
whose cumulative weight reaches q). Everything else is an expectation over responses
computed from reach(n) and the leaf probabilities (simrl/tasks/sequence.py).
"""

from __future__ import annotations

import numpy as np

from simrl.metrics import (
    ENTROPY_QUANTILES,
    EVAL_METRICS,
    STEP_KL_METRICS,
    UPDATE_METRICS,
    passk_names,
)
from simrl.tasks.sequence import SequenceTask, mode_usage
from simrl.theory import pass_at_k_exact

#: token-entropy thresholds of the "share of tokens above" metrics, nats
ENTROPY_THRESHOLDS = (0.5, 1.0)
#: ties within this (absolute on entropies, relative on cumulative weights) count as ties:
#: a state built with entropy exactly 1.0 nats (fork_entropy) computes to 1.0 +- 1 ulp, and
#: with fixed-length responses each position carries exactly 1 / max_len of the tokens, so
#: a quantile's cumulative weight lands exactly on a boundary; rounding must not decide
#: which side (the numba engine sums in another order; tests/engine/test_sequence_parity.py)
TIE_TOL = 1e-12

#: sequence eval metrics beyond the bandit's (EVAL_METRICS)
SEQUENCE_EVAL_EXTRA = (
    "entropy_gt05",  # share of generated tokens whose state entropy exceeds 0.5 nats
    "entropy_gt10",  # ... exceeds 1.0 nats
    "entropy_mode_state",  # entropy of the mode-choice (root) state, mean over prompts
    "length_mean",  # expected response length in tokens
    # exact entropies of whole outputs (nats), beside the token-level entropy_mean:
    "entropy_response",  # H of the distribution over complete responses, mean over prompts
    "entropy_answer",  # H of the distribution over final answers, mean over prompts
)

#: sequence update metrics beyond the bandit's (UPDATE_METRICS)
SEQUENCE_UPDATE_EXTRA = (
    "fork_grad_share",  # share of sum_t |d loss / d logp_t| on tokens at forking states
    "forking_kept_frac",  # share of token evaluations the forking-token rule keeps
    "tokens_per_response",  # mean length of the step's sampled responses
)


def sequence_metric_names(passk: tuple[int, ...], num_modes: int, max_len: int) -> tuple[str, ...]:
    """Every metric column of a sequence task: the bandit's columns with sequence meaning
    (mass_base_top = mass on the base policy's most likely mode), then mode usage, the
    per-position entropy profile, the extra eval and update metrics."""
    return (
        "acc",
        *passk_names(passk),
        "acc_heldout",
        *passk_names(passk, "_heldout"),
        *EVAL_METRICS[1:],
        *SEQUENCE_EVAL_EXTRA,
        *(f"mode_usage_{m}" for m in range(num_modes)),
        *(f"entropy_pos_{d}" for d in range(max_len)),
        *UPDATE_METRICS,
        *SEQUENCE_UPDATE_EXTRA,
        *STEP_KL_METRICS,
    )


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The smallest value whose cumulative weight reaches q of the total (within TIE_TOL)."""
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    i = int(np.searchsorted(cum, q * cum[-1] * (1.0 - TIE_TOL), side="left"))
    return float(values[order][min(i, values.size - 1)])


def sequence_eval_metrics(
    logits: np.ndarray, task: SequenceTask, passk: tuple[int, ...], n_train: int | None = None
) -> dict[str, float]:
    """Exact eval metrics of softmax(logits) (M, V) on the task; accuracy and pass@k on the
    first n_train prompts and on the rest, everything else on the training prompts."""
    S = task.num_prompts
    n_train = S if n_train is None else n_train
    logp = task.log_probs(logits)
    pi = np.exp(logp)
    h_row = -(pi * np.where(pi > 0, logp, 0.0)).sum(axis=1)
    reach = task.node_reach(pi)
    leaf_p = task.leaf_reach(pi, reach)
    answers = task.answer_dist(leaf_p)
    acc = (answers * task.correct).sum(axis=1)  # (S,)
    train = slice(0, n_train)
    out: dict[str, float] = {"acc": acc[train].mean()}
    for k in passk:  # responses are independent draws, so pass@k = 1 - (1 - acc)^k exactly
        out[f"pass_at_{k}"] = pass_at_k_exact(acc[train], k).mean()
    held = acc[n_train:]
    out["acc_heldout"] = held.mean() if held.size else np.nan
    for k in passk:
        out[f"pass_at_{k}_heldout"] = pass_at_k_exact(held, k).mean() if held.size else np.nan

    nodes = task.node_prompt < n_train
    w, h = reach[nodes], h_row[task.node_row[nodes]]
    out["entropy_mean"] = (w * h).sum() / w.sum()
    for q in ENTROPY_QUANTILES:
        out[f"entropy_q{round(q * 100)}"] = weighted_quantile(h, w, q)
    base_logp = task.log_probs(task.base_logits)
    kl_row = (pi * np.where(pi > 0, logp - base_logp, 0.0)).sum(axis=1)
    out["kl_base"] = (reach[nodes] * kl_row[task.node_row[nodes]]).sum() / n_train
    leaves = task.leaf_prompt < n_train
    out["mass_format"] = (
        (leaf_p * task.leaf_format)[leaves].sum() / n_train if task.leaf_format.any() else np.nan
    )
    out["mass_incorrect_label"] = answers[np.arange(S), task.incorrect_label][train].mean()
    usage = mode_usage(task, leaf_p)[train]  # (n_train, num_modes)
    if task.num_modes > 0:
        out["mass_base_top"] = usage[np.arange(n_train), task.base_top_mode[train]].mean()
    else:
        out["mass_base_top"] = np.nan
    for thr, name in zip(ENTROPY_THRESHOLDS, SEQUENCE_EVAL_EXTRA[:2], strict=True):
        out[name] = (w * (h > thr + TIE_TOL)).sum() / w.sum()
    out["entropy_mode_state"] = h_row[task.node_row[task.root[train]]].mean()
    out["length_mean"] = (leaf_p * task.leaf_len)[leaves].sum() / n_train
    # a response is its token sequence: by the chain rule its entropy is the sum over the
    # visited states of H(state) times the probability of visiting it, sum_n reach(n) H(n)
    # (theory/NOTES.md, "Sequence tasks": entropy of whole responses)
    out["entropy_response"] = (w * h).sum() / n_train
    ans = answers[train]
    out["entropy_answer"] = -(ans * np.log(np.where(ans > 0, ans, 1.0))).sum(axis=1).mean()
    for m in range(task.num_modes):
        out[f"mode_usage_{m}"] = usage[:, m].mean()
    depth = task.node_depth[nodes]
    for d in range(task.max_len):
        at = depth == d
        out[f"entropy_pos_{d}"] = (w[at] * h[at]).sum() / w[at].sum() if w[at].sum() > 0 else np.nan
    return {k: float(v) for k, v in out.items()}
