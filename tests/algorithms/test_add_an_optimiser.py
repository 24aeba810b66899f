"""Adding an optimiser is one new file (as a policy loss is: test_add_a_loss.py).

The module below is a whole new optimiser: written to a file at test time, imported
(which registers it), and run through the numpy reference and the numba engine (bandit
and sequence tasks; the kernels were compiled before it existed and take it as a
first-class function) with parity to 1e-10. Nothing else in the repository names it.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from simrl.algorithms.optimiser import OPTIMIZERS, unregister
from simrl.config import Config
from simrl.engine.batch import RunSpec, run_batch
from tests.algorithms.plugin import engines_agree, plugin

TOY = "toy_soft_sign"
TOY_MODULE = textwrap.dedent(
    '''
    """toy_soft_sign: z <- z - lr g / (1 + |g|), a step of at most lr per entry (a test
    optimiser, no paper)."""

    import numpy as np

    from simrl.algorithms.optimiser import Optimiser, register


    def numpy_form(z, g, state, p):
        return z - p.lr * (g / (1.0 + np.abs(g))), state


    def numba_form(op, z, g, prob, m, v, t, rows, n_rows):
        lr = op[0]
        for i in range(n_rows):
            s = rows[i]
            for k in range(z.shape[1]):
                z[s, k] -= lr * (g[s, k] / (1.0 + abs(g[s, k])))
                g[s, k] = 0.0  # the contract: leave g zero


    register(
        Optimiser(
            name="toy_soft_sign",
            doc="z <- z - lr g / (1 + |g|)",
            source="a test optimiser",
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
        folder, "toy_soft_sign", TOY_MODULE, lambda: unregister(TOY)
    ):  # registers the optimiser
        yield TOY


BANDIT = {
    "task.num_prompts": 8,
    "task.num_answers": 5,
    "optim.kind": TOY,
    "optim.lr": 2.0,
    "algo.epochs": 2,
    "algo.kl_coef": 0.2,
    "algo.kl_kind": "exact_reverse",
    "run.steps": 20,
    "run.eval_every": 5,
}
SEQUENCE = {
    **BANDIT,
    "task.kind": "sequence",
    "task.num_answers": 4,
    "task.reasoning_tokens": 3,
    "algo.minibatches": 2,
}


@pytest.mark.parametrize("overrides", [BANDIT, SEQUENCE], ids=["bandit", "sequence"])
def test_toy_optimiser_numpy_and_numba_agree(toy, overrides):
    fast = engines_agree(overrides)
    assert toy in OPTIMIZERS
    assert (fast.logits != np.stack([t.base_logits for t in fast.tasks])).any()


def test_toy_optimiser_in_a_mixed_batch(toy):
    """A batch mixing the toy with a built-in optimiser: each run as if alone."""
    a = Config.from_dict({}, BANDIT)
    b = a.replace(**{"optim.kind": "adam", "optim.lr": 0.1})
    mixed = run_batch([RunSpec(a, 0), RunSpec(b, 0), RunSpec(a, 1)])
    alone = run_batch([RunSpec(a, 0), RunSpec(a, 1)])
    np.testing.assert_array_equal(mixed.logits[[0, 2]], alone.logits)
    np.testing.assert_array_equal(mixed.metrics[[0, 2]], alone.metrics)


def test_an_optimiser_registered_late_cannot_declare_config_fields():
    from simrl.algorithms.optimiser import Optimiser, register
    from simrl.validate import Range, param

    late = Optimiser(
        name="late",
        doc="",
        source="",
        numpy=None,
        numba=None,
        fields={"late_decay": (float, param(1.0, "a late field", Range()))},
    )
    with pytest.raises(ValueError, match="built-in module"):
        register(late)
