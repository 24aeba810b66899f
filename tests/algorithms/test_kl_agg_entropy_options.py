"""Issue 17's KL, aggregation and entropy-bonus options on the reference engine: what
each option changes and what it must not (the parity suites check the engines agree)."""

from __future__ import annotations

import numpy as np
import pytest

from simrl.config import Config
from simrl.engine.batch import RunSpec, run_batch
from simrl.errors import ConfigError

SMALL = {
    "task.num_prompts": 6,
    "task.num_answers": 5,
    "algo.epochs": 2,
    "optim.lr": 2.0,
    "run.steps": 8,
}
SEQ = {"task.kind": "sequence", "run.steps": 6, "optim.lr": 2.0, "algo.epochs": 2}


def final_logits(over: dict) -> np.ndarray:
    cfg = Config.from_dict({}, over)
    return run_batch([RunSpec(cfg, 0)], engine="reference").logits[0]


@pytest.mark.parametrize("plus", ["k1+", "k3+"])
def test_straight_through_estimators_move_the_policy_as_k2(plus):
    """k1+ and k3+ have k2's gradient (verl kl_penalty's straight-through '+'), so the
    training trajectory is k2's, bitwise; k1 and k3 themselves are not."""
    kl = {**SMALL, "algo.kl_coef": 0.5}
    k2 = final_logits({**kl, "algo.kl_kind": "k2"})
    np.testing.assert_array_equal(final_logits({**kl, "algo.kl_kind": plus}), k2)
    assert not np.allclose(final_logits({**kl, "algo.kl_kind": plus[:2]}), k2)


def test_k3_ratio_differs_from_k3_even_on_policy():
    """TRL's ratio carries gradient: r k3 has derivative r x, k3 has 1 - e^-x, different
    from the first update on (the ratio is 1 there, its derivative is not 0)."""
    kl = {**SMALL, "algo.kl_coef": 0.5, "algo.epochs": 1}
    a = final_logits({**kl, "algo.kl_kind": "k3_ratio"})
    b = final_logits({**kl, "algo.kl_kind": "k3"})
    assert np.max(np.abs(a - b)) > 1e-3


def test_entropy_modes_agree_under_token_mean_and_differ_elsewhere():
    """TRL's bonus (the kept tokens' mean entropy) equals verl's (aggregated like the
    loss) under token-mean without the forking mask; not under token-sum."""
    ent = {**SMALL, "algo.entropy_coef": 0.2}
    for agg, same in (("token-mean", True), ("token-sum", False)):
        a = final_logits({**ent, "algo.agg": agg})
        b = final_logits({**ent, "algo.agg": agg, "algo.entropy_agg": "kept-token-mean"})
        assert np.allclose(a, b, rtol=0, atol=1e-12) == same, agg


def test_entropy_kept_token_mean_reads_the_forking_mask():
    """On a sequence task the forking mask changes TRL's bonus (its tokens), not verl's."""
    ent = {**SEQ, "algo.entropy_coef": 0.2, "algo.entropy_agg": "kept-token-mean"}
    a = final_logits({**ent, "algo.forking_top_quantile": 0.5})
    b = final_logits({**ent, "algo.forking_top_quantile": 0.5, "algo.entropy_agg": "loss"})
    assert np.max(np.abs(a - b)) > 1e-6


def test_loss_scale_factor_is_verls_constant():
    """seq-mean-token-sum-norm with loss_scale_factor = T is the default (0 = T), bitwise;
    another constant changes the run."""
    T = Config.from_dict({}, SEQ).max_len
    base = {**SEQ, "algo.agg": "seq-mean-token-sum-norm", "optim.kind": "sgd"}
    np.testing.assert_array_equal(
        final_logits(base), final_logits({**base, "algo.loss_scale_factor": float(T)})
    )
    assert not np.allclose(
        final_logits(base), final_logits({**base, "algo.loss_scale_factor": 1.0})
    )


def test_exact_with_variable_lengths_refuses_the_kept_token_mean():
    with pytest.raises(ConfigError, match=r"algo\.entropy_agg"):
        Config.from_dict(
            {},
            {
                **SEQ,
                "algo.exact": True,
                "task.end_prob": 0.3,
                "task.min_steps": 1,
                "algo.agg": "seq-mean-token-sum",
                "algo.entropy_coef": 0.1,
                "algo.entropy_agg": "kept-token-mean",
            },
        )
