"""The bridge's synthetic verifiable task: arithmetic with two demonstration strategies.

A problem is two or three operands 1..max_operand joined by + and * (usual precedence),
e.g. `2+3*4`. Its demonstrations in the pretraining corpus use one of two modes, the
analogue of the simulator's reasoning modes (README, "Sequence tasks"):

    code   `{3*4=12,2+12=14}14`   a short structured computation, then the answer:
                                  always correct in the corpus (reliable)
    prose  `14`                   the answer directly; wrong in a `prose_error` share of
                                  the corpus (less reliable)

The share of code demonstrations is `bridge.prior_mix`, the base model's prior strength
on the reliable mode. Problems are split once (`bridge.task_seed`) into held-out
problems (never seen in pretraining or RL), RL training problems and the rest; the
pretraining pool is everything but the held-out problems.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

#: the first completion character of a code-mode demonstration
CODE_MARK = "{"
CODE_END = "}"
OPS = ("+", "*")


@dataclass(frozen=True)
class Problem:
    operands: tuple[int, ...]
    ops: tuple[str, ...]

    @property
    def text(self) -> str:
        out = str(self.operands[0])
        for op, x in zip(self.ops, self.operands[1:], strict=True):
            out += op + str(x)
        return out

    @property
    def answer(self) -> int:
        return evaluate(self.operands, self.ops)[0]

    def code_steps(self) -> list[str]:
        return evaluate(self.operands, self.ops)[1]


def evaluate(operands: tuple[int, ...], ops: tuple[str, ...]) -> tuple[int, list[str]]:
    """The value with the usual precedence, and the steps that compute it: products left
    to right first, then sums left to right, each written `a op b = c`."""
    vals, steps = [operands[0]], []
    for op, x in zip(ops, operands[1:], strict=True):
        if op == "*":
            a = vals.pop()
            steps.append(f"{a}*{x}={a * x}")
            vals.append(a * x)
        else:
            vals.append(x)
    total = vals[0]
    for x in vals[1:]:
        steps.append(f"{total}+{x}={total + x}")
        total += x
    return total, steps


def all_problems(max_operand: int) -> list[Problem]:
    """Every two- and three-operand problem, in a fixed order."""
    nums = range(1, max_operand + 1)
    out = []
    for n in (2, 3):
        for ops in itertools.product(OPS, repeat=n - 1):
            for operands in itertools.product(nums, repeat=n):
                out.append(Problem(tuple(operands), tuple(ops)))
    return out


@dataclass(frozen=True)
class Split:
    heldout: list[Problem]  # acc_heldout; never in pretraining or RL
    train: list[Problem]  # RL training problems (also in the pretraining pool)
    pool: list[Problem]  # pretraining pool: every problem but the held-out ones


@dataclass(frozen=True)
class BridgeTask:
    """A user's prompt set and reward for `simrl bridge run --task FILE.py:FUNCTION`.

    `train`: the RL training problems; `heldout`: the problems reported as *_heldout (at
    least one each). Both are `Problem`s (operands and the operators in OPS), which the
    model's format turns into prompts and verifies as the built-in task does. `reward`:
    fn(problem, completion_text, answer) -> float, `answer` the verifier's parsed integer
    or None; it replaces the config's reward.kind (None: reward.kind as usual).
    `answer`: fn(completion_text, finished) -> int or None, a verifier that replaces the
    model's format's (the acc metrics, mass_format and the built-in rewards read it;
    simrl/bridge/tasks.py TaskFormat); None: the format's verifier.
    """

    train: tuple[Problem, ...]
    heldout: tuple[Problem, ...]
    reward: object = None
    answer: object = None


def split_problems(max_operand: int, train: int, heldout: int, seed: int) -> Split:
    problems = all_problems(max_operand)
    if train + heldout > len(problems):
        from simrl.errors import ConfigError

        raise ConfigError(
            "bridge.train_prompts",
            train,
            f"train_prompts + eval_prompts must be <= {len(problems)} problems at "
            f"max_operand = {max_operand}",
        )
    order = np.random.default_rng(seed).permutation(len(problems))
    shuffled = [problems[i] for i in order]
    held = shuffled[:heldout]
    return Split(held, shuffled[heldout : heldout + train], shuffled[heldout:])


def prompt_text(p: Problem) -> str:
    return p.text + "="


def code_completion(p: Problem) -> str:
    return CODE_MARK + ",".join(p.code_steps()) + CODE_END + str(p.answer)


def prose_completion(p: Problem, wrong: bool, rng: np.random.Generator) -> str:
    """The direct answer; when `wrong`, off by 1..3 in either direction (never negative)."""
    ans = p.answer
    if wrong:
        off = int(rng.integers(1, 4)) * (1 if rng.random() < 0.5 or ans <= 3 else -1)
        ans = ans + off
    return str(ans)


def demonstration(
    p: Problem, prior_mix: float, prose_error: float, rng: np.random.Generator
) -> tuple[str, bool]:
    """(completion, is_code) of one corpus demonstration of p."""
    if rng.random() < prior_mix:
        return code_completion(p), True
    return prose_completion(p, rng.random() < prose_error, rng), False


def parse_answer(completion: str) -> int | None:
    """The verifier: the integer after the code block (or the whole completion in prose
    mode); None when the completion is not well-formed. `completion` excludes the end token
    and is None-free; a completion cut off before the end token is passed as None upstream."""
    text = completion
    if text.startswith(CODE_MARK):
        if CODE_END not in text:
            return None
        text = text[text.index(CODE_END) + 1 :]
    if not text.isdigit() or len(text) > 6:
        return None
    return int(text)


def is_code_mode(completion: str) -> bool:
    return completion.startswith(CODE_MARK)
