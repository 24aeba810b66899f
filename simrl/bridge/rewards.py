"""The bridge's rewards: the simulator's registry names on parsed answers.

Each reward's bridge form lives in its module beside its numpy and numba forms
(simrl/algorithms/rewards/<name>.py); BRIDGE_REWARDS gives them by name. A group's
completions are verified into answers (int, or None when not well-formed); the rewards
keep the simulator's meanings:

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
from typing import NamedTuple

from simrl.rewards import REWARDS, affine_expectation, expectation_weights


class _BridgeEntry(NamedTuple):
    name: str
    fn: object
    doc: str


class _BridgeRewards:
    """REWARDS seen through their bridge forms:
    fn(answers, correct, label, u, u_tie, *, p, flip) -> rewards (G,)."""

    def __getitem__(self, name: str) -> _BridgeEntry:
        e = REWARDS[name]
        return _BridgeEntry(e.name, e.bridge, e.doc)

    def __contains__(self, name: object) -> bool:
        return name in REWARDS

    def __iter__(self):
        return (self[e.name] for e in REWARDS)

    def __len__(self) -> int:
        return len(REWARDS)

    @property
    def names(self) -> tuple[str, ...]:
        return REWARDS.names


BRIDGE_REWARDS = _BridgeRewards()


def wrong_label(answers, correct: int) -> int:
    """The most frequent wrong answer (smallest on ties), or correct + 1 if there is none."""
    wrong = Counter(a for a in answers if a is not None and a != correct)
    if not wrong:
        return correct + 1
    top = max(wrong.values())
    return min(a for a, c in wrong.items() if c == top)


def answer_reward(cfg, fmt, train, heldout, labels, custom=None):
    """fn(probe, text, finished) -> E[r | completion], for the audit's Q estimates (Cui et
    al. 2025, Theorem 1): the reward's expectation given the answer, by the simulator's
    affine weights (NaN for self_consistency, which depends on the rest of the group);
    a user's reward `custom(problem, text, answer)` is its own expectation."""
    if custom is not None:

        def user(probe, text: str, finished: bool) -> float:
            problem = heldout[-1 - probe.problem] if probe.problem < 0 else train[probe.problem]
            return float(custom(problem, text, fmt.answer(text, finished)))

        return user
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
