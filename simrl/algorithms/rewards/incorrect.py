"""incorrect: 1 iff the answer equals a fixed wrong label per prompt, the base policy's
most likely wrong answer (like a wrong majority-vote label); on the bridge, the base
model's most frequent wrong answer among its samples (bridge/rewards.wrong_label).

Source: Shao et al. 2025, "Spurious Rewards" (arXiv 2506.10947), the incorrect-label
reward.
"""

from __future__ import annotations

from simrl.algorithms.reward import PromptFacts, Reward, parsed_equal, register


def numpy_form(answers, facts: PromptFacts, u, u_tie, *, p, flip):
    return (answers == facts.incorrect_label).astype(float)


def numba_form(s, ans, row, n, correct, fmt, label, u, u_off, param, winner, out):
    for g in range(n):
        out[row, g] = 1.0 if ans[row, g] == label[s] else 0.0


def bridge_form(answers, correct, label, u, u_tie, *, p, flip):
    return parsed_equal(answers, label)


ENTRY = register(
    Reward(
        name="incorrect",
        doc="1 iff the answer equals a fixed wrong label per prompt: the base policy's most "
        "likely wrong answer (like a wrong majority-vote label; Spurious Rewards, arXiv 2506.10947)",
        source="Spurious Rewards (arXiv 2506.10947), incorrect-label reward",
        numpy=numpy_form,
        numba=numba_form,
        bridge=bridge_form,
        expectation=lambda p, flip: (0.0, 0.0, 1.0, 0.0, 0.0),
        deterministic=True,
    )
)
