"""A custom sequence task defined by Python functions, run through simrl.

    python simrl/examples/custom_sequence.py
    simrl run simrl/examples/custom_sequence.toml --task simrl/examples/custom_sequence.py:build

Two prompts ask for a sum. A response first chooses a habit shared by both prompts
(token 0 = "show the work", token 1 = "guess"), then writes one digit. Showing the work
makes the right digit likely; guessing spreads the mass. The verifier reads the digit.
The mode state is one parameter row shared by both prompts, so training on prompt 0
alone moves prompt 1 (held out) too.
"""

from __future__ import annotations

import numpy as np

from simrl.tasks.sequence import graph_from_functions

ANSWERS = (3, 5)  # the correct digit of each prompt
DIGITS = 10


def next_probs(s: int, prefix: tuple) -> list[float] | None:
    if len(prefix) == 0:  # the habit
        return [0.3, 0.7]
    if len(prefix) == 1:  # the digit, given the habit
        right = 0.9 if prefix[0] == 0 else 0.2
        p = np.full(DIGITS, (1.0 - right) / (DIGITS - 1))
        p[ANSWERS[s]] = right
        return list(p)
    return None  # two tokens, then the response ends


def verify(s: int, prefix: tuple) -> int:
    return prefix[1]  # the final answer is the digit written


def build(config=None):
    """The task; `config` (a simrl Config) is accepted so that `simrl run --task` can call it."""
    return graph_from_functions(
        num_prompts=2,
        num_answers=DIGITS,
        next_probs=next_probs,
        verify=verify,
        correct=list(ANSWERS),
        row_key=lambda s, prefix: "habit" if len(prefix) == 0 else None,
        mode_of=lambda s, prefix: prefix[0],
        num_modes=2,
        name="sums",
    )


if __name__ == "__main__":
    from simrl import Config, simulate

    cfg = Config.from_dict(
        {
            "task": {"kind": "sequence", "num_prompts": 2, "train_prompts": 1},
            "algo": {"group_size": 8, "epochs": 2},
            "optim": {"kind": "adam", "lr": 0.05},
            "run": {"steps": 100, "seeds": 16},
        }
    )
    res = simulate(cfg, engine="reference", task=build())
    print(res.summary(["acc", "acc_heldout", "mode_usage_0", "entropy_mode_state"]))
