"""Entropy of a softmax policy and closed forms for the entropy change of one update.

For logits z (..., K), pi = softmax(z), l = log pi, H = -sum pi l, and a logit change
u = dz with centred form d = u - E_pi u:

  gradient        dH/dz_j = -pi_j (l_j + H)                        (NOTES.md, "Entropy gradient")
  first order     dH ~ -Cov_pi(l, u)                 (Cui et al. 2025, arXiv 2505.22617, Lemma 1)
  second order    dH ~ -Cov_pi(l, u) - 1/2 E_pi[d^2 (l + H + 1)]     (NOTES.md, "Second order")
  remainders      |exact - first| <= 1/2 R^2 (2 ln K + 1),
                  |exact - second| <= 1/6 R^3 (3.5 ln K + 2),  R = max u - min u   (NOTES.md)
  Cui Theorem 1   vanilla softmax PG, u = eta pi A:  dH ~ -eta Cov_pi(l, pi A)
  Cui Theorem 2   natural PG, u = eta A:             dH ~ -eta Cov_pi(l, A)
  one token       u = eta w (e_a - pi):  dH ~ -eta w [pi_a (l_a + H) - sum_j pi_j^2 (l_j + H)]
                                                                       (NOTES.md, "One token")
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


def _pi_l_h(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    l = log_softmax(z)
    pi = np.exp(l)
    h = -np.where(pi > 0, pi * l, 0.0).sum(axis=-1, keepdims=True)
    return pi, l, h


def entropy_gradient(z: np.ndarray) -> np.ndarray:
    """dH/dz = -pi (l + H)  (NOTES.md, "Entropy gradient")."""
    pi, l, h = _pi_l_h(z)
    return -np.where(pi > 0, pi * (l + h), 0.0)


def first_order_entropy_change(z: np.ndarray, dz: np.ndarray) -> np.ndarray:
    """-Cov_pi(log pi, dz): the first-order change of H when z moves to z + dz.

    Cui et al. 2025 (arXiv 2505.22617), Lemma 1.
    """
    return (entropy_gradient(z) * dz).sum(axis=-1)


def second_order_term(z: np.ndarray, dz: np.ndarray) -> np.ndarray:
    """-1/2 E_pi[(u - E_pi u)^2 (l + H + 1)], the second-order term of the entropy change
    along z + t dz at t = 1 (NOTES.md, "Second order")."""
    pi, l, h = _pi_l_h(z)
    d = dz - (pi * dz).sum(axis=-1, keepdims=True)
    return -0.5 * np.where(pi > 0, pi * d * d * (l + h + 1.0), 0.0).sum(axis=-1)


def second_order_entropy_change(z: np.ndarray, dz: np.ndarray) -> np.ndarray:
    """First plus second order: exact up to O(|dz|^3) (NOTES.md, "Second order")."""
    return first_order_entropy_change(z, dz) + second_order_term(z, dz)


def first_order_remainder_bound(z: np.ndarray, dz: np.ndarray) -> np.ndarray:
    """|H(z + dz) - H(z) - first order| <= 1/2 R^2 (2 ln K + 1), R = max dz - min dz."""
    r = dz.max(axis=-1) - dz.min(axis=-1)
    return 0.5 * r**2 * (2.0 * np.log(z.shape[-1]) + 1.0)


def second_order_remainder_bound(z: np.ndarray, dz: np.ndarray) -> np.ndarray:
    """|H(z + dz) - H(z) - second order| <= R^3 (3.5 ln K + 2) / 6, R = max dz - min dz."""
    r = dz.max(axis=-1) - dz.min(axis=-1)
    return r**3 * (3.5 * np.log(z.shape[-1]) + 2.0) / 6.0


def cui_theorem1(z: np.ndarray, advantages: np.ndarray, eta: float) -> np.ndarray:
    """-eta Cov_pi(log pi, pi A): first-order entropy change of the exact vanilla softmax
    policy-gradient step dz = eta pi A (Cui et al. 2025, arXiv 2505.22617, Theorem 1)."""
    return first_order_entropy_change(z, eta * softmax(z) * advantages)


def cui_theorem2(z: np.ndarray, advantages: np.ndarray, eta: float) -> np.ndarray:
    """-eta Cov_pi(log pi, A): first-order entropy change of the natural policy-gradient
    step dz = eta A (Cui et al. 2025, Theorem 2)."""
    return first_order_entropy_change(z, eta * advantages)


def sampled_token_entropy_change(
    z: np.ndarray, a: np.ndarray, weight: np.ndarray, eta: float
) -> np.ndarray:
    """First-order entropy change of the step dz = eta w (e_a - pi) (the gradient of
    w log pi(a)): -eta w [pi_a (l_a + H) - sum_j pi_j^2 (l_j + H)]  (NOTES.md, "One token").

    z (..., K); a and weight broadcast against z's leading axes.
    """
    pi, l, h = _pi_l_h(z)
    a = np.asarray(a)[..., None]
    own = np.take_along_axis(pi * (l + h), a, axis=-1)[..., 0]
    spread = (pi * pi * (l + h)).sum(axis=-1)
    return -eta * np.asarray(weight) * (own - spread)


#: STEER's public code clamps probabilities into [1e-8, 1 - 1e-8] (current) and [1e-8, 1] (old)
STEER_PROB_FLOOR = 1e-8


def steer_omega_code(adv, pi_old_a, pi_a, entropy_old, signed: bool = False):
    """Omega as in STEER's public code (zz-haooo/STEER, core_algos.py,
    `compute_token_weights`): A / pi_old(a) * pi(a) (1 - pi(a)) (log pi(a) + H_old), with
    its clamps; its absolute value unless `signed` (the code's "asymmetric" mode keeps the
    sign). Per token; arrays broadcast."""
    pi = np.clip(pi_a, STEER_PROB_FLOOR, 1.0 - STEER_PROB_FLOOR)
    pi_old = np.clip(pi_old_a, STEER_PROB_FLOOR, 1.0)
    omega = adv / pi_old * pi * (1.0 - pi) * (np.log(pi) + entropy_old)
    return omega if signed else np.abs(omega)


def steer_eq14(z: np.ndarray, weights: np.ndarray, eta: float) -> np.ndarray:
    """STEER's printed estimate (Hao et al. 2025, arXiv 2510.10150, Eq. 14):
    -eta E_{a ~ pi}[w(a) (1 - pi(a))^2 (log pi(a) + H)], weights w (..., K) per answer."""
    pi, l, h = _pi_l_h(z)
    return -eta * np.where(pi > 0, pi * weights * (1.0 - pi) ** 2 * (l + h), 0.0).sum(axis=-1)
