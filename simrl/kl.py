"""KL penalties to a reference policy: the sampled estimators k1/k2/k3 and exact tabular KLs.

Sampled estimators follow Schulman (2020, "Approximating KL divergence", joschu.net) as
used per token by TRL and verl (`kl_penalty`: "kl" = k1, "mse" = k2, "low_var_kl" = k3).
With x = logp - logp_ref at the sampled token:
  k1 = x                       d k1 / d logp = 1
  k2 = x^2 / 2                 d k2 / d logp = x
  k3 = exp(-x) - 1 + x         d k3 / d logp = 1 - exp(-x)
verl clamps k3 to [-10, 10]; inside that range the value and gradient above are exact,
and the simulator does not clamp (stated, not hidden: see docs of `kl_kind`).

Exact estimators use the whole state distribution (tabular), with pi = softmax(z):
  exact_reverse  KL(pi || ref) = sum pi (l - l_ref),   grad_z = pi * ((l - l_ref) - KL)
  exact_forward  KL(ref || pi) = sum ref (l_ref - l),  grad_z = pi - ref
(derivations: theory/NOTES.md, "KL gradients").
"""

from __future__ import annotations

import numpy as np

from simrl.registry import Registry

KL_ESTIMATORS = Registry("KL estimator")

SAMPLED = ("k1", "k2", "k3")


@KL_ESTIMATORS.register("k1", "logp - logp_ref at the sampled token (verl 'kl')")
def k1(logp: np.ndarray, logp_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = logp - logp_ref
    return x, np.ones_like(x)


@KL_ESTIMATORS.register("k2", "(logp - logp_ref)^2 / 2 at the sampled token (verl 'mse')")
def k2(logp: np.ndarray, logp_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = logp - logp_ref
    return 0.5 * x * x, x


@KL_ESTIMATORS.register(
    "k3", "exp(logp_ref - logp) - (logp_ref - logp) - 1 at the sampled token (verl 'low_var_kl')"
)
def k3(logp: np.ndarray, logp_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = logp - logp_ref
    e = np.exp(-x)
    return e - 1.0 + x, 1.0 - e


@KL_ESTIMATORS.register("exact_reverse", "exact KL(pi || ref) of the whole state, exact gradient")
def exact_reverse(logp: np.ndarray, logp_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of log-probs (n, K) -> (KL (n,), gradient w.r.t. logits (n, K))."""
    pi = np.exp(logp)
    d = logp - logp_ref
    kl = (pi * d).sum(axis=-1)
    return kl, pi * (d - kl[..., None])


@KL_ESTIMATORS.register("exact_forward", "exact KL(ref || pi) of the whole state, exact gradient")
def exact_forward(logp: np.ndarray, logp_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref = np.exp(logp_ref)
    kl = (ref * (logp_ref - logp)).sum(axis=-1)
    return kl, np.exp(logp) - ref
