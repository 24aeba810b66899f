"""bridge.task: a built-in task by name (simrl/bridge/tasks.py). "" is the built-in split
(every shipped study's cells keep their keys); "arith2" is simrl/examples/bridge_arith.py's
two-operand split and verifier, so a prereg cell can name it; a bad name is one line,
exit 2."""

from __future__ import annotations

import pandas as pd
import pytest

from simrl.bridge import run_bridge
from simrl.bridge.config import BridgeRunConfig
from simrl.bridge.task import BridgeTask
from simrl.bridge.tasks import BUILTIN_TASKS, TaskFormat, builtin_task, with_task_verifier
from simrl.cli import main
from simrl.errors import ConfigError
from simrl.examples import bridge_arith
from simrl.examples_path import EXAMPLES
from simrl.prereg.identity import identity_toml
from tests.bridge.test_end_to_end import tiny


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SIMRL_CACHE", str(tmp_path_factory.getbasetemp() / "simrl-cache"))


ARITH = {"bridge.task": "arith2", "bridge.max_operand": 9, "bridge.train_prompts": 32,
         "bridge.eval_prompts": 32}  # fmt: skip


def test_the_default_is_the_builtin_split_and_leaves_the_identity_alone():
    cfg = tiny()
    assert cfg.bridge.task == "" and builtin_task(cfg) is None
    assert "task =" not in identity_toml(cfg)
    named = tiny(**{"bridge.task": "arith2"})
    assert 'task = "arith2"' in identity_toml(named)
    assert identity_toml(named) != identity_toml(cfg)  # a cell that names it is keyed apart


def test_arith2_is_bridge_arith_split():
    cfg = BridgeRunConfig.from_dict({}, ARITH)
    task = builtin_task(cfg)
    want = bridge_arith.build(cfg.replace(**{"bridge.task": ""}))
    assert task.train == want.train and task.heldout == want.heldout
    assert len(task.train) == 32 and len(task.heldout) == 32
    assert not set(task.train) & set(task.heldout)
    assert task.reward is None  # reward.kind rewards (random stays available)


@pytest.mark.parametrize(
    "text", ["7*4 = 28\n\nIn this", "7*4 = 27", "8*7 is 56.", "no idea", "28", "= 28 = 3"]
)
@pytest.mark.parametrize("finished", [True, False])
def test_arith2s_true_reward_is_bridge_arith_reward(text, finished):
    """reward.kind = "true" on the task's verifier gives bridge_arith.reward exactly, for a
    finished reply and for one cut off at max_new_tokens alike."""
    from simrl.bridge.rewards import BRIDGE_REWARDS
    from simrl.bridge.task import Problem

    p = Problem((7, 4), ("*",))
    fmt = with_task_verifier(object(), builtin_task(BridgeRunConfig.from_dict({}, ARITH)))
    assert isinstance(fmt, TaskFormat)
    answer = fmt.answer(text, finished)
    got = BRIDGE_REWARDS["true"].fn([answer], p.answer, 0, [0.0], 0.0, p=0.5, flip=0.0)
    assert float(got[0]) == bridge_arith.reward(p, text, None)


def test_the_wrapped_format_keeps_everything_but_the_verifier():
    class Fmt:
        eos_id = 5

        def answer(self, text, finished):
            return -1

        def mode(self, text):
            return 1

    wrapped = with_task_verifier(Fmt(), BridgeTask((), (), None, answer=lambda t, f: 42))
    assert wrapped.answer("x", False) == 42 and wrapped.mode("x") == 1 and wrapped.eos_id == 5
    plain = Fmt()
    assert with_task_verifier(plain, None) is plain
    assert with_task_verifier(plain, BridgeTask((), ())) is plain


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"bridge.task": "arith3"}, "bridge.task"),
        ({"bridge.task": "simrl/examples/bridge_arith.py:build"}, "bridge.task"),
        ({**ARITH, "bridge.max_operand": 4, "bridge.eval_prompts": 20, "bridge.train_prompts": 20},
         "32 two-operand problems"),
    ],
)  # fmt: skip
def test_bad_values_are_config_errors(overrides, says):
    with pytest.raises(ConfigError, match=says):
        BridgeRunConfig.from_dict({}, overrides)


def test_bad_value_on_the_command_line_is_one_line_exit_2(tmp_path, capsys):
    code = main(["bridge", "run", str(EXAMPLES / "bridge.toml"), "--set", "bridge.task=nope",
                 "--out", str(tmp_path / "o")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "bridge.task" in err and "arith2" in err, err
    assert not (tmp_path / "o").exists()


def test_a_user_task_and_bridge_task_together_are_refused(tmp_path, capsys):
    spec = str(EXAMPLES / "bridge_arith.py") + ":build"
    code = main(["bridge", "run", str(EXAMPLES / "bridge.toml"), "--set", "bridge.task=arith2",
                 "--set", "bridge.max_operand=9", "--task", spec, "--out", str(tmp_path / "o")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "bridge.task" in err, err
    cfg = tiny(**{"bridge.task": "arith2"})
    with pytest.raises(ConfigError, match="one task per run"):
        run_bridge(cfg, task=BridgeTask(*(lambda t: (t.train, t.heldout))(builtin_task(cfg))))


def test_naming_the_task_equals_passing_it():
    """bridge.task = "arith2" runs exactly what passing its BridgeTask does (names only:
    the config selects the same prompt sets and verifier), and differs from the built-in
    split's run."""
    cfg = tiny(**{"bridge.task": "arith2", "reward.kind": "true"})
    named = run_bridge(cfg)
    plain = cfg.replace(**{"bridge.task": ""})
    passed = run_bridge(plain, task=builtin_task(cfg))
    timing = ["rollout_tokens_per_s", "update_tokens_per_s"]
    pd.testing.assert_frame_equal(
        named.metrics.drop(columns=timing), passed.metrics.drop(columns=timing)
    )
    questions = {row["question"] for rows in named.samples.values() for row in rows}
    assert questions and all(q.count("+") + q.count("*") == 1 for q in questions)
    assert questions <= {p.text for p in builtin_task(cfg).train}


def test_the_registry_names_match_the_config_check():
    assert BUILTIN_TASKS == ("", "arith2")
