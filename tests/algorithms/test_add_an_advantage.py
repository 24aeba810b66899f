"""Adding an advantage estimator is one new file (as a policy loss is: test_add_a_loss.py).

The module below is a whole new estimator: written to a file at test time, imported
(which registers it), run through the numpy reference and the numba engine (bandit and
sequence tasks; the kernels were compiled before it existed) with parity to 1e-10.
Also here: grpo with std_eps = 0 on zero-variance groups, in both engines.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from simrl.algorithms.advantage import unregister
from simrl.config import Config
from simrl.engine.batch import RunSpec, run_batch
from tests.algorithms.plugin import engines_agree, plugin

TOY = "toy_max_baseline"
TOY_MODULE = textwrap.dedent(
    '''
    """toy_max_baseline: r - max_group r (a test estimator, no paper)."""

    from simrl.algorithms.advantage import AdvantageEstimator, register


    def numpy_form(rewards, p):
        return rewards - rewards.max(axis=1, keepdims=True)


    def numba_form(ap, rew, adv, n_groups, G, lens, greedy):
        for j in range(n_groups):
            top = rew[j, 0]
            for i in range(1, G):
                top = max(top, rew[j, i])
            for i in range(G):
                adv[j, i] = rew[j, i] - top


    register(
        AdvantageEstimator(
            name="toy_max_baseline",
            doc="r - max_group r",
            source="a test estimator",
            numpy=numpy_form,
            numba=numba_form,
        )
    )
    '''
)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plugin")
    with plugin(
        folder, "toy_max_baseline", TOY_MODULE, lambda: unregister(TOY)
    ):  # registers the estimator
        yield TOY


BANDIT = {
    "task.num_prompts": 8,
    "task.num_answers": 5,
    "algo.advantage": TOY,
    "algo.epochs": 2,
    "optim.lr": 1.0,
    "run.steps": 20,
    "run.eval_every": 5,
}
SEQUENCE = {**BANDIT, "task.kind": "sequence", "task.num_answers": 4, "task.reasoning_tokens": 3}


@pytest.mark.parametrize("overrides", [BANDIT, SEQUENCE], ids=["bandit", "sequence"])
def test_toy_advantage_numpy_and_numba_agree(toy, overrides):
    fast = engines_agree(overrides)
    assert (fast.logits != np.stack([t.base_logits for t in fast.tasks])).any()


def test_grpo_with_std_eps_0_runs_in_both_engines():
    """Zero-variance groups (random rewards, G = 2) with std_eps = 0: advantage 0, no NaN
    and no ZeroDivisionError, the same in both engines."""
    cfg = Config.from_dict(
        {}, {**BANDIT, "algo.advantage": "grpo", "algo.std_eps": 0.0, "algo.group_size": 2,
             "reward.kind": "random"},
    )  # fmt: skip
    specs = [RunSpec(cfg, r) for r in range(3)]
    fast = run_batch(specs, engine="fast")
    reference = run_batch(specs, engine="reference")
    assert (fast.failed_step == -1).all() and np.isfinite(fast.logits).all()
    np.testing.assert_allclose(fast.logits, reference.logits, rtol=0, atol=1e-10)
    col = fast.names.index("zero_var_frac")
    assert np.nanmax(fast.metrics[:, 1:, col]) > 0, "no zero-variance group: tests nothing"
