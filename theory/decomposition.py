"""Telescoping decomposition of a reward's gain: null drift, elicitation, reward design.

With acc(X) the expected accuracy after training with reward X (same optimiser, same
seeds), and an anchor reward that carries no correctness information:
  total         = acc(true)   - acc(frozen)
                = null + elicitation + reward_design,
  null          = acc(random) - acc(frozen)      what training with noise alone moves
  elicitation   = acc(anchor) - acc(random)      what a correctness-free signal draws out
  reward_design = acc(true)   - acc(anchor)      what correctness information adds
The usual estimate of a reward's value, naive = acc(true) - acc(random), equals
elicitation + reward_design: as an estimate of reward_design its bias is the elicitation
term (NOTES.md, "Reward-gain decomposition").

Seeds are shared across conditions (seed i of every condition starts from the same base
model and draws), so differences are paired: the bootstrap resamples seed indices once
per replicate and applies them to every condition.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

TERMS = ("total", "null", "elicitation", "reward_design", "naive", "bias")
SHARES = ("share_elicitation", "share_reward_design")
DIFFERENCES = {  # term -> (minuend, subtrahend); "anchor" is the anchor's name
    "total": ("true", "frozen"),
    "null": ("random", "frozen"),
    "elicitation": ("anchor", "random"),
    "reward_design": ("true", "anchor"),
    "naive": ("true", "random"),
    "bias": ("anchor", "random"),  # bias = naive - reward_design = elicitation
}


@dataclass(frozen=True)
class Decomposition:
    """Point estimates (means over seeds) of the decomposition's terms."""

    total: float
    """acc(true) - acc(frozen)"""
    null: float
    """acc(random) - acc(frozen)"""
    elicitation: float
    """acc(anchor) - acc(random)"""
    reward_design: float
    """acc(true) - acc(anchor)"""
    naive: float
    """acc(true) - acc(random), the usual estimate of reward_design"""
    bias: float
    """naive - reward_design (= elicitation)"""
    share_elicitation: float
    """elicitation / naive; nan when naive = 0"""
    share_reward_design: float
    """reward_design / naive; nan when naive = 0"""
    anchor: str
    """the condition used as the correctness-free anchor"""
    n_seeds: int
    """seeds per condition"""


@dataclass(frozen=True)
class DecompositionCI:
    """The decomposition with paired-bootstrap percentile intervals and paired SEs."""

    estimate: Decomposition
    """point estimates"""
    ci: dict[str, tuple[float, float]]
    """(1 - alpha) percentile interval for every term and share (keys: TERMS + SHARES)"""
    se: dict[str, float]
    """paired standard error of every difference term: sd of per-seed differences / sqrt(n)"""
    n_boot: int
    """bootstrap replicates"""
    alpha: float
    """1 - the confidence level"""


def decompose(
    acc_by_reward: dict[str, ArrayLike], anchor: str = "self_consistency"
) -> Decomposition:
    """Point estimates of the decomposition from per-seed accuracies.

    acc_by_reward: condition name -> (seeds,) final accuracies; needs "true", "random",
    "frozen" and the anchor, all of one length (the seeds are shared). Other keys are ignored.
    """
    acc = _validate(acc_by_reward, anchor)
    terms = _terms({name: x.mean() for name, x in acc.items()}, anchor)
    return Decomposition(
        **{k: float(v) for k, v in terms.items()}, anchor=anchor, n_seeds=len(acc["true"])
    )


def decompose_with_ci(
    acc_by_reward: dict[str, ArrayLike],
    anchor: str = "self_consistency",
    n_boot: int = 2000,
    alpha: float = 0.05,
    seed: int = 0,
) -> DecompositionCI:
    """The decomposition with paired-bootstrap percentile CIs and paired standard errors.

    Each replicate draws n seed indices with replacement and applies the same indices to
    every condition (paired bootstrap: seed i of "true" stays with seed i of "random"),
    so the seed-to-seed variation shared by the conditions cancels in the differences.
    A share's interval is (nan, nan) if some replicate has naive = 0.
    se: for a difference term mean(x_A - x_B), sd(x_A - x_B, ddof=1) / sqrt(n) over
    seeds; the delta method is exact here because the term is linear in the means.
    """
    acc = _validate(acc_by_reward, anchor)
    n = len(acc["true"])
    if n < 2:
        raise ValueError(f"a confidence interval needs at least 2 seeds; got {n}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1; got {n_boot}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1); got {alpha}")

    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))  # (B, n): one draw of seeds per replicate
    reps = _terms({name: x[idx].mean(axis=1) for name, x in acc.items()}, anchor)  # -> (B,)
    q = (alpha / 2, 1 - alpha / 2)
    ci = {
        name: (float(np.quantile(r, q[0])), float(np.quantile(r, q[1])))
        if np.all(np.isfinite(r))
        else (float("nan"), float("nan"))
        for name, r in reps.items()
    }
    keyed = {**acc, "anchor": acc[anchor]}
    se = {
        term: float(np.std(keyed[hi] - keyed[lo], ddof=1) / np.sqrt(n))
        for term, (hi, lo) in DIFFERENCES.items()
    }
    return DecompositionCI(
        estimate=decompose(acc, anchor), ci=ci, se=se, n_boot=n_boot, alpha=alpha
    )


def _terms(m: dict[str, np.ndarray], anchor: str) -> dict[str, np.ndarray]:
    """Every term and share from condition means m: scalars, or (B,) bootstrap replicates."""
    true, random, frozen, anc = m["true"], m["random"], m["frozen"], m[anchor]
    naive = true - random
    elicitation = anc - random
    reward_design = true - anc
    with np.errstate(divide="ignore", invalid="ignore"):
        share_e = np.where(naive != 0, elicitation / naive, np.nan)
        share_r = np.where(naive != 0, reward_design / naive, np.nan)
    return {
        "total": true - frozen,
        "null": random - frozen,
        "elicitation": elicitation,
        "reward_design": reward_design,
        "naive": naive,
        "bias": naive - reward_design,
        "share_elicitation": share_e,
        "share_reward_design": share_r,
    }


def _validate(acc_by_reward: dict[str, ArrayLike], anchor: str) -> dict[str, np.ndarray]:
    if anchor in ("true", "frozen"):
        raise ValueError(f"anchor must be a reward without correctness information; got {anchor!r}")
    required = ("true", "random", "frozen", anchor)
    missing = [name for name in required if name not in acc_by_reward]
    if missing:
        raise ValueError(
            f"missing conditions {missing}; the decomposition requires {list(dict.fromkeys(required))}"
        )
    acc = {}
    for name in dict.fromkeys(required):
        x = np.asarray(acc_by_reward[name], dtype=np.float64)
        if x.ndim != 1 or x.size == 0:
            raise ValueError(
                f"{name!r}: expected a non-empty 1-D array of per-seed accuracies; got shape {x.shape}"
            )
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{name!r}: accuracies must be finite; found nan or inf")
        acc[name] = x
    lengths = {name: x.size for name, x in acc.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"conditions must share seeds (equal lengths); got {lengths}")
    return acc
