"""Checks of the KL estimators and exact KL gradients (simrl.kl)."""

from __future__ import annotations

import importlib

import numpy as np

from simrl import kl
from simrl.algorithms.kl_estimator import sampled_kl
from simrl.theory_check.registry import (
    _directional,
    _k,
    _logits,
    check,
)

# `theory` re-exports the function `entropy`, which shadows the submodule as an attribute
# of the package (so `import simrl.theory.entropy as m` gives the function). Calls go through the
# module object so that a patched closed form is the one checked.
ent = importlib.import_module("simrl.theory.entropy")

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
    (
        "simrl.kl.k1",
        "simrl.kl.k2",
        "simrl.kl.k3",
        "simrl.kl.abs_kl",
        "simrl.kl.k1_plus",
        "simrl.kl.k3_plus",
        "simrl.kl.k3_ratio",
    ),
)
def _kl_sampled_derivatives(rng: np.random.Generator) -> float:
    """Every sampled estimator's d/d logp against central differences, relative
    |fd - d| / (1 + |d|); logp, logp_ref, logp_old uniform in [-20, 0] (logp_old within 1
    of logp: a ratio of at most e). The straight-through estimators (verl's names ending in
    "+", value of k1 / k3, gradient of k2) against the difference of k2's value; the ratio
    estimator's (k3_ratio) in logp with logp_old fixed, and x = logp - logp_ref in [-5, 5]:
    its value r k3 holds e^{-x}, which its derivative r x cancels, so beyond that the
    central difference itself loses the digits."""
    logp, logp_ref = rng.uniform(-20.0, 0.0, 2)
    logp_old = logp + rng.uniform(-1.0, 1.0)
    near_ref = np.array(logp - rng.uniform(-5.0, 5.0))
    old = np.array(logp_old)
    errors = []
    for name in kl.SAMPLED:
        e = kl.KL_ESTIMATORS[name]
        ref = near_ref if e.reads_ratio else np.array(logp_ref)

        def value(x, e=e, name=name, ref=ref):
            if name.endswith("+"):  # verl kl_penalty: k2 - sg(k2) + sg(k), gradient k2's
                return kl.KL_ESTIMATORS["k2"].fn(x, ref)[0]
            return sampled_kl(e, x, ref, old)[0]

        deriv = sampled_kl(e, np.array(logp), ref, old)[1]
        numeric = _directional(value, logp, 1.0)
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
