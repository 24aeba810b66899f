"""Verifiable rewards: what a group's answers earn. A facade over simrl/algorithms/rewards/,
one module per reward (see simrl/algorithms/reward.py for what a reward holds), kept so
that every import of simrl.rewards keeps working; the helpers every engine shares (the
expectation's affine form, a sequence group's rewards, DAPO's overlong penalty) are here.

Randomness comes only from the uniforms, drawn from the run's own generator (see
simrl/engine/streams.py).
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms.reward import REWARDS, PromptFacts, Reward
from simrl.algorithms.rewards import BUILTIN

#: Rewards that consume one uniform per response (the entries' `uses_uniform`).
NEEDS_UNIFORM = tuple(e.name for e in REWARDS if e.uses_uniform)
#: Rewards that are deterministic functions of (prompt, answer): the ones `algo.exact` allows.
DETERMINISTIC = tuple(e.name for e in REWARDS if e.deterministic)

#: Every reward that is a function of the response alone is affine in what the response
#: tells: E[r | y] = w_c P(correct | y) + w_nc (1 - P(correct | y)) + w_l P(y's answer is
#: the incorrect label) + w_f [y is the format answer] + w_1. One definition per reward
#: (its module's `expectation`), read by the reference (expected_reward,
#: tasks.sequence.leaf_expected_reward) and the kernels (packed per run:
#: engine/packing.py). self_consistency depends on the group and frozen does not update:
#: NaN. The zero terms add exact zeros, so true's E[r] is P(correct) bit for bit.
EXPECTATION_WEIGHTS = {e.name: e.expectation for e in REWARDS if e.expectation is not None}

__all__ = [
    "BUILTIN",
    "DETERMINISTIC",
    "EXPECTATION_WEIGHTS",
    "NEEDS_UNIFORM",
    "REWARDS",
    "PromptFacts",
    "Reward",
    "affine_expectation",
    "expectation_weights",
    "expected_reward",
    "overlong_penalty",
    "sequence_rewards",
]


def expectation_weights(kind: str, *, p: float, flip: float) -> tuple[float, ...]:
    """(w_c, w_nc, w_l, w_f, w_1) of the reward (its module's `expectation`); NaNs where
    E[r | y] is not a function of the response."""
    expectation = REWARDS[kind].expectation
    if expectation is None:
        return (np.nan,) * 5
    return tuple(float(w) for w in expectation(p, flip))


def affine_expectation(w, correct, label, fmt):
    """w_c c + w_nc (1 - c) + w_l l + w_f f + w_1, summed in that order (the kernels'
    audit.expected_rewards and seq_graph.leaf_rewards sum the same terms in the same order)."""
    return w[0] * correct + w[1] * (1.0 - correct) + w[2] * label + w[3] * fmt + w[4]


def expected_reward(kind: str, facts: PromptFacts, *, p: float, flip: float) -> np.ndarray:
    """E[r | a] for every answer a (K,): what Cui et al.'s Theorem 1 calls the reward of an
    action. NaN where it is not a function of the answer alone (self_consistency) or where
    there is no update (frozen)."""
    K = facts.correct.shape[0]
    a = np.arange(K)
    return affine_expectation(
        expectation_weights(kind, p=p, flip=flip),
        facts.correct.astype(float),
        (a == facts.incorrect_label).astype(float),
        (a == facts.format_answer).astype(float),
    )


def sequence_rewards(
    kind: str,
    answers,
    formats,
    facts: PromptFacts,
    u,
    u_tie,
    *,
    p: float,
    flip: float,
    lik=None,
    param: float = 0.0,
) -> np.ndarray:
    """Rewards of a group of sequence responses: the registry's reward of the final
    answers, except a reward that pays the format (`pays_format`: 'format'), which pays
    the format marker of the response itself. A reward with `reads_likelihood` gets lik
    (G,), the responses' likelihoods under pi_old, and its packed `param`."""
    e = REWARDS[kind]
    if e.pays_format:
        return np.asarray(formats, dtype=float)
    if e.reads_likelihood:
        return e.fn(answers, facts, u, u_tie, p=p, flip=flip, lik=lik, param=param)
    return e.fn(answers, facts, u, u_tie, p=p, flip=flip)


def overlong_penalty(lengths, max_len: int, cache: int, factor: float) -> np.ndarray:
    """DAPO's soft overlong punishment (Yu et al. 2025, arXiv 2503.14476, Eq. 13), added to
    the reward: 0 up to max_len - cache tokens, then factor * ((max_len - cache) - |y|) /
    cache, reaching -factor at max_len (responses here never exceed max_len)."""
    lengths = np.asarray(lengths, dtype=float)
    if cache == 0:
        return np.zeros(lengths.shape)
    return factor * np.minimum(0.0, ((max_len - cache) - lengths) / cache)
