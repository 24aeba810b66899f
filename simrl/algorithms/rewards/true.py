"""true: 1 iff the answer is correct (the verifier).

Source: the verifiable reward of RLVR (DeepSeekMath, arXiv 2402.03300, Sec. 4.1 rule-based
outcome reward; Spurious Rewards, arXiv 2506.10947, "ground truth").
"""

from __future__ import annotations

from simrl.algorithms.reward import PromptFacts, Reward, parsed_equal, register


def numpy_form(answers, facts: PromptFacts, u, u_tie, *, p, flip):
    return facts.correct[answers].astype(float)


def numba_form(s, ans, row, n, correct, fmt, label, u, u_off, param, winner, out):
    for g in range(n):
        out[row, g] = 1.0 if correct[s, ans[row, g]] else 0.0


def bridge_form(answers, correct, label, u, u_tie, *, p, flip):
    return parsed_equal(answers, correct)


ENTRY = register(
    Reward(
        name="true",
        doc="1 iff the answer is correct (the verifier)",
        source="DeepSeekMath (arXiv 2402.03300) Sec. 4.1; Spurious Rewards (arXiv 2506.10947)",
        numpy=numpy_form,
        numba=numba_form,
        bridge=bridge_form,
        expectation=lambda p, flip: (1.0, 0.0, 0.0, 0.0, 0.0),
        deterministic=True,
    )
)
