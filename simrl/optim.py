"""Optimisers on the tabular logits, as pure functions (z, grad, state) -> (z, state).

`grad` is the gradient of the loss (descent direction is -grad), shaped (S, K).
  sgd   z <- z - lr g
  adam  Kingma & Ba 2015 (arXiv 1412.6980) Algorithm 1, with bias correction; the state
        (m, v, t) persists across RL steps and is reset with the reference (ProRL).
  npg   natural policy gradient, Kakade 2001: per state, the Fisher of a softmax is
        F = diag(pi) - pi pi^T, and x = g / pi solves F x = g for any g with sum g = 0
        (every softmax gradient); the step removes x's mean (the minimum-norm solution,
        which leaves the policy unchanged). For the exact policy gradient g = -pi * A this
        is the tabular NPG step dz = lr * A(s, .) (theory/NOTES.md, "Natural PG").
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from simrl.registry import Registry

OPTIMIZERS = Registry("optimiser")

#: pi is floored here before dividing (an underflowed pi has g = 0 there anyway)
NPG_PI_FLOOR = np.finfo(np.float64).tiny


class OptState(NamedTuple):
    m: np.ndarray  # (S, K) first moment (adam)
    v: np.ndarray  # (S, K) second moment (adam)
    t: int  # number of adam updates since the last reset


def init_state(shape: tuple[int, ...]) -> OptState:
    return OptState(np.zeros(shape), np.zeros(shape), 0)


@OPTIMIZERS.register("sgd", "z <- z - lr * grad")
def sgd(z, g, state: OptState, p) -> tuple[np.ndarray, OptState]:
    return z - p.lr * g, state


@OPTIMIZERS.register("adam", "Adam with bias correction (Kingma & Ba 2015, Alg. 1)")
def adam(z, g, state: OptState, p) -> tuple[np.ndarray, OptState]:
    t = state.t + 1
    m = p.beta1 * state.m + (1.0 - p.beta1) * g
    v = p.beta2 * state.v + (1.0 - p.beta2) * g * g
    m_hat = m / (1.0 - p.beta1**t)
    v_hat = v / (1.0 - p.beta2**t)
    return z - p.lr * m_hat / (np.sqrt(v_hat) + p.eps), OptState(m, v, t)


@OPTIMIZERS.register("npg", "natural policy gradient: per-state Fisher-preconditioned step")
def npg(z, g, state: OptState, p) -> tuple[np.ndarray, OptState]:
    pi = np.exp(z - z.max(axis=-1, keepdims=True))
    pi /= pi.sum(axis=-1, keepdims=True)
    x = g / np.maximum(pi, NPG_PI_FLOOR)
    x -= x.mean(axis=-1, keepdims=True)
    return z - p.lr * x, state
