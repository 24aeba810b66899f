"""simrl/examples/bridge_arith.py: the two-operand task SmolLM2 partly solves, and its
exact verifier."""

import pytest

from simrl.bridge.config import BridgeRunConfig
from simrl.bridge.task import BridgeTask, Problem
from simrl.cli import call_task_function
from simrl.examples_path import EXAMPLES

SPEC = str(EXAMPLES / "bridge_arith.py") + ":build"


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("7*4 = 28\n\nIn this math problem, we're asked to find 3", 28),  # after the first '='
        ("8 + 6 = 14", 14),
        ("8*7 is equal to 56.", 56),  # no '=': the last integer
        ("Five and three", None),
        ("2 + 8 = 14", 14),  # read exactly, right or wrong
        ("x = -3", -3),
    ],
)
def test_the_verifier_reads_the_stated_answer(text, want):
    from simrl.examples import bridge_arith

    assert bridge_arith.verify(text) == want


def test_reward_is_exact():
    from simrl.examples import bridge_arith

    p = Problem((7, 4), ("*",))
    assert bridge_arith.reward(p, "7*4 = 28 and more", None) == 1.0
    assert bridge_arith.reward(p, "7*4 = 27", 27) == 0.0
    assert bridge_arith.reward(p, "no idea", None) == 0.0


def test_build_splits_two_operand_problems_without_overlap():
    cfg = BridgeRunConfig.from_dict({"bridge": {"max_operand": 9, "train_prompts": 32,
                                                "eval_prompts": 32}})  # fmt: skip
    task = call_task_function(SPEC, cfg, BridgeTask)
    assert len(task.train) == 32 and len(task.heldout) == 32
    assert not set(task.train) & set(task.heldout)
    assert all(len(p.operands) == 2 and max(p.operands) <= 9 for p in task.train + task.heldout)
    again = call_task_function(SPEC, cfg, BridgeTask)
    assert again.train == task.train  # fixed by task_seed


def test_too_many_prompts_is_one_line_error():
    from simrl.errors import ConfigError

    cfg = BridgeRunConfig.from_dict({"bridge": {"max_operand": 2, "train_prompts": 8,
                                                "eval_prompts": 4}})  # fmt: skip
    with pytest.raises(ConfigError, match="two-operand problems"):
        call_task_function(SPEC, cfg, BridgeTask)
