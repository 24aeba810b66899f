"""The bandit task: base probabilities, answer roles and per-prompt prior strengths."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from simrl.config import Config, TaskConfig
from simrl.tasks import build_bandit

TASKS = {
    "plain": TaskConfig(num_prompts=32, num_answers=8, prior_strength=0.3),
    "two-correct": TaskConfig(num_prompts=32, num_answers=8, num_correct=2, prior_strength=0.6),
    "format-small": TaskConfig(num_prompts=32, num_answers=8, prior_strength=0.3, format_mass=0.05),
    "format-large": TaskConfig(num_prompts=32, num_answers=8, prior_strength=0.2, format_mass=0.5),
    "strong-prior": TaskConfig(num_prompts=32, num_answers=4, prior_strength=0.9),
    "spread": TaskConfig(num_prompts=32, num_answers=8, prior_strength=0.3, prior_spread=0.1),
}
each_task = pytest.mark.parametrize("cfg", list(TASKS.values()), ids=list(TASKS))


@each_task
def test_shapes_and_probabilities_sum_to_one(cfg):
    task = build_bandit(cfg)
    S, K = cfg.num_prompts, cfg.num_answers
    assert task.shape == (S, K)
    assert task.correct.shape == (S, K) and task.correct.dtype == bool
    assert task.prior.shape == task.format_answer.shape == task.incorrect_label.shape == (S,)
    np.testing.assert_allclose(task.base_probs.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(task.base_probs > 0)


@each_task
def test_correct_answers_carry_the_prior(cfg):
    task = build_bandit(cfg)
    np.testing.assert_array_equal(task.correct.sum(axis=1), cfg.num_correct)
    on_correct = np.where(task.correct, task.base_probs, 0.0).sum(axis=1)
    np.testing.assert_allclose(on_correct, task.prior, rtol=1e-12)
    # each correct answer gets an equal share
    for s in range(cfg.num_prompts):
        np.testing.assert_allclose(
            task.base_probs[s, task.correct[s]], task.prior[s] / cfg.num_correct
        )


@pytest.mark.parametrize("name", ["plain", "two-correct", "format-small", "strong-prior"])
def test_prior_is_exact_without_spread(name):
    cfg = TASKS[name]
    task = build_bandit(cfg)
    np.testing.assert_array_equal(task.prior, cfg.prior_strength)
    on_correct = np.where(task.correct, task.base_probs, 0.0).sum(axis=1)
    np.testing.assert_allclose(on_correct, cfg.prior_strength, rtol=1e-12)


@pytest.mark.parametrize("name", ["format-small", "format-large"])
def test_format_answer_gets_format_mass(name):
    cfg = TASKS[name]
    task = build_bandit(cfg)
    rows = np.arange(cfg.num_prompts)
    assert np.all((task.format_answer >= 0) & (task.format_answer < cfg.num_answers))
    assert not task.correct[rows, task.format_answer].any()  # the format answer is wrong
    np.testing.assert_allclose(
        task.base_probs[rows, task.format_answer], cfg.format_mass, rtol=1e-12
    )
    # the remaining mass is spread evenly over the other wrong answers
    other = ~task.correct.copy()
    other[rows, task.format_answer] = False
    n_other = cfg.num_answers - cfg.num_correct - 1
    expected = (1 - task.prior - cfg.format_mass) / n_other
    for s in rows:
        np.testing.assert_allclose(task.base_probs[s, other[s]], expected[s], rtol=1e-12)


def test_no_format_answer_without_format_mass():
    np.testing.assert_array_equal(build_bandit(TASKS["plain"]).format_answer, -1)


@each_task
def test_incorrect_label_is_the_most_likely_wrong_answer(cfg):
    task = build_bandit(cfg)
    rows = np.arange(cfg.num_prompts)
    assert not task.correct[rows, task.incorrect_label].any()
    best_wrong = np.where(task.correct, -np.inf, task.base_probs).max(axis=1)
    np.testing.assert_array_equal(task.base_probs[rows, task.incorrect_label], best_wrong)


def test_incorrect_label_is_the_format_answer_when_that_is_heaviest():
    task = build_bandit(TASKS["format-large"])  # 0.5 > (1 - 0.2 - 0.5) / 6
    np.testing.assert_array_equal(task.incorrect_label, task.format_answer)


@each_task
def test_base_top_is_the_most_likely_answer(cfg):
    task = build_bandit(cfg)
    rows = np.arange(cfg.num_prompts)
    np.testing.assert_array_equal(task.base_probs[rows, task.base_top], task.base_probs.max(axis=1))


def test_base_top_is_correct_with_a_strong_prior():
    task = build_bandit(TASKS["strong-prior"])
    assert task.correct[np.arange(32), task.base_top].all()


def test_same_seed_same_task():
    cfg = TaskConfig(num_prompts=64, num_answers=16, prior_spread=0.1, seed=3)
    a, b = build_bandit(cfg), build_bandit(cfg)
    for name in ("base_logits", "correct", "format_answer", "incorrect_label", "base_top", "prior"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_different_seed_moves_the_answers():
    a = build_bandit(TaskConfig(num_prompts=64, num_answers=16, seed=0))
    b = build_bandit(TaskConfig(num_prompts=64, num_answers=16, seed=1))
    assert not np.array_equal(a.correct, b.correct)
    # positions are independent across seeds: few prompts keep their correct answer
    assert (a.correct & b.correct).any(axis=1).mean() < 0.25


@pytest.mark.parametrize(
    "strength, spread",
    [(0.3, 0.1), (0.1, 0.05), (0.7, 0.2)],
    ids=["0.3+-0.1", "0.1+-0.05", "0.7+-0.2"],
)
def test_prior_spread_has_the_requested_mean_and_std(strength, spread):
    n = 2000
    task = build_bandit(
        TaskConfig(
            num_prompts=n, num_answers=4, prior_strength=strength, prior_spread=spread, seed=1
        )
    )
    prior = task.prior
    assert np.unique(prior).size == n  # drawn per prompt
    assert np.all((prior > 0) & (prior < 1))
    # standard errors of the sample mean and sample std of a Beta with this mean and std
    k = strength * (1 - strength) / spread**2 - 1
    excess_kurtosis = float(stats.beta(strength * k, (1 - strength) * k).stats(moments="k"))
    se_mean = spread / np.sqrt(n)
    se_std = spread * np.sqrt((excess_kurtosis + 2) / (4 * n))
    assert abs(prior.mean() - strength) < 3 * se_mean
    assert abs(prior.std(ddof=1) - spread) < 3 * se_std


def _build_bandit_loop(cfg):
    """build_bandit as the per-prompt loop it was until issue 20 (the specification its
    vectorised form must reproduce bit for bit)."""
    from simrl.tasks.bandit import _argmax_random_ties, prior_strengths

    rng = np.random.default_rng(np.random.SeedSequence(cfg.seed))
    S, K, C = cfg.num_prompts, cfg.num_answers, cfg.num_correct
    prior = prior_strengths(cfg, rng)
    has_format = cfg.format_mass > 0
    n_other = K - C - int(has_format)
    probs = np.empty((S, K))
    correct = np.zeros((S, K), dtype=bool)
    format_answer = np.full(S, -1, dtype=np.int64)
    for s in range(S):
        order = rng.permutation(K)
        correct[s, order[:C]] = True
        probs[s] = (1.0 - prior[s] - cfg.format_mass) / n_other
        probs[s, order[:C]] = prior[s] / C
        if has_format:
            format_answer[s] = order[C]
            probs[s, order[C]] = cfg.format_mass
    incorrect_label = np.empty(S, dtype=np.int64)
    base_top = np.empty(S, dtype=np.int64)
    for s in range(S):
        incorrect_label[s] = _argmax_random_ties(np.where(correct[s], -1.0, probs[s]), rng)
        base_top[s] = _argmax_random_ties(probs[s], rng)
    return (np.log(probs), correct, format_answer, incorrect_label, base_top, prior)


@pytest.mark.parametrize(
    "task",
    [
        {},
        {"num_prompts": 1, "num_answers": 2},
        {"num_prompts": 64, "num_answers": 16, "prior_strength": 0.3},
        {"num_prompts": 50, "num_answers": 8, "num_correct": 2, "format_mass": 0.2},
        {"num_prompts": 33, "num_answers": 300, "num_correct": 3, "prior_spread": 0.1},
        {"num_prompts": 7, "num_answers": 5, "num_correct": 4},
        {"num_prompts": 20, "num_answers": 6, "prior_strength": 0.9, "num_correct": 1},
        {"num_prompts": 20, "num_answers": 5, "num_correct": 2, "format_mass": 0.1},
    ],
)
def test_vectorised_build_is_the_per_prompt_loop(task):
    """build_bandit (vectorised) draws the same numbers in the same order as the loop it
    replaced: every array bitwise equal, for several seeds."""
    from simrl.tasks.bandit import build_bandit

    for seed in range(6):
        cfg = Config.from_dict({"task": {**task, "seed": seed}}).task
        got = build_bandit(cfg)
        want = _build_bandit_loop(cfg)
        for name, a, b in zip(
            ("base_logits", "correct", "format", "label", "top", "prior"),
            (got.base_logits, got.correct, got.format_answer, got.incorrect_label,
             got.base_top, got.prior),
            want,
            strict=True,
        ):  # fmt: skip
            assert a.dtype == b.dtype, name
            np.testing.assert_array_equal(a, b, err_msg=f"{name}, seed {seed}")
