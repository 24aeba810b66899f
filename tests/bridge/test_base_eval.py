"""The step-0 eval row shared between runs that differ only after it (simrl/bridge/run.py
base_eval): a run that reuses another's row gives the same numbers, bit for bit, as
computing it again, and the row is reused only where the key says nothing differs."""

from __future__ import annotations

import pandas as pd
import pytest

import simrl.bridge.run as bridge_run
from simrl.bridge import run_bridge
from simrl.bridge.task import BridgeTask, split_problems
from tests.bridge.test_end_to_end import tiny

TIMING = ["rollout_tokens_per_s", "update_tokens_per_s"]


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SIMRL_CACHE", str(tmp_path_factory.getbasetemp() / "simrl-cache"))
    bridge_run._BASE_EVALS.clear()


@pytest.fixture
def evals(monkeypatch):
    """Counts eval_metrics calls at step 0 (labels None)."""
    calls = []
    real = bridge_run.eval_metrics

    def counting(*args, **kw):
        calls.append(args[5] is None)  # labels: None only at step 0
        return real(*args, **kw)

    monkeypatch.setattr(bridge_run, "eval_metrics", counting)
    return calls


def test_a_shared_step0_row_equals_a_computed_one(evals):
    arm_a = tiny(**{"reward.kind": "random", "run.seeds": 2})
    arm_b = tiny(**{"reward.kind": "true", "algo.loss": "pg", "run.seeds": 2})
    run_bridge(arm_a)
    assert sum(evals) == 2  # one step-0 row per seed
    shared = run_bridge(arm_b)
    assert sum(evals) == 2  # arm b reused both
    bridge_run._BASE_EVALS.clear()
    computed = run_bridge(arm_b)
    assert sum(evals) == 4
    pd.testing.assert_frame_equal(
        shared.metrics.drop(columns=TIMING), computed.metrics.drop(columns=TIMING)
    )
    assert shared.samples.keys() == computed.samples.keys()
    for k in shared.samples:
        assert shared.samples[k] == computed.samples[k]


@pytest.mark.parametrize(
    "change",
    [{"bridge.eval_samples": 5}, {"run.seed": 1}, {"bridge.temperature": 0.7},
     {"run.passk": [1, 2]}],
)  # fmt: skip
def test_what_the_row_depends_on_is_not_shared(evals, change):
    run_bridge(tiny())
    run_bridge(tiny(**change))
    assert sum(evals) == 2


def test_a_user_task_never_shares(evals):
    cfg = tiny()
    b = cfg.bridge
    s = split_problems(b.max_operand, b.train_prompts, b.eval_prompts, b.task_seed)
    task = BridgeTask(tuple(s.train), tuple(s.heldout))
    run_bridge(cfg, task=task)
    run_bridge(cfg, task=task)
    assert sum(evals) == 2
