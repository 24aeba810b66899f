"""Registries and their numpy reference entries, each checked against values written out by hand.

Rewards, advantages (the policy losses: tests/algorithms/test_policy_loss_values.py),
verl's loss aggregations, KL penalties and optimisers.
"""

from __future__ import annotations

import numpy as np
import pytest
from simrl.theory.entropy import log_softmax, softmax

from simrl.advantages import ADVANTAGES
from simrl.aggregation import AGGREGATIONS
from simrl.config import AlgoConfig, OptimConfig
from simrl.kl import KL_ESTIMATORS
from simrl.losses import POLICY_LOSSES
from simrl.optim import OPTIMIZERS, init_state
from simrl.rewards import REWARDS, PromptFacts

H = 1e-6  # finite-difference step


def central_difference(f, x: np.ndarray, i: tuple[int, ...] | int) -> float:
    """d f(x) / d x[i] by central differences; f returns a scalar."""
    up, down = x.copy(), x.copy()
    up[i] += H
    down[i] -= H
    return (f(up) - f(down)) / (2 * H)


# ---- the registries themselves ------------------------------------------------------------

REGISTRIES = {
    "rewards": REWARDS,
    "advantages": ADVANTAGES,
    "policy_losses": POLICY_LOSSES,
    "aggregations": AGGREGATIONS,
    "kl_estimators": KL_ESTIMATORS,
    "optimizers": OPTIMIZERS,
}
each_registry = pytest.mark.parametrize("registry", list(REGISTRIES.values()), ids=list(REGISTRIES))


@each_registry
def test_unknown_name_lists_valid_names(registry):
    with pytest.raises(KeyError) as e:
        registry["no-such-entry"]
    message = e.value.args[0]
    assert "no-such-entry" in message
    for name in registry.names:
        assert name in message


@each_registry
def test_codes_are_registration_order(registry):
    entries = list(registry)
    assert len(entries) == len(registry) > 0
    assert [e.code for e in entries] == list(range(len(registry)))
    for e in entries:
        assert registry.code(e.name) == e.code
        assert registry.by_code(e.code) is e
        assert e.name in registry


@each_registry
def test_every_entry_has_a_doc_and_a_function(registry):
    for e in registry:
        assert e.doc.strip(), e.name
        assert callable(e.fn), e.name


# ---- advantages -------------------------------------------------------------------------

REWARDS_MATRIX = np.array(
    [
        [1.0, 0.0, 0.0, 1.0],
        [1.0, 0.0, 0.0, 0.0],
        [1.0, 1.0, 1.0, 1.0],  # zero variance
    ]
)  # (n_groups, G)


def test_grpo_by_hand():
    eps = 1e-6
    # group 0: mean 1/2, sample std (ddof 1) sqrt(4 * 1/4 / 3) = sqrt(1/3)
    s0 = np.sqrt(1 / 3)
    # group 1: mean 1/4, sample std sqrt((9/16 + 3/16) / 3) = 1/2
    expected = np.array(
        [
            [0.5 / (s0 + eps), -0.5 / (s0 + eps), -0.5 / (s0 + eps), 0.5 / (s0 + eps)],
            [0.75 / (0.5 + eps), -0.25 / (0.5 + eps), -0.25 / (0.5 + eps), -0.25 / (0.5 + eps)],
            [0.0, 0.0, 0.0, 0.0],
        ]
    )
    got = ADVANTAGES["grpo"].fn(REWARDS_MATRIX, AlgoConfig(std_eps=eps, std_ddof=1))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def test_grpo_ddof0_uses_population_std():
    got = ADVANTAGES["grpo"].fn(REWARDS_MATRIX[:1], AlgoConfig(std_eps=0.0, std_ddof=0))
    np.testing.assert_allclose(got, [[1.0, -1.0, -1.0, 1.0]])  # population std 1/2


def test_dr_grpo_by_hand():
    expected = [[0.5, -0.5, -0.5, 0.5], [0.75, -0.25, -0.25, -0.25], [0.0, 0.0, 0.0, 0.0]]
    np.testing.assert_allclose(ADVANTAGES["dr_grpo"].fn(REWARDS_MATRIX, AlgoConfig()), expected)


def test_rloo_by_hand_and_as_scaled_dr_grpo():
    # r_i - mean of the other three
    expected = [
        [1 - 1 / 3, 0 - 2 / 3, 0 - 2 / 3, 1 - 1 / 3],
        [1.0, -1 / 3, -1 / 3, -1 / 3],
        [0.0, 0.0, 0.0, 0.0],
    ]
    got = ADVANTAGES["rloo"].fn(REWARDS_MATRIX, AlgoConfig())
    np.testing.assert_allclose(got, expected, atol=1e-15)
    g = REWARDS_MATRIX.shape[1]
    centred = REWARDS_MATRIX - REWARDS_MATRIX.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(got, g / (g - 1) * centred, atol=1e-15)


def test_reinforce_uses_the_batch_mean():
    batch_mean = 7 / 12
    np.testing.assert_allclose(
        ADVANTAGES["reinforce"].fn(REWARDS_MATRIX, AlgoConfig()), REWARDS_MATRIX - batch_mean
    )
    # a zero-variance group is not zeroed: its baseline is the batch's, not the group's
    assert np.all(ADVANTAGES["reinforce"].fn(REWARDS_MATRIX, AlgoConfig())[2] > 0)


@pytest.mark.parametrize("name", ["grpo", "dr_grpo", "rloo"])
@pytest.mark.parametrize("value", [0.0, 1.0], ids=["all-0", "all-1"])
def test_zero_variance_group_gives_zero_advantage(name, value):
    rewards = np.full((2, 5), value)
    np.testing.assert_array_equal(
        ADVANTAGES[name].fn(rewards, AlgoConfig(std_eps=1e-6, std_ddof=1)), 0.0
    )


def test_reinforce_zero_when_the_whole_batch_is_constant():
    np.testing.assert_array_equal(ADVANTAGES["reinforce"].fn(np.ones((3, 4)), AlgoConfig()), 0.0)


# ---- rewards ----------------------------------------------------------------------------

K = 5
FACTS = PromptFacts(
    correct=np.array([False, True, False, True, False]),  # (K,)
    format_answer=4,
    incorrect_label=2,
)
ANSWERS = np.array([0, 1, 2, 3, 4, 1])  # (G,)
U = np.array([0.05, 0.95, 0.3, 0.6, 0.15, 0.45])  # (G,)


def reward(name, answers=ANSWERS, facts=FACTS, u=U, u_tie=0.5, p=0.5, flip=0.2):
    return REWARDS[name].fn(answers, facts, u, u_tie, p=p, flip=flip)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("true", [0, 1, 0, 1, 0, 1]),
        ("random", [1, 0, 1, 0, 1, 1]),  # u < p = 0.5
        ("incorrect", [0, 0, 1, 0, 0, 0]),
        ("format", [0, 0, 0, 0, 1, 0]),
        ("noisy", [1, 1, 0, 1, 1, 1]),  # true flipped where u < flip = 0.2 (tokens 0 and 4)
        ("frozen", [0, 0, 0, 0, 0, 0]),
    ],
)
def test_reward_by_hand(name, expected):
    got = reward(name)
    assert got.dtype == float
    np.testing.assert_array_equal(got, expected)


def test_random_reward_follows_p():
    np.testing.assert_array_equal(reward("random", p=0.0), 0.0)
    np.testing.assert_array_equal(reward("random", p=1.0), 1.0)
    np.testing.assert_array_equal(reward("random", p=0.3), [1, 0, 0, 0, 1, 0])


def test_noisy_without_flips_is_true():
    np.testing.assert_array_equal(reward("noisy", flip=0.0), reward("true"))
    np.testing.assert_array_equal(reward("noisy", flip=1.0), 1.0 - reward("true"))


def test_self_consistency_plurality():
    answers = np.array([3, 0, 3, 2, 3, 0])  # 3 has the plurality
    np.testing.assert_array_equal(
        reward("self_consistency", answers=answers, u_tie=0.99), [1, 0, 1, 0, 1, 0]
    )


@pytest.mark.parametrize(
    "u_tie, winner",
    [(0.0, 0), (0.49, 0), (0.5, 2), (0.999999, 2)],
    ids=["u0", "below-half", "half", "near-1"],
)
def test_self_consistency_tie_broken_by_u_tie(u_tie, winner):
    answers = np.array([0, 2, 2, 0, 1])  # 0 and 2 tie with two votes each
    expected = (answers == winner).astype(float)
    np.testing.assert_array_equal(
        reward("self_consistency", answers=answers, u_tie=u_tie), expected
    )


# ---- aggregation ------------------------------------------------------------------------

MASK = np.array(
    [
        [1, 1, 1, 1, 1],
        [1, 1, 0, 0, 0],
        [1, 1, 1, 0, 0],
    ],
    dtype=float,
)  # (B, T), unequal lengths
LOSS_MAT = np.random.default_rng(3).normal(size=MASK.shape)  # padding positions hold junk too


def verl_agg(mode: str, l: np.ndarray, m: np.ndarray) -> float:
    """verl core_algos.agg_loss, written out."""
    if mode == "token-mean":
        return (l * m).sum() / m.sum()
    if mode == "seq-mean-token-mean":
        return np.mean((l * m).sum(axis=1) / m.sum(axis=1))
    if mode == "seq-mean-token-sum":
        return np.mean((l * m).sum(axis=1))
    if mode == "seq-mean-token-sum-norm":  # verl 0.9.1: / B, then / loss_scale_factor = T
        return (l * m).sum() / m.shape[0] / m.shape[1]
    if mode == "token-sum":
        return (l * m).sum()
    if mode == "token-sum-norm":  # simrl's seq-mean-token-sum-norm before issue 17 (older verl)
        return (l * m).sum() / m.shape[1]
    raise AssertionError(f"no reference for {mode}")


@pytest.mark.parametrize("mode", AGGREGATIONS.names)
def test_aggregation_matches_verl(mode):
    w = AGGREGATIONS[mode].fn(MASK)
    assert w.shape == MASK.shape
    np.testing.assert_array_equal(w[MASK == 0], 0.0)
    assert (w * LOSS_MAT).sum() == pytest.approx(verl_agg(mode, LOSS_MAT, MASK), rel=1e-12)


def test_modes_differ_on_unequal_lengths():
    values = [verl_agg(m, LOSS_MAT, MASK) for m in AGGREGATIONS.names]
    assert len(set(np.round(values, 12))) == len(values)


def test_token_mean_weights_sum_to_one():
    assert AGGREGATIONS["token-mean"].fn(MASK).sum() == pytest.approx(1.0)
    np.testing.assert_allclose(AGGREGATIONS["token-mean"].fn(MASK)[MASK == 1], 1 / MASK.sum())


# ---- KL ---------------------------------------------------------------------------------

LOGP = np.log(np.array([0.1, 0.3, 0.5, 0.05, 0.7]))
LOGP_REF = np.log(np.array([0.2, 0.3, 0.1, 0.4, 0.6]))


@pytest.mark.parametrize(
    "name, value",
    [
        ("k1", lambda x: x),
        ("k2", lambda x: 0.5 * x**2),
        ("k3", lambda x: np.exp(-x) - 1 + x),
    ],
)
def test_sampled_kl_values_and_derivatives(name, value):
    x = LOGP - LOGP_REF
    kl, grad = KL_ESTIMATORS[name].fn(LOGP, LOGP_REF)
    np.testing.assert_allclose(kl, value(x), rtol=1e-12, atol=1e-15)

    def total(logp):  # the estimators act per token, so d total / d logp_t = d kl_t / d logp_t
        return KL_ESTIMATORS[name].fn(logp, LOGP_REF)[0].sum()

    fd = [central_difference(total, LOGP, t) for t in range(LOGP.size)]
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)


def test_k2_k3_are_nonnegative_and_zero_at_ref():
    for name in ("k2", "k3"):
        kl = KL_ESTIMATORS[name].fn(LOGP, LOGP_REF)[0]
        np.testing.assert_array_equal(kl > 0, LOGP != LOGP_REF)  # token 1 sits at the ref
        np.testing.assert_array_equal(KL_ESTIMATORS[name].fn(LOGP, LOGP)[0], 0.0)


Z = np.random.default_rng(11).normal(size=(3, 6))  # (n, K) logits
Z_REF = np.random.default_rng(12).normal(size=(3, 6))

EXACT = {
    "exact_reverse": lambda pi, ref: (pi * (np.log(pi) - np.log(ref))).sum(axis=-1),
    "exact_forward": lambda pi, ref: (ref * (np.log(ref) - np.log(pi))).sum(axis=-1),
}


@pytest.mark.parametrize("name", list(EXACT))
def test_exact_kl_values(name):
    kl, _ = KL_ESTIMATORS[name].fn(log_softmax(Z), log_softmax(Z_REF))
    np.testing.assert_allclose(kl, EXACT[name](softmax(Z), softmax(Z_REF)), rtol=1e-12)
    assert np.all(kl > 0)
    same, grad = KL_ESTIMATORS[name].fn(log_softmax(Z), log_softmax(Z))
    np.testing.assert_allclose(same, 0.0, atol=1e-15)
    np.testing.assert_allclose(grad, 0.0, atol=1e-15)


@pytest.mark.parametrize("name", list(EXACT))
def test_exact_kl_gradient_wrt_logits(name):
    logp_ref = log_softmax(Z_REF)
    _, grad = KL_ESTIMATORS[name].fn(log_softmax(Z), logp_ref)
    assert grad.shape == Z.shape
    fd = np.empty_like(Z)
    for i in np.ndindex(Z.shape):
        fd[i] = central_difference(
            lambda z, row=i[0]: KL_ESTIMATORS[name].fn(log_softmax(z), logp_ref)[0][row], Z, i
        )
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)


# ---- optimisers -------------------------------------------------------------------------

Z0 = np.random.default_rng(5).normal(size=(4, 6))  # (S, K)
G = np.random.default_rng(6).normal(size=(4, 6))


def test_sgd_step():
    state = init_state(Z0.shape)
    z, new_state = OPTIMIZERS["sgd"].fn(Z0, G, state, OptimConfig(lr=0.3))
    np.testing.assert_allclose(z, Z0 - 0.3 * G)
    assert new_state is state


def test_adam_first_step_is_lr_times_sign():
    p = OptimConfig(kind="adam", lr=0.01, eps=1e-8)
    z, state = OPTIMIZERS["adam"].fn(Z0, G, init_state(Z0.shape), p)
    np.testing.assert_allclose(z - Z0, -0.01 * np.sign(G), rtol=1e-6)
    assert state.t == 1
    np.testing.assert_allclose(state.m, 0.1 * G)
    np.testing.assert_allclose(state.v, 0.001 * G**2)


def test_adam_second_step_uses_bias_correction():
    p = OptimConfig(kind="adam", lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8)
    z1, s1 = OPTIMIZERS["adam"].fn(Z0, G, init_state(Z0.shape), p)
    g2 = 2.0 * G
    z2, s2 = OPTIMIZERS["adam"].fn(z1, g2, s1, p)
    m = 0.9 * 0.1 * G + 0.1 * g2
    v = 0.999 * 0.001 * G**2 + 0.001 * g2**2
    step = 0.01 * (m / (1 - 0.9**2)) / (np.sqrt(v / (1 - 0.999**2)) + 1e-8)
    np.testing.assert_allclose(z2, z1 - step, rtol=1e-12)
    assert s2.t == 2


def test_npg_on_exact_policy_gradient_steps_by_centred_advantage():
    pi = softmax(Z0)
    adv = np.random.default_rng(9).normal(size=Z0.shape)  # A(s, a)
    z, _ = OPTIMIZERS["npg"].fn(
        Z0, -pi * adv, init_state(Z0.shape), OptimConfig(kind="npg", lr=0.5)
    )
    np.testing.assert_allclose(
        z - Z0, 0.5 * (adv - adv.mean(axis=1, keepdims=True)), rtol=1e-10, atol=1e-12
    )


def test_npg_step_solves_the_per_state_fisher_system():
    pi = softmax(Z0)
    g = G - pi * G.sum(axis=1, keepdims=True)  # rows summing to zero, as softmax gradients do
    np.testing.assert_allclose(g.sum(axis=1), 0.0, atol=1e-12)
    z, _ = OPTIMIZERS["npg"].fn(Z0, g, init_state(Z0.shape), OptimConfig(kind="npg", lr=1.0))
    x = Z0 - z
    for s in range(Z0.shape[0]):
        fisher = np.diag(pi[s]) - np.outer(pi[s], pi[s])
        np.testing.assert_allclose(fisher @ x[s], g[s], rtol=1e-9, atol=1e-12)
        assert abs(x[s].mean()) < 1e-12  # the minimum-norm solution


def test_grpo_with_std_eps_0_gives_a_zero_variance_group_advantage_0():
    # 0 / 0 would be NaN in numpy and a ZeroDivisionError in numba: every engine gives 0
    rewards = np.array([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    got = ADVANTAGES["grpo"].fn(rewards, AlgoConfig(std_eps=0.0, std_ddof=1))
    np.testing.assert_array_equal(got[0], 0.0)
    assert np.all(np.isfinite(got[1])) and np.all(got[1] != 0)
