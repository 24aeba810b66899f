"""random: Bernoulli(p), independent of the answer.

Source: Shao et al. 2025, "Spurious Rewards: Rethinking Training Signals in RLVR" (arXiv
2506.10947), the random reward with probability gamma.
"""

from __future__ import annotations

from simrl.algorithms.reward import PromptFacts, Reward, register
from simrl.validate import UNIT, param

FIELDS = {"p": (float, param(0.5, "probability of reward 1 for kind='random'", UNIT))}


def numpy_form(answers, facts: PromptFacts, u, u_tie, *, p, flip):
    return (u < p).astype(float)


def numba_form(s, ans, row, n, correct, fmt, label, u, u_off, param, winner, out):
    for g in range(n):
        out[row, g] = 1.0 if u[u_off + g] < param else 0.0


def bridge_form(answers, correct, label, u, u_tie, *, p, flip):
    return (u < p).astype(float)


ENTRY = register(
    Reward(
        name="random",
        doc="Bernoulli(p), independent of the answer (Shao et al. 2025, Spurious Rewards, "
        "arXiv 2506.10947)",
        source="Spurious Rewards (arXiv 2506.10947), random reward",
        numpy=numpy_form,
        numba=numba_form,
        bridge=bridge_form,
        expectation=lambda p, flip: (0.0, 0.0, 0.0, 0.0, p),
        param="p",
        fields=FIELDS,
        uses_uniform=True,
    )
)
