"""frozen: no update at all: the policy stays the base policy (the null anchor of the
reward decomposition: every other reward's gain is measured against it).

Source: the "no training" baseline of Spurious Rewards (arXiv 2506.10947); the
decomposition's anchor (theory/decomposition.py).
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms.reward import PromptFacts, Reward, register


def numpy_form(answers, facts: PromptFacts, u, u_tie, *, p, flip):
    return np.zeros(answers.shape, dtype=float)


def numba_form(s, ans, row, n, correct, fmt, label, u, u_off, param, winner, out):
    for g in range(n):
        out[row, g] = 0.0


def bridge_form(answers, correct, label, u, u_tie, *, p, flip):
    return np.zeros(len(answers))


ENTRY = register(
    Reward(
        name="frozen",
        doc="no update at all: the policy stays the base policy (the null anchor)",
        source="the no-training baseline (Spurious Rewards, arXiv 2506.10947); theory/decomposition.py",
        numpy=numpy_form,
        numba=numba_form,
        bridge=bridge_form,
        deterministic=True,
        updates=False,
    )
)
