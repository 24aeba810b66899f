"""Checks of theory.passk, theory.laws and theory.decomposition."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from simrl.theory import decomposition, laws, passk
from simrl.theory_check.registry import (
    _k,
    check,
)

# ---------------------------------------------------------------------------- pass@k


@check("pass_at_k_exact", "pass@k", 1e-12, ("pass_at_k_exact",))
def _pass_at_k_exact(rng: np.random.Generator) -> float:
    """Relative error of 1 - (1 - p)^k against the exact rational of the float p; k in
    1..200, p uniform or (half the time) log-uniform down to 1e-300."""
    p = rng.uniform() if rng.random() < 0.5 else 10.0 ** rng.uniform(-300.0, 0.0)
    k = int(rng.integers(1, 201))
    want = float(1 - (1 - Fraction(p)) ** k)
    return abs(float(passk.pass_at_k_exact(p, k)) - want) / want


@check("pass_at_k_unbiased", "pass@k", 1e-10, ("pass_at_k_unbiased", "pass_at_k_exact"))
def _pass_at_k_unbiased(rng: np.random.Generator) -> float:
    """|sum_c Binom(c; n, p) pass@k_hat(n, c, k) - (1 - (1 - p)^k)|, n in 1..60, k in 1..n."""
    n = int(rng.integers(1, 61))
    k = int(rng.integers(1, n + 1))
    p = float(rng.choice([0.0, 1.0])) if rng.random() < 0.1 else rng.uniform()
    c = np.arange(n + 1)
    pmf = np.array([math.comb(n, j) * p**j * (1.0 - p) ** (n - j) for j in c])  # (n + 1,)
    return abs(pmf @ passk.pass_at_k_unbiased(n, c, k) - passk.pass_at_k_exact(p, k))


# ------------------------------------------------------------------------------ laws


def _exact_law(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, float, float]:
    """n entropies in [0, 4], falling as in training, and R = -a exp(H) + b exactly."""
    H = np.sort(rng.uniform(0.0, 4.0, n))[::-1]
    a, b = rng.uniform(-5.0, 5.0, 2)
    return H, -a * np.exp(H) + b, float(a), float(b)


def _spread(H: np.ndarray) -> bool:
    """exp(H) spread enough for a well-conditioned slope (as tests/properties does)."""
    x = np.exp(H)
    return bool(x.std() > 0.05 * x.mean())


@check("entropy_law_fit", "Entropy-performance law", 1e-8, ("fit_entropy_law",))
def _entropy_law_fit(rng: np.random.Generator) -> float:
    """a, b and the ceiling b - a recovered from exact data, relative to 1 + |a| + |b|."""
    H, R, a, b = _exact_law(rng, _k(rng, 3, 40))
    while not _spread(H):
        H, R, a, b = _exact_law(rng, H.size)
    fit = laws.fit_entropy_law(H, R)
    return max(abs(fit.a - a), abs(fit.b - b), abs(fit.ceiling - (b - a))) / (1.0 + abs(a) + abs(b))


@check("entropy_law_extrapolation", "Entropy-performance law", 1e-8, ("extrapolation_score",))
def _entropy_law_extrapolation(rng: np.random.Generator) -> float:
    """An exact law extrapolates exactly: held-out RMSE and ceiling error 0 (relative to
    1 + |a| + |b|); n in 8..40, half fitted."""
    n = _k(rng, 8, 40)
    H, R, a, b = _exact_law(rng, n)
    while not (_spread(H[: n // 2]) and _spread(H[n // 2 :])):
        H, R, a, b = _exact_law(rng, n)
    score = laws.extrapolation_score(H, R, fit_fraction=0.5)
    return max(score.rmse, abs(score.ceiling_error)) / (1.0 + abs(a) + abs(b))


# --------------------------------------------------------------------- decomposition


@check("decomposition_telescopes", "Reward-gain decomposition", 8 * 2.0**-52, ("decompose",))
def _decomposition(rng: np.random.Generator) -> float:
    """null + elicitation + reward_design = total, elicitation + reward_design = naive,
    bias = elicitation, and each term the difference of its means (fsum); 1..20 seeds."""
    n = _k(rng, 1, 20)
    acc = {name: rng.uniform(0.0, 1.0, n) for name in ("true", "random", "frozen", "anchor")}
    d = decomposition.decompose(acc, anchor="anchor")
    m = {name: math.fsum(x) / n for name, x in acc.items()}
    return max(
        abs(d.null + d.elicitation + d.reward_design - d.total),
        abs(d.elicitation + d.reward_design - d.naive),
        abs(d.bias - d.elicitation),
        abs(d.total - (m["true"] - m["frozen"])),
        abs(d.null - (m["random"] - m["frozen"])),
        abs(d.elicitation - (m["anchor"] - m["random"])),
        abs(d.reward_design - (m["true"] - m["anchor"])),
    )
