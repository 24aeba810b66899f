"""Short sums and products with an exact numeric verifier: a task SmolLM2-135M can partly
solve (issue 21, item 2).

    simrl bridge run CONFIG --task simrl/examples/bridge_arith.py:build     (bridge.model = "smollm2")

Problems: every `a+b` and `a*b` with a, b in 1..bridge.max_operand (2 x max_operand^2
problems; 162 at max_operand 9), shuffled once by bridge.task_seed; the first
bridge.eval_prompts are held out, the next bridge.train_prompts are the RL training
problems (the built-in split's order, simrl/bridge/task.py `split_problems`, restricted
to two operands: the built-in task's three-operand problems with precedence are beyond
SmolLM2-135M).

Verifier (`verify`): the reply's answer is the first integer after the first '=' in it
(SmolLM2-Instruct answers "7*4 = 28" and then often keeps talking), else the last integer
in the reply; the reward is 1 when that integer equals the problem's value exactly, else 0.
Unlike the chat format's own verifier (simrl/bridge/formats.py `ChatFormat.answer`: the
last integer of a reply that reached the end token), it reads a reply cut off at
max_new_tokens too, so a right answer followed by rambling counts. The bridge's acc
metrics still use the format's verifier; the reward and the audit's expectation use this one.
"""

from __future__ import annotations

import re

import numpy as np

from simrl.bridge.task import BridgeTask, all_problems

_AFTER_EQ = re.compile(r"=\s*(-?\d+)")
_INT = re.compile(r"-?\d+")


def verify(text: str) -> int | None:
    """The reply's answer (see module doc), or None when it has no integer."""
    m = _AFTER_EQ.search(text)
    if m:
        return int(m.group(1))
    found = _INT.findall(text)
    return int(found[-1]) if found else None


def reward(problem, text: str, answer: int | None) -> float:
    got = verify(text)
    return 1.0 if got is not None and got == problem.answer else 0.0


def problems(max_operand: int, seed: int):
    """Every two-operand problem, shuffled by `seed` (split_problems' permutation rule)."""
    two = [p for p in all_problems(max_operand) if len(p.operands) == 2]
    order = np.random.default_rng(seed).permutation(len(two))
    return [two[i] for i in order]


def build(cfg) -> BridgeTask:
    b = cfg.bridge
    shuffled = problems(b.max_operand, b.task_seed)
    if b.eval_prompts + b.train_prompts > len(shuffled):
        raise ValueError(
            f"bridge.train_prompts + bridge.eval_prompts must be <= {len(shuffled)} "
            f"two-operand problems at max_operand = {b.max_operand}"
        )
    heldout = shuffled[: b.eval_prompts]
    train = shuffled[b.eval_prompts : b.eval_prompts + b.train_prompts]
    return BridgeTask(tuple(train), tuple(heldout), reward)
