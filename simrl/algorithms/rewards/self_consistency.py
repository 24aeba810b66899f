"""self_consistency: 1 iff the answer equals the plurality answer of its own group, ties
broken uniformly at random (label-free majority voting). On the bridge, ill-formed
completions neither vote nor earn.

Source: Zuo et al. 2025, "TTRL: Test-Time Reinforcement Learning" (arXiv 2504.16084),
the majority-voting reward.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from simrl.algorithms.reward import PromptFacts, Reward, parsed_equal, register


def numpy_form(answers, facts: PromptFacts, u, u_tie, *, p, flip):
    counts = np.bincount(answers, minlength=facts.correct.shape[0])
    tied = np.flatnonzero(counts == counts.max())
    winner = tied[min(int(u_tie * tied.size), tied.size - 1)]
    return (answers == winner).astype(float)


def numba_form(s, ans, row, n, correct, fmt, label, u, u_off, param, winner, out):
    for g in range(n):  # winner: the kernels' plurality (sampling.plurality)
        out[row, g] = 1.0 if ans[row, g] == winner else 0.0


def bridge_form(answers, correct, label, u, u_tie, *, p, flip):
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return np.zeros(len(answers))
    top = max(counts.values())
    tied = sorted(a for a, c in counts.items() if c == top)
    winner = tied[min(int(u_tie * len(tied)), len(tied) - 1)]
    return parsed_equal(answers, winner)


ENTRY = register(
    Reward(
        name="self_consistency",
        doc="1 iff the answer equals the plurality answer of its own group, ties broken "
        "uniformly at random (label-free majority voting, as in TTRL, arXiv 2504.16084)",
        source="TTRL (arXiv 2504.16084), majority-voting reward",
        numpy=numpy_form,
        numba=numba_form,
        bridge=bridge_form,
        votes=True,
    )
)
