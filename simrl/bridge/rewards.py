"""The bridge's rewards: the simulator's registry names (simrl/rewards.py) on parsed answers.

A group's completions are verified into answers (int, or None when not well-formed);
the rewards keep the simulator's meanings:

    true              1 iff the answer is correct
    random            Bernoulli(p), independent of the answer (Spurious Rewards, arXiv 2506.10947)
    incorrect         1 iff the answer equals the prompt's fixed wrong label: the base
                      model's most frequent wrong answer among its samples (estimated
                      from bridge.eval_samples base samples; correct + 1 if it gave none)
    format            1 iff the completion is well-formed (the verifier parses an answer):
                      the analogue of the simulator's format answer / format token
    self_consistency  1 iff the answer equals the plurality answer of its own group, ties
                      broken uniformly at random; ill-formed completions neither vote nor
                      earn (TTRL, arXiv 2504.16084)
    noisy             the true reward flipped independently with probability flip
    frozen            no update at all (the null anchor)
Randomness comes only from the uniforms passed in (the run's numpy Generator).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from simrl.registry import Registry
from simrl.rewards import affine_expectation, expectation_weights

BRIDGE_REWARDS = Registry("reward (bridge)")


def _correct(answers, correct: int) -> np.ndarray:
    return np.array([a is not None and a == correct for a in answers], dtype=float)


@BRIDGE_REWARDS.register("true", "1 iff the parsed answer is correct")
def true(answers, correct, label, u, u_tie, *, p, flip):
    return _correct(answers, correct)


@BRIDGE_REWARDS.register("random", "Bernoulli(p), independent of the answer")
def random(answers, correct, label, u, u_tie, *, p, flip):
    return (u < p).astype(float)


@BRIDGE_REWARDS.register("incorrect", "1 iff the answer equals the base model's top wrong answer")
def incorrect(answers, correct, label, u, u_tie, *, p, flip):
    return _correct(answers, label)


@BRIDGE_REWARDS.register("format", "1 iff the completion is well-formed (an answer parses)")
def format_(answers, correct, label, u, u_tie, *, p, flip):
    return np.array([a is not None for a in answers], dtype=float)


@BRIDGE_REWARDS.register(
    "self_consistency", "1 iff the answer is its group's plurality answer (ties: uniform)"
)
def self_consistency(answers, correct, label, u, u_tie, *, p, flip):
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return np.zeros(len(answers))
    top = max(counts.values())
    tied = sorted(a for a, c in counts.items() if c == top)
    winner = tied[min(int(u_tie * len(tied)), len(tied) - 1)]
    return _correct(answers, winner)


@BRIDGE_REWARDS.register("noisy", "the true reward flipped with probability flip")
def noisy(answers, correct, label, u, u_tie, *, p, flip):
    r = _correct(answers, correct)
    return np.where(u < flip, 1.0 - r, r)


@BRIDGE_REWARDS.register("frozen", "no update: the policy stays the base model")
def frozen(answers, correct, label, u, u_tie, *, p, flip):
    return np.zeros(len(answers))


def wrong_label(answers, correct: int) -> int:
    """The most frequent wrong answer (smallest on ties), or correct + 1 if there is none."""
    wrong = Counter(a for a in answers if a is not None and a != correct)
    if not wrong:
        return correct + 1
    top = max(wrong.values())
    return min(a for a, c in wrong.items() if c == top)


def answer_reward(cfg, fmt, train, heldout, labels):
    """fn(probe, text, finished) -> E[r | completion], for the audit's Q estimates (Cui et
    al. 2025, Theorem 1): the reward's expectation given the answer, by the simulator's
    affine weights (NaN for self_consistency, which depends on the rest of the group)."""
    w = expectation_weights(cfg.reward.kind, p=cfg.reward.p, flip=cfg.reward.flip)

    def fn(probe, text: str, finished: bool) -> float:
        ans = fmt.answer(text, finished)
        if probe.problem < 0:  # held-out probe: its problem's truth
            truth = heldout[-1 - probe.problem].answer
            label = truth + 1
        else:
            truth = train[probe.problem].answer
            label = labels[probe.problem]
        parsed = ans is not None
        # the simulator's affine weights (simrl/rewards.py EXPECTATION_WEIGHTS); the
        # bridge's format answer is any parsable answer
        return affine_expectation(
            w, float(parsed and ans == truth), float(parsed and ans == label), float(parsed)
        )

    return fn
