"""The reward interface's likelihoods (reads_likelihood) and the unlikeliness reward
(arXiv 2506.02355; the authors' RayLeanTrainer._compute_advantages), and the per-token
rule of optimal_token_baseline on the bandit and the sequence task (its parity with verl
itself: tests/parity/test_verl_advantages.py)."""

from __future__ import annotations

import numpy as np
import pytest

from simrl.algorithms.advantage import ADVANTAGES, compute
from simrl.algorithms.reward import REWARDS, PromptFacts, call_numpy
from simrl.config import AlgoConfig, Config, RewardConfig
from simrl.errors import ConfigError

FACTS = PromptFacts(np.array([True, False, True, False]), -1, 1)


def unlikeliness(answers, lik, beta=0.25):
    e = REWARDS["unlikeliness"]
    return e.numpy(np.asarray(answers), FACTS, None, 0.0, p=0.5, flip=0.1, lik=lik, param=beta)


def test_the_most_likely_correct_response_is_penalised_most():
    # ranks by likelihood (least likely 0): answers 0 (correct, lik .5 -> rank 3),
    # 2 (correct, .1 -> rank 1), 1 (wrong, .3 -> rank 2), 3 (wrong, .05 -> rank 0)
    r = unlikeliness([0, 2, 1, 3], [0.5, 0.1, 0.3, 0.05], beta=0.25)
    assert r.tolist() == [1 - 0.25 * 3 / 4, 1 - 0.25 * 1 / 4, 0.0, 0.0]


def test_incorrect_responses_count_in_the_ranks_and_earn_zero():
    # the same correct response, ranked above or below the incorrect ones
    low = unlikeliness([0, 1, 1, 1], [0.01, 0.2, 0.3, 0.4])
    high = unlikeliness([0, 1, 1, 1], [0.9, 0.2, 0.3, 0.4])
    assert low.tolist() == [1.0, 0.0, 0.0, 0.0]
    assert high.tolist() == [1 - 0.25 * 3 / 4, 0.0, 0.0, 0.0]


def test_ties_are_broken_by_the_index_in_the_group():
    r = unlikeliness([0, 0, 0, 2], [0.4, 0.4, 0.4, 0.4], beta=0.5)
    assert r.tolist() == [1.0, 1 - 0.5 / 4, 1 - 0.5 * 2 / 4, 1 - 0.5 * 3 / 4]


def test_beta_zero_is_the_true_reward():
    rng = np.random.default_rng(0)
    answers = rng.integers(0, 4, 8)
    r = unlikeliness(answers, rng.random(8), beta=0.0)
    assert np.array_equal(r, FACTS.correct[answers].astype(float))


def test_numba_form_equals_numpy_form():
    numba = pytest.importorskip("numba")
    e = REWARDS["unlikeliness"]
    form = numba.njit(e.numba)
    rng = np.random.default_rng(1)
    correct = np.tile(FACTS.correct, (2, 1))
    for _ in range(50):
        G = int(rng.integers(1, 9))
        ans = rng.integers(0, 4, (3, G))
        # ties on purpose: likelihoods drawn from a few values
        lik = rng.choice([0.1, 0.25, 0.3, 0.6], size=(3, G))
        out = np.zeros((3, G))
        beta = float(rng.random())
        form(1, ans, 2, G, correct, -1, 1, np.zeros(1), 0, beta, -1, lik, out)
        want = unlikeliness(ans[2], lik[2], beta)
        assert np.array_equal(out[2], want)


def test_call_numpy_passes_likelihoods_only_to_readers():
    cfg = RewardConfig(kind="true")
    ans = np.array([0, 1, 2])
    assert call_numpy(REWARDS["true"], ans, FACTS, None, 0.0, reward=cfg).tolist() == [1, 0, 1]
    with pytest.raises(ValueError, match="likelihoods"):
        call_numpy(REWARDS["unlikeliness"], ans, FACTS, None, 0.0, reward=cfg)
    only = [e.name for e in REWARDS if e.reads_likelihood]
    assert only == ["unlikeliness"]


def test_unlikeliness_has_no_expectation_and_is_not_deterministic():
    e = REWARDS["unlikeliness"]
    assert e.expectation is None and not e.deterministic


@pytest.mark.parametrize(
    "overrides",
    [
        {"reward.kind": "unlikeliness", "algo.exact": True},
        {"algo.advantage": "optimal_token_baseline", "algo.exact": True},
        {"reward.kind": "unlikeliness", "reward.unlikeliness_beta": 1.5},
    ],
)
def test_bad_combinations_are_refused(overrides):
    with pytest.raises(ConfigError):
        Config.from_dict({}, overrides)


def test_the_bridge_accepts_both():
    """The bridge reads the likelihoods and score norms from its sampler's record
    (simrl/bridge/sampler.py; run and parity: tests/bridge/test_sampler_parity.py)."""
    bridge = pytest.importorskip("simrl.bridge.config")
    for over in ({"reward.kind": "unlikeliness"}, {"algo.advantage": "optimal_token_baseline"}):
        cfg = bridge.BridgeRunConfig.from_dict({}, over)
        assert (cfg.reward.kind, cfg.algo.advantage) != ("true", "grpo")


def _otb(rewards, lengths, scores):
    n, G = rewards.shape
    cfg = AlgoConfig(advantage="optimal_token_baseline", group_size=G, prompts_per_step=n)
    return compute("optimal_token_baseline", rewards, cfg, lengths, scores=scores)


def test_otb_on_one_token_is_a_weighted_mean_baseline():
    rng = np.random.default_rng(2)
    r = rng.normal(size=(3, 5))
    w = rng.random((3, 5))
    adv = _otb(r, np.ones((3, 5)), w[:, :, None])[:, :, 0]
    base = (r * w).sum(axis=1, keepdims=True) / (w.sum(axis=1, keepdims=True) + 1e-8)
    assert np.abs(adv - (r - base)).max() < 1e-14


def test_otb_zero_tail_and_groups_of_one():
    r = np.array([[1.0, 0.0, 0.5]])
    lengths = np.array([[2.0, 4.0, 1.0]])  # response 1 strictly the longest
    scores = np.ones((1, 3, 4)) * (np.arange(4)[None, None, :] < lengths[:, :, None])
    adv = _otb(r, lengths, scores)
    assert adv[0, 1, 2:].tolist() == [0.0, 0.0]  # r - 0 past the second-longest (2)
    assert adv[0, 1, 1] != 0.0 and adv[0, 2, 1:].tolist() == [0.0] * 3  # padding 0
    single = _otb(np.array([[0.7], [0.2]]), np.array([[3.0], [1.0]]), np.ones((2, 1, 3)))
    assert single[0, 0].tolist() == [0.7, 0.7, 0.7] and single[1, 0].tolist() == [0.2, 0, 0]


def test_otb_is_registered_per_token():
    e = ADVANTAGES["optimal_token_baseline"]
    assert e.token_baseline and e.reads_lengths
    assert [x.name for x in ADVANTAGES if x.token_baseline] == ["optimal_token_baseline"]


def test_kernel_token_baselines_equal_the_numpy_form():
    """engine/kernels/token_baseline.py against the numpy form, on random ragged groups
    (strictly longest responses included: the zero tail)."""
    from simrl.algorithms.tokens import N_TF, N_TI, TF_ADV, TI_ROW, TI_TOK
    from simrl.engine.kernels.token_baseline import sequence_token_baselines

    rng = np.random.default_rng(3)
    M, V, T = 7, 4, 5
    for _ in range(20):
        n, G = int(rng.integers(1, 4)), int(rng.integers(1, 6))
        prob = rng.dirichlet(np.ones(V), size=M)
        lens = rng.integers(1, T + 1, size=(n, G)).astype(float)
        rew = rng.normal(size=(n, G))
        N = int(lens.sum())
        tf, ti = np.zeros((N_TF, N)), np.zeros((N_TI, N), dtype=np.int32)
        gstart = np.zeros(n + 1, dtype=np.int64)
        scores = np.zeros((n, G, T))
        k = 0
        for j in range(n):
            gstart[j] = k
            for i in range(G):
                for t in range(int(lens[j, i])):
                    row, a = rng.integers(0, M), rng.integers(0, V)
                    ti[TI_ROW, k], ti[TI_TOK, k] = row, a
                    tf[TF_ADV, k] = rew[j, i]  # the estimator's numba form: the returns
                    scores[j, i, t] = 1.0 - 2.0 * prob[row, a] + (prob[row] ** 2).sum()
                    k += 1
        gstart[n] = k
        sequence_token_baselines(prob, tf, ti, gstart, lens, rew, n, G)
        want = _otb(rew, lens, scores)
        mask = np.arange(T)[None, None, :] < lens[:, :, None]
        np.testing.assert_allclose(tf[TF_ADV], want[mask], rtol=0, atol=1e-13)


def test_a_sequence_ranks_by_its_per_token_likelihood_as_the_authors_code():
    """The authors rank by the mean per-token log-probability (ray_lean_trainer.py
    masked_mean(old_log_probs)): a two-token response of pi 0.5 each outranks a one-token
    response of pi 0.3, which the full product (0.25 < 0.3) would order the other way."""
    from types import SimpleNamespace

    from simrl.engine.sequence_ref import likelihood

    task = SimpleNamespace(node_row=np.array([0, 1]))
    pi = np.array([[0.5, 0.3, 0.2], [0.5, 0.25, 0.25]])
    two = likelihood(task, pi, [0, 1], [0, 0])
    one = likelihood(task, pi, [0], [1])
    assert two == pytest.approx(0.5, abs=1e-15)
    assert one == pytest.approx(0.3, abs=1e-15)
    from simrl.algorithms.rewards.unlikeliness import ranks

    assert list(ranks(np.array([two, one]))) == [1, 0]
