"""Entropy of a softmax policy, its gradient, and the first-order entropy change.

For logits z (..., K), pi = softmax(z), l = log pi, H = -sum pi l:
  dH/dz_j = -pi_j (l_j + H)                                   (NOTES.md, "Entropy gradient")
  dH ~ <dH/dz, dz> = -sum_j pi_j (l_j + H) dz_j = -Cov_pi(l, dz)
                                       (Cui et al. 2025, arXiv 2505.22617, Lemma 1)
All functions act on the last axis and broadcast over leading axes.
"""

from __future__ import annotations

import numpy as np


def log_softmax(z: np.ndarray) -> np.ndarray:
    """log softmax(z), stable (max subtracted)."""
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def softmax(z: np.ndarray) -> np.ndarray:
    return np.exp(log_softmax(z))


def entropy(z: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) of softmax(z); 0 log 0 = 0."""
    l = log_softmax(z)
    pi = np.exp(l)
    return -np.where(pi > 0, pi * l, 0.0).sum(axis=-1)


def entropy_gradient(z: np.ndarray) -> np.ndarray:
    """dH/dz = -pi (l + H)  (NOTES.md, "Entropy gradient")."""
    l = log_softmax(z)
    pi = np.exp(l)
    h = -np.where(pi > 0, pi * l, 0.0).sum(axis=-1, keepdims=True)
    return -np.where(pi > 0, pi * (l + h), 0.0)


def first_order_entropy_change(z: np.ndarray, dz: np.ndarray) -> np.ndarray:
    """-Cov_pi(log pi, dz): the first-order change of H when z moves to z + dz.

    Cui et al. 2025 (arXiv 2505.22617), Lemma 1. Exact to first order in dz; the
    second-order term is derived in NOTES.md.
    """
    return (entropy_gradient(z) * dz).sum(axis=-1)
