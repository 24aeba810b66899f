"""noisy: the true reward flipped independently with probability flip.

Source: a symmetric label-noise channel on the verifier (Spurious Rewards, arXiv
2506.10947, studies rewards between the true and the random one; this is the classic
flip model of noisy labels, e.g. Natarajan et al. 2013, NeurIPS "Learning with Noisy
Labels").
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms.reward import PromptFacts, Reward, parsed_equal, register
from simrl.validate import UNIT, param

FIELDS = {
    "flip": (float, param(0.1, "probability of flipping the true reward for kind='noisy'", UNIT))
}


def numpy_form(answers, facts: PromptFacts, u, u_tie, *, p, flip):
    r = facts.correct[answers].astype(float)
    return np.where(u < flip, 1.0 - r, r)


def numba_form(s, ans, row, n, correct, fmt, label, u, u_off, param, winner, out):
    for g in range(n):
        r = 1.0 if correct[s, ans[row, g]] else 0.0
        out[row, g] = 1.0 - r if u[u_off + g] < param else r


def bridge_form(answers, correct, label, u, u_tie, *, p, flip):
    r = parsed_equal(answers, correct)
    return np.where(u < flip, 1.0 - r, r)


ENTRY = register(
    Reward(
        name="noisy",
        doc="the true reward flipped independently with probability flip",
        source="label-flip noise on the verifier (Natarajan et al. 2013, NeurIPS)",
        numpy=numpy_form,
        numba=numba_form,
        bridge=bridge_form,
        expectation=lambda p, flip: (1.0 - flip, flip, 0.0, 0.0, 0.0),
        param="flip",
        fields=FIELDS,
        uses_uniform=True,
    )
)
