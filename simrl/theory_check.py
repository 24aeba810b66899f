"""`simrl theory check`: every closed form in theory/ against exact computation, on random cases.

Each check draws ONE random case from a `numpy.random.Generator` and returns an error:
the distance between a closed form and an independent reference (central finite
differences, an mpmath or exact-rational evaluation, an exact enumeration or
expectation), or a ratio that the identity bounds. `run_checks` runs every check on
`n_cases` cases and keeps the worst; `render` tabulates the results.

Case i of check c under seed s draws from `default_rng([s, crc32(c), i])`, so a run is
deterministic, a check's cases do not depend on which other checks exist, and the worst
case of a failure is reproduced by `run_case(c, s, i)`.

These are the identities of tests/properties/ (hypothesis, with shrinking), run as a
user-facing sanity check on plain random draws; the sections named are in theory/NOTES.md.
"""

from __future__ import annotations

import importlib
import math
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise

import numpy as np
from rich import box
from rich.console import Console
from rich.table import Table

from simrl import kl
from simrl.errors import ConfigError
from theory import clipping, decomposition, laws, passk

# `theory` re-exports the function `entropy`, which shadows the submodule as an attribute
# of the package (so `import theory.entropy as m` gives the function). Calls go through the
# module object so that a patched closed form is the one checked.
ent = importlib.import_module("theory.entropy")

#: the section of the definitions themselves (pi = softmax(z), l = log pi, H), which has no heading
NOTATION = "Notation (top of NOTES.md)"

#: step of the central finite differences: truncation ~h^2, rounding ~1e-16 / h
FD_STEP = 1e-6
#: an error of a Taylor prediction below NOISE_FLOOR (1 + H) is taken as float noise, not
#: its remainder: the exact change H(z + dz) - H(z) carries a few 1e-16 (1 + H)
NOISE_FLOOR = 1e-13


@dataclass(frozen=True)
class Check:
    """One identity: a closed form against an independent reference on one random case."""

    name: str
    """short snake_case name, shown in the table"""
    section: str
    """the theory/NOTES.md section (its heading, or the start of it) that derives it"""
    tolerance: float
    """the check passes when every case's error is <= this"""
    covers: tuple[str, ...]
    """the closed forms it verifies: theory exports by name, simrl functions qualified"""
    fn: Callable[[np.random.Generator], float]
    """rng -> error of one random case"""
    max_cases: int | None = None
    """cap on cases for an expensive reference (None: as many as asked)"""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check over its cases."""

    name: str
    """the check's name"""
    section: str
    """the theory/NOTES.md section it verifies"""
    cases: int
    """cases run (fewer than asked when the check is capped)"""
    max_error: float
    """the largest error over the cases; nan or inf when a case gave nan or raised"""
    tolerance: float
    """the largest error allowed"""
    passed: bool
    """max_error <= tolerance (False for nan)"""
    seed: int
    """the seed of the run"""
    worst_case: int
    """index of the case with the largest error: reproduce with run_case(name, seed, worst_case)"""
    capped: bool
    """True when the check ran fewer cases than asked"""
    message: str = ""
    """the exception raised by the worst case, if it raised"""
    seconds: float = 0.0
    """wall time of all its cases"""


CHECKS: dict[str, Check] = {}


def check(
    name: str,
    section: str,
    tolerance: float,
    covers: tuple[str, ...],
    max_cases: int | None = None,
) -> Callable[[Callable[[np.random.Generator], float]], Callable[[np.random.Generator], float]]:
    """Register fn(rng) -> error as a check."""

    def deco(fn: Callable[[np.random.Generator], float]) -> Callable[[np.random.Generator], float]:
        if name in CHECKS:
            raise ValueError(f"theory check {name!r} is already registered")
        CHECKS[name] = Check(name, section, tolerance, covers, fn, max_cases)
        return fn

    return deco


# ------------------------------------------------------------------------------ cases


def _k(rng: np.random.Generator, lo: int = 2, hi: int = 64) -> int:
    return int(rng.integers(lo, hi + 1))


def _logits(rng: np.random.Generator, k: int, bound: float = 8.0) -> np.ndarray:
    """(k,) uniform in [-bound, bound]; with bound 50, half the time one answer sits at +50
    (a near-deterministic policy), as in tests/properties/strategies.py."""
    z = rng.uniform(-bound, bound, k)
    if bound >= 50.0 and rng.random() < 0.5:
        z[rng.integers(k)] = bound
    return z


def _directional(f: Callable[[np.ndarray], float], z: np.ndarray, d: np.ndarray) -> float:
    """Central difference of the scalar f along d."""
    return (f(z + FD_STEP * d) - f(z - FD_STEP * d)) / (2.0 * FD_STEP)


def _fd_gradient(f: Callable[[np.ndarray], float], z: np.ndarray) -> np.ndarray:
    """(K,) gradient of the scalar f by central differences along each axis."""
    return np.array([_directional(f, z, e) for e in np.eye(z.size)])


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


# ------------------------------------------------------------------------------- KL


@check(
    "kl_k1_k3_unbiased",
    "KL gradients",
    1e-9,
    ("simrl.kl.k1", "simrl.kl.k3", "simrl.kl.exact_reverse"),
)
def _kl_unbiased(rng: np.random.Generator) -> float:
    """E_{a~pi}[k] = KL(pi || ref) for k1 and k3, by exact expectation (Schulman 2020):
    relative error |E k - KL| / (1 + KL), logits up to +-50, K up to 64."""
    k = _k(rng)
    lp = ent.log_softmax(_logits(rng, k, bound=50.0))
    lr = ent.log_softmax(_logits(rng, k, bound=50.0))
    pi = np.exp(lp)
    divergence = kl.KL_ESTIMATORS["exact_reverse"].fn(lp[None], lr[None])[0][0]
    return max(
        abs(pi @ kl.KL_ESTIMATORS[name].fn(lp, lr)[0] - divergence) / (1.0 + divergence)
        for name in ("k1", "k3")
    )


@check(
    "kl_sampled_derivatives",
    "KL gradients",
    1e-6,
    ("simrl.kl.k1", "simrl.kl.k2", "simrl.kl.k3"),
)
def _kl_sampled_derivatives(rng: np.random.Generator) -> float:
    """k1', k2', k3' (d/d logp) against central differences, relative |fd - d| / (1 + |d|);
    logp, logp_ref uniform in [-20, 0]."""
    logp, logp_ref = rng.uniform(-20.0, 0.0, 2)
    errors = []
    for name in kl.SAMPLED:
        fn = kl.KL_ESTIMATORS[name].fn
        deriv = fn(np.array(logp), np.array(logp_ref))[1]
        numeric = _directional(lambda x, fn=fn: fn(x, np.array(logp_ref))[0], logp, 1.0)
        errors.append(abs(numeric - deriv) / (1.0 + abs(deriv)))
    return float(max(errors))


def _kl_gradient(rng: np.random.Generator, fn) -> float:
    """<grad, d> against the central difference of the KL along d (logits in [-8, 8])."""
    k = _k(rng, hi=16)
    z, d, ref = _logits(rng, k), rng.uniform(-1.0, 1.0, k), ent.log_softmax(_logits(rng, k))
    grad = fn(ent.log_softmax(z), ref)[1]
    return abs(grad @ d - _directional(lambda x: fn(ent.log_softmax(x), ref)[0], z, d))


@check("kl_exact_reverse_gradient", "KL gradients", 1e-6, ("simrl.kl.exact_reverse",))
def _kl_reverse_gradient(rng: np.random.Generator) -> float:
    """d KL(pi || ref) / dz = pi (d - KL), d = l - l_ref, against finite differences."""
    return _kl_gradient(rng, kl.KL_ESTIMATORS["exact_reverse"].fn)


@check("kl_exact_forward_gradient", "KL gradients", 1e-6, ("simrl.kl.exact_forward",))
def _kl_forward_gradient(rng: np.random.Generator) -> float:
    """d KL(ref || pi) / dz = pi - ref, against finite differences."""
    return _kl_gradient(rng, kl.KL_ESTIMATORS["exact_forward"].fn)


# ------------------------------------------------------------------------- clipping


def _clip_setting(rng: np.random.Generator, moved: bool = True, clip: bool | None = None) -> dict:
    """K in 2..4, G in 2..5 (the enumeration stays under 800 terms), z_old in [-3, 3],
    z_theta = z_old + delta with delta in [-1.5, 1.5] (0 unless moved); finite eps half the
    time unless `clip` says; p in {0, 1/2, 1} a quarter of the time, else uniform."""
    k = _k(rng, hi=4)
    z_old = rng.uniform(-3.0, 3.0, k)
    delta = rng.uniform(-1.5, 1.5, k) if moved else np.zeros(k)
    clip = bool(rng.random() < 0.5) if clip is None else clip
    eps_low, eps_high = (rng.uniform(0.0, 0.9), rng.uniform(0.0, 1.0)) if clip else (np.inf,) * 2
    p = float(rng.choice([0.0, 0.5, 1.0])) if rng.random() < 0.25 else rng.uniform()
    return dict(
        z_old=z_old,
        z_theta=z_old + delta,
        G=_k(rng, 2, 5),
        p=p,
        eps_low=eps_low,
        eps_high=eps_high,
        advantage=str(rng.choice(clipping.ADVANTAGE_ESTIMATORS)),
        ddof=int(rng.integers(2)),
    )


@check(
    "clip_closed_form",
    "Clipping bias under answer-independent rewards",
    1e-12,
    (
        "expected_clipped_gradient_closed_form",
        "expected_clipped_gradient",
        "mean_positive_advantage",
    ),
)
def _clip_closed_form(rng: np.random.Generator) -> float:
    """max |m pi (s - E_pi s) - E[g]|, E[g] by exact enumeration of (answer, reward) counts."""
    s = _clip_setting(rng)
    return float(
        np.abs(
            clipping.expected_clipped_gradient_closed_form(**s)
            - clipping.expected_clipped_gradient(**s)
        ).max()
    )


@check(
    "clip_first_epoch_zero",
    "Clipping bias under answer-independent rewards",
    1e-12,
    ("expected_clipped_gradient", "expected_clipped_gradient_closed_form"),
)
def _clip_first_epoch_zero(rng: np.random.Generator) -> float:
    """z_theta = z_old: every ratio is 1 and the expected step is 0, clipped or not."""
    s = _clip_setting(rng, moved=False)
    return float(
        max(
            np.abs(clipping.expected_clipped_gradient(**s)).max(),
            np.abs(clipping.expected_clipped_gradient_closed_form(**s)).max(),
        )
    )


@check(
    "clip_free_step_zero",
    "Clipping bias under answer-independent rewards",
    1e-12,
    ("expected_clipped_gradient",),
)
def _clip_free_step_zero(rng: np.random.Generator) -> float:
    """No clipping (eps = inf): the expected step is 0 at any fixed z_theta."""
    return float(np.abs(clipping.expected_clipped_gradient(**_clip_setting(rng, clip=False))).max())


@check(
    "clip_bias_direction",
    "Clipping bias under answer-independent rewards",
    1e-8,
    ("clip_bias_direction",),
)
def _clip_bias_direction(rng: np.random.Generator) -> float:
    """d/dlr log pi_top(z_theta - lr E[g]) at lr = 0 by central differences, E[g] by
    enumeration, top = argmax pi_old."""
    s = _clip_setting(rng, clip=True)
    step = -clipping.expected_clipped_gradient(**s)  # (K,)
    top = int(np.argmax(s["z_old"]))
    numeric = _directional(lambda lr: ent.log_softmax(s["z_theta"] + lr * step)[top], 0.0, 1.0)
    return abs(clipping.clip_bias_direction(**s) - numeric)


@check(
    "never_clipped_high",
    "Clipping bias under answer-independent rewards",
    0.0,
    ("never_clipped_high",),
)
def _never_clipped_high(rng: np.random.Generator) -> float:
    """1 if never_clipped_high disagrees with the definition, else 0. The ratio of answer a
    is largest as pi(a) -> 1 (z_a pushed up by 60: pi(a) = 1 to float precision), so a can
    be clipped high iff that ratio exceeds 1 + eps_high. Cases within 1e-9 of the boundary
    are skipped (0)."""
    k = _k(rng, hi=8)
    z_old, a, eps_high = rng.uniform(-4.0, 4.0, k), int(rng.integers(k)), rng.uniform(0.0, 2.0)
    pi_old = ent.softmax(z_old)
    if abs(pi_old[a] * (1.0 + eps_high) - 1.0) < 1e-9:
        return 0.0
    rho_max = ent.softmax(z_old + 60.0 * np.eye(k)[a])[a] / pi_old[a]
    never = not rho_max > 1.0 + eps_high
    return float(bool(clipping.never_clipped_high(float(pi_old[a]), eps_high)) != never)


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


#: check name -> the closed forms it verifies
COVERS: dict[str, list[str]] = {c.name: list(c.covers) for c in CHECKS.values()}

#: exports of theory/ that no check here verifies, and why
NOT_CHECKED: dict[str, str] = {
    "Decomposition": "a result record",
    "DecompositionCI": "a result record",
    "EntropyLawFit": "a result record",
    "ExtrapolationScore": "a result record",
    "decompose_with_ci": "bootstrap intervals: a resampling procedure "
    "(tests/properties/test_decomposition_props.py checks coverage and pairing)",
    "monte_carlo_clipped_gradient": "a sampled estimate, the test helper for the enumeration",
    "steer_eq14": "STEER's published estimate, not an identity (NOTES.md: neither STEER form "
    "is the first-order term in general)",
    "steer_omega_code": "STEER's published code, not an identity (NOTES.md, as steer_eq14)",
}


# --------------------------------------------------------------------------- running


def case_rng(name: str, seed: int, case: int) -> np.random.Generator:
    """The generator of case `case` of check `name` under `seed`."""
    return np.random.default_rng([seed, zlib.crc32(name.encode()), case])


def _get(name: str) -> Check:
    try:
        return CHECKS[name]
    except KeyError:
        raise KeyError(f"unknown theory check {name!r}; valid: {', '.join(CHECKS)}") from None


def run_case(name: str, seed: int, case: int) -> float:
    """The error of one case: reproduces a CheckResult's worst case. Exceptions propagate."""
    with np.errstate(all="ignore"):
        return float(_get(name).fn(case_rng(name, seed, case)))


def _run_check(c: Check, n_cases: int, seed: int) -> CheckResult:
    cases = n_cases if c.max_cases is None else min(n_cases, c.max_cases)
    worst, worst_rank, worst_case, message = -math.inf, -math.inf, 0, ""
    start = time.perf_counter()
    for i in range(cases):
        try:
            error, raised = run_case(c.name, seed, i), ""
        except Exception as e:  # a case that raises fails the check; the others still run
            error, raised = math.inf, f"{type(e).__name__}: {e}"
        rank = math.inf if math.isnan(error) else error  # nan ranks as the worst
        if rank > worst_rank:
            worst, worst_rank, worst_case, message = error, rank, i, raised
    return CheckResult(
        name=c.name,
        section=c.section,
        cases=cases,
        max_error=worst,
        tolerance=c.tolerance,
        passed=bool(worst <= c.tolerance),  # False for nan
        seed=seed,
        worst_case=worst_case,
        capped=cases < n_cases,
        message=message,
        seconds=time.perf_counter() - start,
    )


def run_checks(n_cases: int = 200, seed: int = 0) -> list[CheckResult]:
    """Run every check on n_cases random cases (fewer for a capped check) under seed."""
    if isinstance(n_cases, bool) or not isinstance(n_cases, int | np.integer) or n_cases < 1:
        raise ConfigError("cases", n_cases, "must be an integer >= 1")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError("seed", seed, "must be an integer >= 0")
    return [_run_check(c, int(n_cases), int(seed)) for c in CHECKS.values()]


def render(results: list[CheckResult]) -> Table:
    """The pass/fail table, one row per check (`main` lists the failures' worst cases)."""
    seed = results[0].seed if results else 0
    capped = any(r.capped for r in results)
    table = Table(
        title=f"simrl theory check (seed {seed}): theory/'s closed forms against exact computation",
        caption=("* fewer cases: an expensive reference. " if capped else "")
        + "What each error measures: the check's docstring in simrl/theory_check.py",
        box=box.SIMPLE,
        collapse_padding=True,
        pad_edge=False,
    )
    table.add_column("check", no_wrap=True)
    table.add_column("NOTES.md section", min_width=12)
    for col in ("cases", "max error", "tol", "result"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in results:
        table.add_row(
            r.name,
            r.section,
            f"{r.cases}{'*' if r.capped else ''}",
            f"{r.max_error:.2e}",
            f"{r.tolerance:.2g}",
            "[green]pass[/]" if r.passed else "[bold red]FAIL[/]",
        )
    return table


def main(n_cases: int = 200, seed: int = 0, console: Console | None = None) -> int:
    """Print the table; 0 if every check passed, else 1."""
    console = console or Console()
    start = time.perf_counter()
    results = run_checks(n_cases, seed)
    seconds = time.perf_counter() - start
    console.print(render(results))
    failed = [r for r in results if not r.passed]
    for r in failed:
        console.print(
            f"FAIL {r.name}: worst case {r.worst_case} of seed {r.seed}, error {r.max_error:.3g}"
            f" > {r.tolerance:.3g}{f' ({r.message})' if r.message else ''}; reproduce with"
            f" simrl.theory_check.run_case({r.name!r}, {r.seed}, {r.worst_case})",
            markup=False,
            highlight=False,
        )
    if failed:
        console.print(f"{len(failed)} of {len(results)} checks failed ({seconds:.1f} s)")
        return 1
    console.print(f"all {len(results)} checks passed ({seconds:.1f} s)")
    return 0
