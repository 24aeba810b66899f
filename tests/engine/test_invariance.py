"""A run's trajectory depends only on its config and replicate index."""

import numpy as np
import pytest

from simrl import Config, ConfigError
from simrl.engine import fast
from simrl.engine.batch import RunSpec, run_batch

SMALL = {
    "task": {"num_prompts": 8, "num_answers": 6, "format_mass": 0.1},
    "algo": {"group_size": 4, "epochs": 2},
    "run": {"steps": 40, "seeds": 1, "passk": [1, 4]},
}


def _others(n: int) -> list[RunSpec]:
    """n runs with other configs and seeds (same shapes), to surround the run under test."""
    rng = np.random.default_rng(123)
    losses = ["vanilla", "pg", "clip_cov", "kl_cov", "steer"]
    rewards = ["true", "random", "format", "self_consistency", "noisy"]
    specs = []
    for i in range(n):
        cfg = Config.from_dict(
            SMALL,
            {
                "algo.loss": losses[i % 5],
                "reward.kind": rewards[(i // 5) % 5],
                "optim.kind": ["sgd", "adam", "npg"][i % 3],
                "optim.lr": float(rng.choice([0.05, 0.3, 1.0])),
                "algo.prompts_per_step": int(rng.integers(2, 9)),
                "run.seed": int(rng.integers(0, 5)),
                "task.prior_strength": float(rng.choice([0.2, 0.5])),
            },
        )
        specs.append(RunSpec(cfg, int(rng.integers(0, 50))))
    return specs


@pytest.mark.parametrize(
    "overrides",
    [{}, {"algo.loss": "clip_cov", "reward.kind": "random", "optim.kind": "adam", "optim.lr": 0.1}],
)
def test_run_alone_equals_run_in_batch_of_100(overrides):
    spec = RunSpec(Config.from_dict(SMALL, overrides), replicate=7)
    alone = run_batch([spec])
    others = _others(100)
    batch = run_batch([*others[:37], spec, *others[37:]])
    np.testing.assert_array_equal(alone.metrics[0], batch.metrics[37])
    np.testing.assert_array_equal(alone.logits[0], batch.logits[37])


def test_reference_alone_equals_reference_in_batch():
    spec = RunSpec(Config.from_dict(SMALL, {"reward.kind": "noisy"}), replicate=3)
    alone = run_batch([spec], engine="reference")
    batch = run_batch([*_others(3), spec], engine="reference")
    np.testing.assert_array_equal(alone.metrics[0], batch.metrics[3])
    np.testing.assert_array_equal(alone.logits[0], batch.logits[3])


def test_blocks_and_chunks_of_steps_do_not_change_results(monkeypatch):
    specs = [
        RunSpec(Config.from_dict(SMALL, {"algo.loss": "clip_cov", "optim.kind": "adam"}), i)
        for i in range(5)
    ]
    whole = run_batch(specs)
    monkeypatch.setattr(fast, "BLOCK_RUN_STEPS", 3)  # blocks of one run per thread, 3 steps a call
    chunked = run_batch(specs)
    np.testing.assert_array_equal(whole.metrics, chunked.metrics)
    np.testing.assert_array_equal(whole.logits, chunked.logits)


def test_rerun_is_bitwise_identical():
    cfg = Config.from_dict(SMALL, {"reward.kind": "self_consistency", "run.seeds": 5})
    specs = [RunSpec(cfg, i) for i in range(5)]
    a, b = run_batch(specs), run_batch(specs)
    np.testing.assert_array_equal(a.metrics, b.metrics)
    np.testing.assert_array_equal(a.logits, b.logits)


def test_replicates_differ():
    cfg = Config.from_dict(SMALL, {"run.seeds": 2})
    res = run_batch([RunSpec(cfg, 0), RunSpec(cfg, 1)])
    assert not np.array_equal(res.logits[0], res.logits[1])


def test_runs_of_different_shapes_are_refused_before_any_work():
    a = RunSpec(Config.from_dict(SMALL))
    b = RunSpec(Config.from_dict(SMALL, {"task.num_answers": 7}))
    with pytest.raises(ConfigError, match=r"task\.num_answers"):
        run_batch([a, b])
    with pytest.raises(ConfigError, match="engine"):
        run_batch([a], engine="gpu")
