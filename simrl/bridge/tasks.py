"""Built-in bridge tasks by name: what `bridge.task` may say (names only; a config never
names code to run).

    ""        the built-in split of simrl/bridge/task.py: two- and three-operand problems,
              bridge.eval_prompts held out, the next bridge.train_prompts trained on; the
              model's format verifies (simrl/bridge/formats.py); reward.kind rewards
    "arith2"  simrl/examples/bridge_arith.py's two-operand split (every a+b and a*b with
              a, b in 1..bridge.max_operand, shuffled by bridge.task_seed: the first
              eval_prompts held out, the next train_prompts trained on), verified by that
              file's `verify` (the first integer after the first '=', else the last integer;
              a reply cut off at max_new_tokens is read too): the acc metrics, mass_format
              and the built-in rewards (reward.kind) all read that answer, so reward.kind =
              "true" gives bridge_arith's `reward` exactly and "random" stays available
              (`--task bridge_arith.py:build` replaces reward.kind by the file's reward)

A task with a verifier of its own (BridgeTask.answer) replaces the model's format's
verifier through `TaskFormat`. With the built-in tiny model (bridge.model = ""), "arith2"'s
held-out problems may lie in the tiny model's pretraining pool (the built-in split's);
the task is meant for an independently pretrained LLM (bridge.model = "smollm2").
"""

from __future__ import annotations

from typing import Any

from simrl.bridge.task import BridgeTask

#: the names bridge.task accepts ("" = the built-in split)
BUILTIN_TASKS = ("", "arith2")


def two_operand_count(max_operand: int) -> int:
    """How many problems "arith2" has at this max_operand (a+b and a*b)."""
    return 2 * max_operand * max_operand


def _arith2(cfg) -> BridgeTask:
    from simrl.examples import bridge_arith

    b = cfg.bridge
    shuffled = bridge_arith.problems(b.max_operand, b.task_seed)
    heldout = shuffled[: b.eval_prompts]
    train = shuffled[b.eval_prompts : b.eval_prompts + b.train_prompts]
    return BridgeTask(tuple(train), tuple(heldout), None, answer=_arith2_answer)


def _arith2_answer(text: str, finished: bool) -> int | None:
    from simrl.examples import bridge_arith

    return bridge_arith.verify(text)


_BUILDERS = {"arith2": _arith2}


def check_one_task(cfg, given: bool, name: str = "--task") -> None:
    """One task per run: a user's task (`--task`) and bridge.task cannot both be set."""
    if given and cfg.bridge.task:
        from simrl.errors import ConfigError

        raise ConfigError(
            name,
            "given",
            f"cannot be combined with bridge.task = {cfg.bridge.task!r} (one task per run: "
            "leave bridge.task at '' to use a user's task)",
        )


def builtin_task(cfg) -> BridgeTask | None:
    """The BridgeTask that cfg.bridge.task names, or None for "" (the built-in split)."""
    name = cfg.bridge.task
    return _BUILDERS[name](cfg) if name else None


class TaskFormat:
    """A model's format whose verifier is a task's (BridgeTask.answer): everything else
    (prompts, decoding, modes, token ids) is the wrapped format's."""

    def __init__(self, fmt: Any, answer):
        self._fmt, self._answer = fmt, answer

    def answer(self, text: str, finished: bool) -> int | None:
        return self._answer(text, finished)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fmt, name)


def with_task_verifier(fmt: Any, task: BridgeTask | None) -> Any:
    """fmt, or fmt with the task's verifier when the task has one."""
    answer = getattr(task, "answer", None)
    return fmt if answer is None else TaskFormat(fmt, answer)
