"""format: 1 iff the answer is the prompt's designated format answer; on a sequence task,
1 iff the response carries the format marker (the format token); on the bridge, 1 iff
the completion is well-formed (the verifier parses an answer).

Source: Shao et al. 2025, "Spurious Rewards" (arXiv 2506.10947), the format reward
(a reward for the answer's form, not its correctness).
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms.reward import PromptFacts, Reward, register


def numpy_form(answers, facts: PromptFacts, u, u_tie, *, p, flip):
    return (answers == facts.format_answer).astype(float)


def numba_form(s, ans, row, n, correct, fmt, label, u, u_off, param, winner, out):
    for g in range(n):
        out[row, g] = 1.0 if ans[row, g] == fmt[s] else 0.0


def bridge_form(answers, correct, label, u, u_tie, *, p, flip):
    return np.array([a is not None for a in answers], dtype=float)


ENTRY = register(
    Reward(
        name="format",
        doc="1 iff the answer is the prompt's designated format answer",
        source="Spurious Rewards (arXiv 2506.10947), format reward",
        numpy=numpy_form,
        numba=numba_form,
        bridge=bridge_form,
        expectation=lambda p, flip: (0.0, 0.0, 0.0, 1.0, 0.0),
        deterministic=True,
        pays_format=True,
    )
)
