"""Behaviour of token-level GRPO on the sequence task, each contrast with its statistics.

Run with -s to see the numbers the closing notes quote:
    pytest -s tests/engine/test_sequence_behaviour.py

The spurious-reward mechanism (Shao et al. 2025, Spurious Rewards, arXiv 2506.10947):
random rewards, clipped multi-epoch updates, a shared mode state and a strong prior
(the base policy's most likely mode is the accurate one) raise expected accuracy; the
unclipped pg loss, or a weak prior (the most likely mode is the inaccurate one), do not.
The clipping bias of theory/NOTES.md ("Clipping bias") moves mass to the base policy's
most likely mode; the shared mode row sums 64 tokens per step, so that bias dominates
the random walk of the logits, whose curvature otherwise pulls accuracy toward the
mean over modes.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from simrl import Config
from simrl.engine.batch import RunSpec, run_batch

SPURIOUS = {
    "task": {
        "kind": "sequence",
        "num_prompts": 8,
        "num_answers": 4,
        "reasoning_tokens": 2,
        "vocab": 4,
    },
    "reward": {"kind": "random"},
    "algo": {"group_size": 8, "epochs": 4, "loss": "vanilla"},
    "optim": {"kind": "sgd", "lr": 30.0},
    "run": {"steps": 50, "seeds": 1, "eval_every": 50},
}
SEEDS = 256


def final_minus_base(over: dict, metric: str = "acc", seeds: int = SEEDS) -> np.ndarray:
    """(seeds,) final minus base value of `metric` over replicates of one config."""
    cfg = Config.from_dict(SPURIOUS, over)
    res = run_batch([RunSpec(cfg, i) for i in range(seeds)])
    col = res.names.index(metric)
    assert (res.failed_step < 0).all()
    return res.metrics[:, -1, col] - res.metrics[:, 0, col]


def describe(name: str, d: np.ndarray) -> str:
    se = d.std(ddof=1) / np.sqrt(d.size)
    return f"{name}: {d.mean():+.4f} +- {se:.4f} (SE, n = {d.size})"


@pytest.fixture(scope="module")
def spurious():
    cells = {
        "strong clipped": {"task.prior_strength": 0.8},
        "strong pg": {"task.prior_strength": 0.8, "algo.loss": "pg"},
        "weak clipped": {"task.prior_strength": 0.2},
        "strong clipped, per-prompt mode states": {
            "task.prior_strength": 0.8,
            "task.share_mode_state": False,
        },
    }
    out = {name: final_minus_base(over) for name, over in cells.items()}
    for name, d in out.items():
        print("\n  d acc, " + describe(name, d))
    return out


def test_random_rewards_with_clipping_raise_accuracy_at_a_strong_prior(spurious):
    d = spurious["strong clipped"]
    assert stats.ttest_1samp(d, 0.0, alternative="greater").pvalue < 1e-4


def test_without_clipping_random_rewards_do_not_gain(spurious):
    d = spurious["strong pg"]
    assert stats.ttest_1samp(d, 0.0, alternative="less").pvalue < 1e-4
    test = stats.ttest_ind(spurious["strong clipped"], d, equal_var=False, alternative="greater")
    assert test.pvalue < 1e-6


def test_a_weak_prior_does_not_gain(spurious):
    d = spurious["weak clipped"]
    assert stats.ttest_1samp(d, 0.0, alternative="less").pvalue < 1e-4


def test_per_prompt_mode_states_lose_the_gain(spurious):
    """Finding: with one mode row per prompt, clipped random-reward updates no longer raise
    accuracy at the strong prior (each row sees 8 tokens per step, not 64)."""
    d = spurious["strong clipped, per-prompt mode states"]
    assert stats.ttest_1samp(d, 0.0, alternative="less").pvalue < 1e-4
    test = stats.ttest_ind(spurious["strong clipped"], d, equal_var=False, alternative="greater")
    assert test.pvalue < 1e-6
