"""The audit measures what it says: where an approximation is exact by construction, the
engine's number equals the first-order term of the actual update."""

import numpy as np
import pandas as pd
import pytest

from simrl import Config, ConfigError, simulate

BASE = {
    "task": {"num_prompts": 6, "num_answers": 5, "prior_strength": 0.3},
    "algo": {"group_size": 4, "loss": "pg", "epochs": 1, "minibatches": 1},
    "optim": {"kind": "sgd", "lr": 0.5},
    "run": {"steps": 15, "seeds": 3, "passk": [1], "audit": True},
}


def _cols(res, *names):
    m = res.metrics[res.metrics.step > 0]
    return [m[n].to_numpy() for n in names]


@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_token_sum_is_the_first_order_term_of_a_single_sgd_update(engine):
    """One epoch, one minibatch, sgd: the step is the sum of the tokens' own steps."""
    token, first = _cols(
        simulate(Config.from_dict(BASE), engine=engine), "dH_token_sum", "dH_first_order"
    )
    np.testing.assert_allclose(token, first, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_theorem1_is_the_first_order_term_of_the_exact_pg_step(engine):
    """Exact mode, pg loss, one sgd update: dz = eta pi A exactly (Cui et al. Theorem 1)."""
    res = simulate(Config.from_dict(BASE, {"algo.exact": True}), engine=engine)
    cui, first = _cols(res, "dH_cui_t1", "dH_first_order")
    np.testing.assert_allclose(cui, first, rtol=1e-9, atol=1e-15)


def test_second_order_is_closer_than_first_order():
    res = simulate(
        Config.from_dict(BASE, {"optim.lr": 2.0, "algo.epochs": 2, "algo.loss": "vanilla"})
    )
    exact, first, second = _cols(res, "dH_exact", "dH_first_order", "dH_second_order")
    # steps where nothing moved (all groups zero-variance) are NaN: skip them
    assert np.nanmedian(np.abs(second - exact)) < 0.2 * np.nanmedian(np.abs(first - exact))


def test_audit_off_leaves_audit_columns_nan_and_trajectory_unchanged():
    on = simulate(Config.from_dict(BASE))
    off = simulate(Config.from_dict(BASE, {"run.audit": False}))
    assert off.metrics["dH_cui_t1"].isna().all()
    np.testing.assert_array_equal(on.logits, off.logits)
    np.testing.assert_array_equal(on.metrics["acc"], off.metrics["acc"])


def test_theorem1_is_undefined_for_self_consistency():
    res = simulate(Config.from_dict(BASE, {"reward.kind": "self_consistency"}))
    assert res.metrics["dH_cui_t1"].isna().all()
    assert res.metrics.loc[res.metrics.step > 0, "dH_token_sum"].notna().any()


def test_per_prompt_audit_matches_between_engines_and_averages_to_the_step_metrics():
    cfg = Config.from_dict(
        BASE, {"algo.prompts_per_step": 3, "algo.epochs": 2, "algo.loss": "vanilla"}
    )
    ref = simulate(cfg, engine="reference", audit_prompts=True)
    fast = simulate(cfg, audit_prompts=True)
    pd.testing.assert_frame_equal(
        ref.audit_prompts, fast.audit_prompts, check_exact=False, atol=1e-12, rtol=0
    )
    per_step = fast.audit_prompts.groupby(["seed", "step"])[
        ["dH_exact", "dH_cui_t1", "dH_steer_code"]
    ].mean()
    steps = fast.metrics.set_index(["seed", "step"]).loc[per_step.index]
    for col in per_step:
        np.testing.assert_allclose(per_step[col], steps[col], rtol=1e-12, atol=1e-15)
    assert fast.audit_prompts["prompt"].nunique() > 1


def test_per_prompt_audit_needs_the_audit_on():
    with pytest.raises(ConfigError, match=r"run\.audit"):
        simulate(Config.from_dict(BASE, {"run.audit": False}), audit_prompts=True)
