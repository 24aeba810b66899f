"""Checks of theory.clipping: the expected clipped step under answer-independent rewards."""

from __future__ import annotations

import importlib

import numpy as np

from simrl.theory import clipping
from simrl.theory_check.registry import (
    _directional,
    _k,
    check,
)

# `theory` re-exports the function `entropy`, which shadows the submodule as an attribute
# of the package (so `import simrl.theory.entropy as m` gives the function). Calls go through the
# module object so that a patched closed form is the one checked.
ent = importlib.import_module("simrl.theory.entropy")

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
