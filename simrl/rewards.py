"""Verifiable rewards: what a group's answers earn.

Every reward takes the group's answers (G,), the prompt's facts (`PromptFacts`), this
group's uniforms `u` (G,) and tie-break uniform `u_tie`, and the reward parameters; it
returns rewards in {0, 1} (G,). Randomness comes only from the uniforms, drawn from the
run's own generator (see simrl/engine/streams.py).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from simrl.registry import Registry

REWARDS = Registry("reward")

#: Rewards that consume one uniform per response.
NEEDS_UNIFORM = ("random", "noisy")
#: Rewards that are deterministic functions of (prompt, answer): the ones `algo.exact` allows.
DETERMINISTIC = ("true", "incorrect", "format", "frozen")


class PromptFacts(NamedTuple):
    correct: np.ndarray  # (K,) bool: which answers are correct
    format_answer: int  # index of the designated wrong "format" answer, -1 if none
    incorrect_label: int  # the fixed wrong label: the base policy's most likely wrong answer


@REWARDS.register("true", "1 iff the answer is correct (the verifier)")
def true(answers, facts: PromptFacts, u, u_tie, *, p, flip):
    return facts.correct[answers].astype(float)


@REWARDS.register(
    "random",
    "Bernoulli(p), independent of the answer (Shao et al. 2025, Spurious Rewards, arXiv 2506.10947)",
)
def random(answers, facts: PromptFacts, u, u_tie, *, p, flip):
    return (u < p).astype(float)


@REWARDS.register(
    "incorrect",
    "1 iff the answer equals a fixed wrong label per prompt: the base policy's most likely "
    "wrong answer (like a wrong majority-vote label; Spurious Rewards, arXiv 2506.10947)",
)
def incorrect(answers, facts: PromptFacts, u, u_tie, *, p, flip):
    return (answers == facts.incorrect_label).astype(float)


@REWARDS.register("format", "1 iff the answer is the prompt's designated format answer")
def format_(answers, facts: PromptFacts, u, u_tie, *, p, flip):
    return (answers == facts.format_answer).astype(float)


@REWARDS.register(
    "self_consistency",
    "1 iff the answer equals the plurality answer of its own group, ties broken uniformly at "
    "random (label-free majority voting, as in TTRL, arXiv 2504.16084)",
)
def self_consistency(answers, facts: PromptFacts, u, u_tie, *, p, flip):
    counts = np.bincount(answers, minlength=facts.correct.shape[0])
    tied = np.flatnonzero(counts == counts.max())
    winner = tied[min(int(u_tie * tied.size), tied.size - 1)]
    return (answers == winner).astype(float)


@REWARDS.register("noisy", "the true reward flipped independently with probability flip")
def noisy(answers, facts: PromptFacts, u, u_tie, *, p, flip):
    r = facts.correct[answers].astype(float)
    return np.where(u < flip, 1.0 - r, r)


@REWARDS.register("frozen", "no update at all: the policy stays the base policy (the null anchor)")
def frozen(answers, facts: PromptFacts, u, u_tie, *, p, flip):
    return np.zeros(answers.shape, dtype=float)


#: Every reward that is a function of the response alone is affine in what the response
#: tells: E[r | y] = w_c P(correct | y) + w_nc (1 - P(correct | y)) + w_l P(y's answer is
#: the incorrect label) + w_f [y is the format answer] + w_1. One definition per reward,
#: read by the reference (expected_reward, tasks.sequence.leaf_expected_reward) and the
#: kernels (packed per run: engine/packing.py). self_consistency depends on the group and
#: frozen does not update: NaN. The zero terms add exact zeros, so true's E[r] is
#: P(correct) bit for bit.
EXPECTATION_WEIGHTS = {
    "true": lambda p, flip: (1.0, 0.0, 0.0, 0.0, 0.0),
    "random": lambda p, flip: (0.0, 0.0, 0.0, 0.0, p),
    "incorrect": lambda p, flip: (0.0, 0.0, 1.0, 0.0, 0.0),
    "format": lambda p, flip: (0.0, 0.0, 0.0, 1.0, 0.0),
    "noisy": lambda p, flip: (1.0 - flip, flip, 0.0, 0.0, 0.0),
}


def expectation_weights(kind: str, *, p: float, flip: float) -> tuple[float, ...]:
    """(w_c, w_nc, w_l, w_f, w_1) of the reward (EXPECTATION_WEIGHTS); NaNs where E[r | y]
    is not a function of the response."""
    if kind not in EXPECTATION_WEIGHTS:
        return (np.nan,) * 5
    return tuple(float(w) for w in EXPECTATION_WEIGHTS[kind](p, flip))


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
    kind: str, answers, formats, facts: PromptFacts, u, u_tie, *, p: float, flip: float
) -> np.ndarray:
    """Rewards of a group of sequence responses: the registry's reward of the final
    answers, except 'format', which pays the format marker of the response itself."""
    if kind == "format":
        return np.asarray(formats, dtype=float)
    return REWARDS[kind].fn(answers, facts, u, u_tie, p=p, flip=flip)


def overlong_penalty(lengths, max_len: int, cache: int, factor: float) -> np.ndarray:
    """DAPO's soft overlong punishment (Yu et al. 2025, arXiv 2503.14476, Eq. 13), added to
    the reward: 0 up to max_len - cache tokens, then factor * ((max_len - cache) - |y|) /
    cache, reaching -factor at max_len (responses here never exceed max_len)."""
    lengths = np.asarray(lengths, dtype=float)
    if cache == 0:
        return np.zeros(lengths.shape)
    return factor * np.minimum(0.0, ((max_len - cache) - lengths) / cache)
