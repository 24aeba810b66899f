"""adam: Kingma & Ba 2015 (arXiv 1412.6980) Algorithm 1, with bias correction, on every
entry of the logits:
    m <- b1 m + (1 - b1) g,  v <- b2 v + (1 - b2) g^2,
    z <- z - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
The state (m, v, t) persists across RL steps and is reset with the reference (ProRL).
"""

from __future__ import annotations

import math

import numpy as np

from simrl.algorithms.optimiser import Optimiser, OptState, register
from simrl.validate import POS, Range, param

FIELDS = {
    "beta1": (float, param(0.9, "adam first-moment decay", Range(0.0, 1.0, hi_open=True))),
    "beta2": (float, param(0.999, "adam second-moment decay", Range(0.0, 1.0, hi_open=True))),
    "eps": (float, param(1e-8, "adam denominator epsilon", POS)),
}
PARAMS = ("lr", "beta1", "beta2", "eps")
LR, B1, B2, EPS = 0, 1, 2, 3


def numpy_form(z, g, state: OptState, p):
    t = state.t + 1
    m = p.beta1 * state.m + (1.0 - p.beta1) * g
    v = p.beta2 * state.v + (1.0 - p.beta2) * g * g
    m_hat = m / (1.0 - p.beta1**t)
    v_hat = v / (1.0 - p.beta2**t)
    return z - p.lr * m_hat / (np.sqrt(v_hat) + p.eps), OptState(m, v, t)


def numba_form(op, z, g, prob, m, v, t, rows, n_rows):
    lr, b1, b2, eps = op[LR], op[B1], op[B2], op[EPS]
    S, K = z.shape
    t[0] += 1
    c1 = 1.0 - b1 ** t[0]
    c2 = 1.0 - b2 ** t[0]
    for s in range(S):  # every entry: the moments of an untouched one decay
        for k in range(K):
            gg = g[s, k]
            m[s, k] = b1 * m[s, k] + (1.0 - b1) * gg
            v[s, k] = b2 * v[s, k] + (1.0 - b2) * gg * gg
            z[s, k] -= lr * (m[s, k] / c1) / (math.sqrt(v[s, k] / c2) + eps)
            g[s, k] = 0.0


ENTRY = register(
    Optimiser(
        name="adam",
        doc="Adam with bias correction (Kingma & Ba 2015, Alg. 1)",
        source="Kingma & Ba 2015 (arXiv 1412.6980) Algorithm 1",
        numpy=numpy_form,
        numba=numba_form,
        params=PARAMS,
        fields=FIELDS,
        moves_every_entry=True,
    )
)
