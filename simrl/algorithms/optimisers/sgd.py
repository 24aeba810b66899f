"""sgd: z <- z - lr * g, with g = d loss / d z.

Source: plain gradient descent on the logits (torch.optim.SGD without momentum, as the
bridge uses it).
"""

from __future__ import annotations

from simrl.algorithms.optimiser import Optimiser, register

LR = 0


def numpy_form(z, g, state, p):
    return z - p.lr * g, state


def numba_form(op, z, g, prob, m, v, t, rows, n_rows):
    lr = op[LR]
    K = z.shape[1]
    for i in range(n_rows):
        s = rows[i]
        for k in range(K):
            z[s, k] -= lr * g[s, k]
            g[s, k] = 0.0


ENTRY = register(
    Optimiser(
        name="sgd",
        doc="z <- z - lr * grad",
        source="gradient descent (torch.optim.SGD, no momentum)",
        numpy=numpy_form,
        numba=numba_form,
        moments=False,  # the numba form never reads m, v
    )
)
