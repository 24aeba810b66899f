"""Checks of theory.entropy: derivatives, Taylor remainders, Cui's theorems, one token, precision."""

from __future__ import annotations

import importlib
from itertools import pairwise

import numpy as np

from simrl.theory_check.registry import (
    NOISE_FLOOR,
    NOTATION,
    _directional,
    _fd_gradient,
    _k,
    _logits,
    check,
)

# `theory` re-exports the function `entropy`, which shadows the submodule as an attribute
# of the package (so `import simrl.theory.entropy as m` gives the function). Calls go through the
# module object so that a patched closed form is the one checked.
ent = importlib.import_module("simrl.theory.entropy")

# -------------------------------------------------------------------- entropy: derivatives


@check("entropy_gradient", "Entropy gradient", 1e-7, ("entropy_gradient", "entropy"))
def _entropy_gradient(rng: np.random.Generator) -> float:
    """<dH/dz, d> against the central difference of H along d (logits in [-8, 8])."""
    k = _k(rng)
    z, d = _logits(rng, k), rng.uniform(-1.0, 1.0, k)
    return abs(ent.entropy_gradient(z) @ d - _directional(ent.entropy, z, d))


def _remainders(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float, float, float]:
    """Logits up to +-50, K up to 64, a step eps d with eps log-uniform in [1e-4, 4]: the
    bounds hold for any step. Returns z, dz, |exact - first|, |exact - second|, float noise."""
    k = _k(rng)
    z = _logits(rng, k, bound=50.0)
    dz = np.exp(rng.uniform(np.log(1e-4), np.log(4.0))) * rng.uniform(-1.0, 1.0, k)
    exact = ent.entropy(z + dz) - ent.entropy(z)
    noise = NOISE_FLOOR * (1.0 + ent.entropy(z))  # cancellation in the exact difference
    first = abs(exact - ent.first_order_entropy_change(z, dz))
    second = abs(exact - ent.second_order_entropy_change(z, dz))
    return z, dz, first, second, noise


@check(
    "first_order_remainder_bound",
    "Second order, and remainder bounds",
    1.0,
    ("first_order_remainder_bound", "first_order_entropy_change"),
)
def _first_order_remainder(rng: np.random.Generator) -> float:
    """|exact - first order| / (bound + noise): at most 1."""
    z, dz, first, _, noise = _remainders(rng)
    return first / (ent.first_order_remainder_bound(z, dz) + noise)


@check(
    "second_order_remainder_bound",
    "Second order, and remainder bounds",
    1.0,
    ("second_order_remainder_bound", "second_order_entropy_change"),
)
def _second_order_remainder(rng: np.random.Generator) -> float:
    """|exact - second order| / (bound + noise): at most 1."""
    z, dz, _, second, noise = _remainders(rng)
    return second / (ent.second_order_remainder_bound(z, dz) + noise)


def _halving_ratio(rng: np.random.Generator, order: int) -> float:
    """The smallest error(eps / 2) / error(eps) of the `order`-th order prediction over
    eps = 0.02, 0.01, 0.005, ..., halving while error(eps) is above float noise; logits in
    [-8, 8], K up to 16. 0 when error(0.02) is already noise.

    Why the smallest over a ladder, not one ratio at eps = 0.02: the ratio is 2^-(n+1) only
    asymptotically. Where the next term is comparable (c_{n+1} eps^{n+1} ~ c_{n+2} eps^{n+2},
    e.g. a nearly uniform pi, where c_3 ~ 0) it is anywhere in between, and where the two
    cancel (eps = -c_{n+1} / c_{n+2}) it is large; a single ratio at 0.02 exceeds the
    tolerance in ~0.3% of random cases with nothing wrong. Further down the ladder the
    leading term takes over. A wrong order-n term makes every ratio ~2^-n."""
    k = _k(rng, hi=16)
    z, d = _logits(rng, k), rng.uniform(-1.0, 1.0, k)
    predict = ent.first_order_entropy_change if order == 1 else ent.second_order_entropy_change
    floor = NOISE_FLOOR * (1.0 + ent.entropy(z))
    errors, eps = [], 0.02
    while eps > 1e-7:
        errors.append(abs(ent.entropy(z + eps * d) - ent.entropy(z) - predict(z, eps * d)))
        if errors[-1] <= floor:
            break
        eps /= 2.0
    ratios = [small / big for big, small in pairwise(errors) if big > floor]
    return min(ratios, default=0.0)


@check(
    "first_order_error_quadratic",
    "First-order entropy change",
    0.3,
    ("first_order_entropy_change",),
)
def _first_order_quadratic(rng: np.random.Generator) -> float:
    """Halving the step divides the first-order error by ~4 (a wrong gradient: by ~2)."""
    return _halving_ratio(rng, order=1)


@check(
    "second_order_error_cubic",
    "Second order, and remainder bounds",
    0.16,
    ("second_order_entropy_change",),
)
def _second_order_cubic(rng: np.random.Generator) -> float:
    """Halving the step divides the second-order error by ~8 (a wrong second term: by ~4)."""
    return _halving_ratio(rng, order=2)


@check("cui_theorem1", "Cui et al.'s Theorems 1 and 2", 1e-8, ("cui_theorem1",))
def _cui_theorem1(rng: np.random.Generator) -> float:
    """Theorem 1 against the first-order change of the step eta grad J, J = E_pi r, with
    grad J by central differences (logits in [-8, 8], K up to 16)."""
    z = _logits(rng, _k(rng, hi=16))
    r, eta = rng.uniform(0.0, 1.0, z.size), rng.uniform(0.01, 1.0)
    grad = _fd_gradient(lambda x: ent.softmax(x) @ r, z)
    adv = r - ent.softmax(z) @ r
    return abs(ent.cui_theorem1(z, adv, eta) - ent.first_order_entropy_change(z, eta * grad))


@check("cui_theorem2", "Cui et al.'s Theorems 1 and 2", 1e-7, ("cui_theorem2",))
def _cui_theorem2(rng: np.random.Generator) -> float:
    """Theorem 2 against the first-order change of the natural-gradient step eta F^+ grad J
    (NOTES.md, "Natural PG"):
    grad J by central differences, F = diag(pi) - pi pi^T solved by least squares (the
    minimum-norm solution; F is singular along the constant vector). Logits in [-3, 3] so
    that F^+, whose norm is ~1 / min pi, does not blow up the finite-difference error."""
    z = _logits(rng, _k(rng, hi=16), bound=3.0)
    r, eta = rng.uniform(0.0, 1.0, z.size), rng.uniform(0.01, 1.0)
    pi = ent.softmax(z)
    grad = _fd_gradient(lambda x: ent.softmax(x) @ r, z)
    natural = np.linalg.lstsq(np.diag(pi) - np.outer(pi, pi), grad, rcond=None)[0]  # (K,)
    adv = r - pi @ r
    return abs(ent.cui_theorem2(z, adv, eta) - ent.first_order_entropy_change(z, eta * natural))


@check("one_token", "One token, and STEER's estimates", 1e-8, ("sampled_token_entropy_change",))
def _one_token(rng: np.random.Generator) -> float:
    """The one-token formula against the first-order change of eta w grad log pi(a), the
    gradient by central differences (logits in [-8, 8], K up to 16)."""
    z = _logits(rng, _k(rng, hi=16))
    a, w, eta = int(rng.integers(z.size)), rng.uniform(-3.0, 3.0), rng.uniform(0.01, 0.5)
    grad = _fd_gradient(lambda x: ent.log_softmax(x)[a], z)
    return abs(
        ent.sampled_token_entropy_change(z, a, w, eta)
        - ent.first_order_entropy_change(z, eta * w * grad)
    )


@check(
    "one_token_linearity",
    "One token, and STEER's estimates",
    1e-12,
    ("sampled_token_entropy_change",),
)
def _one_token_linearity(rng: np.random.Generator) -> float:
    """E_{a~pi} of the one-token change equals the first-order change of the expected step."""
    k = _k(rng)
    z, w, eta = _logits(rng, k), rng.uniform(-2.0, 2.0, k), rng.uniform(0.01, 0.5)
    pi = ent.softmax(z)
    # one row of z per answer a: a and w broadcast against the leading axis
    per_token = ent.sampled_token_entropy_change(np.broadcast_to(z, (k, k)), np.arange(k), w, eta)
    expected_dz = eta * (pi * w) @ (np.eye(k) - pi)  # sum_a pi_a w_a (e_a - pi)
    return abs(pi @ per_token - ent.first_order_entropy_change(z, expected_dz))


# --------------------------------------------------------------- entropy: precision


def _reference(z: np.ndarray) -> tuple[np.ndarray, float]:
    """log softmax(z) (K,) and its entropy, computed at 60 significant digits and rounded
    to float: with mpmath when installed (the [dev] extra), else with the standard
    library's decimal (correctly rounded exp and ln at that precision)."""
    try:
        import mpmath

        ctx, num, exp, log, total = (
            mpmath.workdps(60),
            mpmath.mpf,
            mpmath.exp,
            mpmath.log,
            mpmath.fsum,
        )
    except ImportError:  # a plain install
        import decimal

        ctx, num, total = decimal.localcontext(prec=60), decimal.Decimal, sum

        def exp(x):
            return x.exp()

        def log(x):
            return x.ln()

    with ctx:
        zs = [num(float(x)) for x in z]  # exact: every float is a finite binary fraction
        m = max(zs)
        log_total = log(total(exp(x - m) for x in zs))
        l = [x - m - log_total for x in zs]
        return np.array([float(x) for x in l]), float(-total(exp(x) * x for x in l))


@check("entropy_precision", NOTATION, 1e-12, ("entropy",), max_cases=500)
def _entropy_precision(rng: np.random.Generator) -> float:
    """|H - H_ref| / (1 + H_ref), H_ref at 60 digits; logits up to +-50, K up to 64."""
    z = _logits(rng, _k(rng), bound=50.0)
    ref = _reference(z)[1]
    return abs(ent.entropy(z) - ref) / (1.0 + ref)


@check(
    "log_softmax_precision",
    NOTATION,
    1e-13,
    ("log_softmax", "softmax"),
    max_cases=500,
)
def _log_softmax_precision(rng: np.random.Generator) -> float:
    """max of |l - l_ref| / (1 + |l_ref|) and |pi - pi_ref| / pi_ref, references at 60
    digits; logits up to +-50 (pi down to ~1e-46), K up to 64."""
    z = _logits(rng, _k(rng), bound=50.0)
    ref = _reference(z)[0]
    l, pi, pi_ref = ent.log_softmax(z), ent.softmax(z), np.exp(ref)
    return max(np.max(np.abs(l - ref) / (1.0 + np.abs(ref))), np.max(np.abs(pi - pi_ref) / pi_ref))
