"""npg: the natural policy gradient (Kakade 2001, "A Natural Policy Gradient").

Per state, the Fisher of a softmax is F = diag(pi) - pi pi^T, and x = g / pi solves
F x = g for any g with sum g = 0 (every softmax gradient); the step removes x's mean (the
minimum-norm solution, which leaves the policy unchanged): z <- z - lr (x - mean x). For
the exact policy gradient g = -pi * A this is the tabular NPG step dz = lr * A(s, .)
(theory/NOTES.md, "Natural PG"). pi is floored at NPG_PI_FLOOR before dividing (an
underflowed pi has g = 0 there anyway).
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms.optimiser import Optimiser, register

LR = 0
#: pi is floored here before dividing (an underflowed pi has g = 0 there anyway)
NPG_PI_FLOOR = np.finfo(np.float64).tiny


def numpy_form(z, g, state, p):
    pi = np.exp(z - z.max(axis=-1, keepdims=True))
    pi /= pi.sum(axis=-1, keepdims=True)
    x = g / np.maximum(pi, NPG_PI_FLOOR)
    x -= x.mean(axis=-1, keepdims=True)
    return z - p.lr * x, state


def numba_form(op, z, g, prob, m, v, t, rows, n_rows):
    lr = op[LR]
    K = z.shape[1]
    for i in range(n_rows):
        s = rows[i]
        mean = 0.0
        for k in range(K):
            mean += g[s, k] / max(prob[s, k], NPG_PI_FLOOR)
        mean /= K
        for k in range(K):
            z[s, k] -= lr * (g[s, k] / max(prob[s, k], NPG_PI_FLOOR) - mean)
            g[s, k] = 0.0


ENTRY = register(
    Optimiser(
        name="npg",
        doc="natural policy gradient: per-state Fisher-preconditioned step",
        source='Kakade 2001, A Natural Policy Gradient; theory/NOTES.md "Natural PG"',
        numpy=numpy_form,
        numba=numba_form,
        moments=False,  # the numba form never reads m, v
    )
)
