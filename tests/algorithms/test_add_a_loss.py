"""Adding a policy loss is one new file.

The module below is the whole of a new loss (citation, doc, flags, numpy, numba and torch
forms). It is written to a file at test time, imported (which registers it), and run
through the numpy reference, the numba engine (bandit and sequence tasks: the kernels
were compiled before the loss existed and take it as a function) and the torch bridge,
with parity to 1e-10. Nothing else in the repository names it.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from simrl.algorithms.policy_loss import POLICY_LOSSES, unregister
from simrl.config import Config
from simrl.engine.batch import RunSpec, run_batch
from tests.algorithms.plugin import engines_agree, plugin

TOY = "toy_capped_pg"
TOY_MODULE = textwrap.dedent(
    '''
    """toy_capped_pg: -A min(r, 1 + clip_high): the importance-weighted surrogate with the
    ratio capped from above whatever the sign of A (a test loss, no paper)."""

    import numpy as np

    from simrl.algorithms.policy_loss import PolicyLoss, register
    from simrl.algorithms.tokens import TF_ADV, TF_DLOGP, TF_RATIO, LossOut, TorchLossOut

    PARAMS = ("clip_high",)
    CLIP_HIGH = 0


    def numpy_form(b, p):
        ratio = np.exp(b.logp - b.logp_old)
        capped = ratio > 1.0 + p.clip_high
        none = np.zeros(ratio.shape, dtype=bool)
        loss = -b.adv * np.minimum(ratio, 1.0 + p.clip_high)
        return LossOut(loss, np.where(capped, 0.0, -b.adv * ratio), none, capped, none, none)


    def numba_form(lp, tf, ti, b0, N, flags, first):
        cap = 1.0 + lp[CLIP_HIGH]
        for t in range(b0, b0 + N):
            r = tf[TF_RATIO, t]
            flags[t, 1] = r > cap
            tf[TF_DLOGP, t] = 0.0 if r > cap else -tf[TF_ADV, t] * r


    def torch_form(b, p):
        import torch

        ratio = torch.exp(b.logp - b.logp_old)
        capped = ratio > 1.0 + p.clip_high
        none = torch.zeros_like(capped)
        loss = -b.adv * torch.clamp(ratio, max=1.0 + p.clip_high)
        return TorchLossOut(loss, none, capped, none, none)


    register(
        PolicyLoss(
            name="toy_capped_pg",
            doc="-A min(r, 1 + clip_high)",
            source="a test loss",
            numpy=numpy_form,
            numba=numba_form,
            torch=torch_form,
            params=PARAMS,
            exact=True,
        )
    )
    '''
)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plugin")
    with plugin(folder, "toy_capped_pg", TOY_MODULE, lambda: unregister(TOY)):  # registers the loss
        yield TOY


BANDIT = {
    "task.num_prompts": 8,
    "task.num_answers": 5,
    "algo.loss": TOY,
    "algo.epochs": 3,
    "algo.clip_high": 0.1,
    "optim.lr": 2.0,
    "run.steps": 20,
    "run.eval_every": 5,
}
SEQUENCE = {
    **BANDIT,
    "task.kind": "sequence",
    "task.num_answers": 4,
    "task.reasoning_tokens": 3,
    "algo.minibatches": 2,
    "optim.lr": 1.0,
}


@pytest.mark.parametrize("overrides", [BANDIT, SEQUENCE], ids=["bandit", "sequence"])
def test_toy_loss_numpy_and_numba_agree(toy, overrides):
    fast = engines_agree(overrides)
    assert toy in POLICY_LOSSES
    moved = fast.logits != np.stack([t.base_logits for t in fast.tasks])
    assert moved.any(), "the loss moved nothing: the test tests nothing"
    col = fast.names.index("clip_high_frac")
    assert np.nanmax(fast.metrics[:, 1:, col]) > 0, "the cap never bound"


def test_toy_loss_in_a_mixed_batch(toy):
    """A batch mixing the toy with a built-in loss: each run as if alone."""
    a = Config.from_dict({}, BANDIT)
    b = a.replace(**{"algo.loss": "vanilla"})
    mixed = run_batch([RunSpec(a, 0), RunSpec(b, 0), RunSpec(a, 1)])
    alone = run_batch([RunSpec(a, 0), RunSpec(a, 1)])
    np.testing.assert_array_equal(mixed.logits[[0, 2]], alone.logits)
    np.testing.assert_array_equal(mixed.metrics[[0, 2]], alone.metrics)


def test_toy_loss_in_the_bridge(toy):
    torch = pytest.importorskip("torch")  # noqa: F841
    from tests.bridge.test_parity import compare_with_tabular

    compare_with_tabular({"algo.loss": TOY, "algo.clip_high": 0.1, "optim.lr": 6.0})


def test_a_loss_registered_late_cannot_declare_config_fields():
    from simrl.algorithms.policy_loss import PolicyLoss, register
    from simrl.validate import Range, param

    late = PolicyLoss(
        name="late",
        doc="",
        source="",
        numpy=None,
        numba=None,
        torch=None,
        fields={"late_coef": (float, param(1.0, "a late field", Range()))},
    )
    with pytest.raises(ValueError, match="built-in module"):
        register(late)
    assert "late" not in POLICY_LOSSES
