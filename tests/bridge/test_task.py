"""`simrl bridge run --task FILE.py:FUNCTION`: a user's prompt set and reward
(simrl/bridge/task.py BridgeTask). A user's reward equal to the true reward on the
built-in split reproduces the built-in run bit for bit; a constant reward never moves the
policy; bad task files are one line, exit 2."""

from __future__ import annotations

import pandas as pd
import pytest

from simrl.bridge import run_bridge
from simrl.bridge.task import BridgeTask, split_problems
from simrl.cli import main
from simrl.examples_path import EXAMPLES
from tests.bridge.test_end_to_end import tiny


def true_reward(problem, text, answer):
    return 1.0 if answer is not None and answer == problem.answer else 0.0


def builtin_split(cfg):
    b = cfg.bridge
    s = split_problems(b.max_operand, b.train_prompts, b.eval_prompts, b.task_seed)
    return tuple(s.train), tuple(s.heldout)


def test_a_user_true_reward_reproduces_the_builtin_run():
    cfg = tiny(**{"reward.kind": "true", "run.audit": True})
    want = run_bridge(cfg)
    got = run_bridge(cfg, task=BridgeTask(*builtin_split(cfg), true_reward))
    timing = ["rollout_tokens_per_s", "update_tokens_per_s"]
    pd.testing.assert_frame_equal(
        got.metrics.drop(columns=timing), want.metrics.drop(columns=timing)
    )
    pd.testing.assert_frame_equal(got.audit, want.audit)


def test_a_constant_reward_never_moves_the_policy():
    cfg = tiny()
    train, heldout = builtin_split(cfg)
    res = run_bridge(cfg, task=BridgeTask(train[:2], heldout[:1], lambda p, t, a: 1.0))
    assert (res.metrics["kl_base"] == 0).all()
    assert (res.metrics.loc[res.metrics["step"] > 0, "reward_mean"] == 1.0).all()


def test_prompts_per_step_beyond_the_prompt_set_is_refused():
    from simrl.errors import ConfigError

    cfg = tiny(**{"algo.prompts_per_step": 3})
    train, heldout = builtin_split(cfg)
    with pytest.raises(ConfigError, match="prompts_per_step"):
        run_bridge(cfg, task=BridgeTask(train[:2], heldout))


def write(tmp_path, body: str) -> str:
    f = tmp_path / "task.py"
    f.write_text("from simrl.bridge.task import BridgeTask, Problem\n" + body)
    return f"{f}:build"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("def build(cfg):\n    return 3\n", "must return a BridgeTask"),
        ("def build(cfg):\n    return BridgeTask((), (Problem((1, 2), ('+',)),))\n",
         "BridgeTask.train must be a non-empty list"),
        ("def build(cfg):\n    return BridgeTask((Problem((1, 2), ('-',)),), (Problem((1, 2), ('+',)),))\n",
         "ops in"),
        ("def build(cfg):\n    p = (Problem((1, 2), ('+',)),)\n    return BridgeTask(p, p, lambda *a: 1 / 0)\n",
         "reward(problem, text, answer) raised ZeroDivisionError"),
        ("def build(cfg):\n    p = (Problem((1, 2), ('+',)),)\n    return BridgeTask(p, p, lambda *a: float('nan'))\n",
         "finite"),
        ("raise ImportError('nope')\n", "must import cleanly"),
    ],
)  # fmt: skip
def test_bad_task_files_are_one_line(tmp_path, capsys, body, says):
    spec = write(tmp_path, body)
    code = main(["bridge", "run", str(EXAMPLES / "bridge.toml"), "--task", spec,
                 "--out", str(tmp_path / "o")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and says in err, err
    assert not (tmp_path / "o").exists()


def test_the_example_task_builds():
    import importlib.util

    spec = importlib.util.spec_from_file_location("ex", EXAMPLES / "bridge_task.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    cfg = tiny()
    task = mod.build(cfg)
    assert (
        len(task.train) == cfg.bridge.train_prompts and len(task.heldout) == cfg.bridge.eval_prompts
    )
    assert all(p.ops == ("*",) * len(p.ops) for p in (*task.train, *task.heldout))
    p = task.train[0]
    assert task.reward(p, "", p.answer) == 1.0 and task.reward(p, "", p.answer + 1) == 0.2
    assert task.reward(p, "", None) == 0.0
