"""The advantage estimators of issue 17: their refusals (one line, before any work) and
identities between them that a wrong form would break. Engine parity is in
tests/engine/ (numba vs numpy), tests/bridge/test_parity.py (torch) and the libraries'
own functions in tests/parity/test_verl_advantages.py."""

from __future__ import annotations

import numpy as np
import pytest

from simrl.algorithms.advantage import compute
from simrl.config import AlgoConfig, Config
from simrl.errors import ConfigError


def algo(**kw) -> AlgoConfig:
    return AlgoConfig(**kw)


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"algo.advantage": "remax", "reward.kind": "random"}, "reward.kind"),
        ({"algo.advantage": "remax", "reward.kind": "noisy"}, "reward.kind"),
        ({"algo.advantage": "remax", "reward.kind": "self_consistency"}, "reward.kind"),
        ({"algo.advantage": "passk", "algo.group_size": 4, "algo.passk_k": 4}, "algo.passk_k"),
        ({"algo.advantage": "grpo_passk", "algo.group_size": 1}, "algo.group_size"),
        ({"algo.exact": True, "algo.entropy_adv_alpha": 0.4}, "algo.entropy_adv_alpha"),
        (
            {"algo.advantage": "reinforce_pp", "algo.group_size": 1, "algo.prompts_per_step": 1},
            "algo.group_size",
        ),
    ],
)
def test_bad_combinations_are_refused_in_one_line(overrides, field):
    with pytest.raises(ConfigError) as err:
        Config.from_dict({"task": {"num_prompts": 4, "num_answers": 3}}, overrides)
    assert str(err.value).startswith(field) and "\n" not in str(err.value)


def test_remax_runs_with_the_deterministic_rewards():
    for kind in ("true", "format", "incorrect"):
        Config.from_dict(
            {"task": {"format_mass": 0.1}}, {"algo.advantage": "remax", "reward.kind": kind}
        )


def rewards(n=6, G=5, seed=0, binary=True):
    rng = np.random.default_rng(seed)
    if binary:
        return (rng.random((n, G)) < 0.5).astype(float)
    return rng.normal(size=(n, G))


def test_opo_is_dr_grpo_at_length_one_and_weights_by_length():
    r = rewards(binary=False)
    a = algo(advantage="opo")
    np.testing.assert_allclose(compute("opo", r, a), compute("dr_grpo", r, a), atol=1e-15)
    lengths = np.ones_like(r)
    lengths[:, 0] = 3.0
    adv = compute("opo", r, a, lengths)
    base = (r[:, 0] * 3 + r[:, 1:].sum(axis=1)) / (r.shape[1] + 2)
    np.testing.assert_allclose(adv, r - base[:, None], atol=1e-14)


def test_passk_with_k1_is_grpo_with_the_population_std():
    r = rewards(n=40, G=6, seed=1)
    got = compute("passk", r, algo(advantage="passk", group_size=6, passk_k=1))
    want = compute("grpo", r, algo(advantage="grpo", std_ddof=0, std_eps=1e-6))
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_grpo_passk_rewards_only_a_unique_best_response():
    r = np.array([[0.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [0.2, 0.5, 0.9, 0.1]])
    adv = compute("grpo_passk", r, algo(advantage="grpo_passk", group_size=4))
    assert np.count_nonzero(adv[0]) == 1 and adv[0, 1] > 0
    assert not adv[1].any()  # the maximum is shared: r_max - r_2nd = 0
    assert adv[2, 2] > 0 and np.count_nonzero(adv[2]) == 1
    np.testing.assert_allclose(adv[2, 2], 0.4 / (np.std(r[2], ddof=1) + 1e-6))


def test_psr_nsr_and_w_reinforce_split_the_reinforce_signal():
    r = np.array([[1.0, 0.0, 0.75, -0.5]])
    a = algo(advantage="w_reinforce", w_reinforce_lambda=0.1)
    np.testing.assert_array_equal(compute("psr", r, a), r)
    np.testing.assert_array_equal(compute("nsr", r, a), r - 1)
    np.testing.assert_allclose(compute("w_reinforce", r, a), [[0.1, -1.0, 0.75, -0.5]])


def test_gpg_scales_dr_grpo_by_the_share_of_nonzero_rewards():
    r = rewards(seed=3)
    a = algo(advantage="gpg")
    alpha = r.size / np.count_nonzero(r)
    np.testing.assert_allclose(compute("gpg", r, a), alpha * compute("dr_grpo", r, a), atol=1e-14)
    zero = np.zeros((2, 4))
    assert not compute("gpg", zero, a).any()


def test_grpo_batch_uses_one_std_for_the_batch():
    r = rewards(binary=False, seed=4)
    a = algo(advantage="grpo_batch", std_eps=0.0)
    adv = compute("grpo_batch", r, a)
    np.testing.assert_allclose(adv * r.std(ddof=1), r - r.mean(axis=1, keepdims=True), atol=1e-12)
    assert not compute("grpo_batch", np.ones((3, 4)), a).any()  # std + eps = 0: advantage 0


def test_reinforce_pp_whitens_the_batch_and_the_baseline_variant_centres_groups_first():
    r = rewards(binary=False, seed=5)
    a = algo(advantage="reinforce_pp")
    adv = compute("reinforce_pp", r, a)
    assert abs(adv.mean()) < 1e-9 and abs(adv.std(ddof=1) - 1) < 1e-6
    shifted = r + 10 * np.arange(r.shape[0])[:, None]  # a per-group offset
    base = compute("reinforce_pp_baseline", shifted, a)
    np.testing.assert_allclose(base, compute("reinforce_pp_baseline", r, a), atol=1e-9)


def test_remax_subtracts_the_greedy_reward():
    r = rewards(seed=6)
    greedy = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    np.testing.assert_array_equal(
        compute("remax", r, algo(advantage="remax"), greedy=greedy), r - greedy[:, None]
    )
    with pytest.raises(ValueError):
        compute("remax", r, algo(advantage="remax"))


def test_entropy_term_is_bounded_by_a_share_of_the_advantage():
    from simrl.algorithms.advantage import entropy_term

    rng = np.random.default_rng(7)
    adv, h = rng.normal(size=200), rng.random(200) * 2
    out = entropy_term(adv, h, 0.4, 2.0)
    term = out - adv
    assert np.all(term >= 0) and np.all(term <= np.abs(adv) / 2 + 1e-15)
    assert np.all(term <= 0.4 * h + 1e-15)
    assert np.all(np.sign(out[adv != 0]) == np.sign(adv[adv != 0]))  # kappa > 1: no flip
    np.testing.assert_array_equal(entropy_term(adv, h, 0.0, 2.0), adv)
