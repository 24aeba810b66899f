"""The registry of theory checks, and the random-case helpers the checks share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

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
