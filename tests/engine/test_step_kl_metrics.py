"""The step KL metrics (metrics.STEP_KL_METRICS) on the reference engine, against their
definitions computed here from the logits (the parity suites hold the numba engine to
the reference)."""

from __future__ import annotations

import numpy as np
import pytest
from simrl.theory import log_softmax

from simrl.config import Config
from simrl.engine import reference as ref
from simrl.engine.batch import RunSpec, run_batch
from simrl.engine.streams import fill_block, run_generator, stream_layout


def one_step(over: dict):
    cfg = Config.from_dict({}, {"run.steps": 1, **over})
    r = run_batch([RunSpec(cfg, 3)], engine="reference")
    return r, r.tasks[0].base_logits, r.logits[0]


@pytest.mark.parametrize("kind", ["bandit", "sequence"])
def test_kl_step_exact_is_the_mean_kl_of_the_moved_states(kind):
    r, z0, z1 = one_step({"task.kind": kind, "algo.epochs": 2})
    moved = np.any(z1 != z0, axis=1)
    lo, ln = log_softmax(z0[moved]), log_softmax(z1[moved])
    want = (np.exp(lo) * (lo - ln)).sum(axis=1).mean()
    got = r.metrics[0, 1, r.names.index("kl_step_exact")]
    assert moved.any() and want > 0
    assert got == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("kind", ["bandit", "sequence"])
def test_ppo_kl_is_zero_for_one_update_and_not_after(kind):
    """verl's ppo_kl: -log r at the policy before each update, so 0 on a step of one
    update (on-policy), nonzero once later epochs see the moved policy."""
    col = "ppo_kl"
    r, _, _ = one_step({"task.kind": kind, "algo.epochs": 1})
    assert r.metrics[0, 1, r.names.index(col)] == 0.0
    r, _, _ = one_step({"task.kind": kind, "algo.epochs": 3, "optim.lr": 2.0})
    assert abs(r.metrics[0, 1, r.names.index(col)]) > 1e-6


def test_ppo_kl_of_a_bandit_step_by_hand():
    """Two epochs, one minibatch: the mean of epoch 1's 0 and epoch 2's count-weighted
    mean of log pi_old - log pi_1 over the batch's entries, pi_1 the policy after epoch 1
    (one sgd step: the run with epochs = 1)."""
    over = {"algo.epochs": 2, "optim.kind": "sgd"}
    r2, z0, _ = one_step(over)
    _, _, z_after_one = one_step({**over, "algo.epochs": 1})
    # the sampled batch is the same for both runs (same seed, same stream layout)
    cfg = Config.from_dict({}, {"run.steps": 1, **over})
    params = ref.RunParams(cfg, r2.tasks[0], stream_layout(cfg))
    u = np.empty((1, params.layout.total))
    fill_block(run_generator(cfg, 3), u)
    lo = log_softmax(z0)
    batch = ref.sampled_batch(params, np.exp(lo), u[0])
    n = batch.answers.shape[1]
    s_t, a_t = np.repeat(batch.prompt, n), batch.answers.ravel()
    c = batch.count.ravel()
    l1 = log_softmax(z_after_one)
    want = 0.5 * (0.0 + (c * (lo[s_t, a_t] - l1[s_t, a_t])).sum() / c.sum())
    assert r2.metrics[0, 1, r2.names.index("ppo_kl")] == pytest.approx(want, rel=1e-12)
