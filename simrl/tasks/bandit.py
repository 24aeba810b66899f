"""The bandit task: S independent prompts, each a softmax over K answers.

The base policy is given exactly by probabilities, not sampled: for prompt s with prior
strength p_s, the C correct answers get p_s / C each, the format answer (if any) gets
`format_mass`, and the rest 1 - p_s - format_mass is spread evenly over the other wrong
answers. Base logits are log-probabilities. Answer positions, per-prompt strengths and
tie-breaks are drawn from `task.seed` alone, so every run of a grid shares the task.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from simrl.config import TaskConfig

#: per-prompt strengths drawn from the Beta are clipped into (EDGE, 1 - format_mass - EDGE)
EDGE = 1e-6


@dataclass(frozen=True)
class BanditTask:
    base_logits: np.ndarray  # (S, K) log base probabilities
    correct: np.ndarray  # (S, K) bool
    format_answer: np.ndarray  # (S,) int, -1 = no format answer
    incorrect_label: np.ndarray  # (S,) int: the base policy's most likely wrong answer
    base_top: np.ndarray  # (S,) int: the base policy's most likely answer
    prior: np.ndarray  # (S,) total base probability on correct answers

    @property
    def shape(self) -> tuple[int, int]:
        return self.base_logits.shape

    @property
    def base_probs(self) -> np.ndarray:
        return np.exp(self.base_logits)

    def restricted(self, n: int) -> BanditTask:
        """The task of the first n prompts (the training prompts)."""
        return BanditTask(*(getattr(self, f.name)[:n] for f in fields(self)))


def prior_strengths(cfg: TaskConfig, rng: np.random.Generator) -> np.ndarray:
    """Per-prompt strengths: exact, or Beta with mean prior_strength and std prior_spread.

    Beta(m k, (1 - m) k) has mean m and variance m (1 - m) / (k + 1), so
    k = m (1 - m) / spread^2 - 1 (config checks spread^2 < m (1 - m)).
    """
    m, sd, n = cfg.prior_strength, cfg.prior_spread, cfg.num_prompts
    if sd == 0:
        return np.full(n, m)
    k = m * (1 - m) / sd**2 - 1
    return np.clip(rng.beta(m * k, (1 - m) * k, size=n), EDGE, 1 - cfg.format_mass - EDGE)


def _argmax_random_ties(values: np.ndarray, rng: np.random.Generator) -> int:
    best = np.flatnonzero(values == values.max())
    return int(best[rng.integers(best.size)]) if best.size > 1 else int(best[0])


def _argmax_random_ties_rows(values: list[np.ndarray], rng: np.random.Generator) -> list:
    """_argmax_random_ties of row s of each (S, K) array in `values`, drawing in the order
    row 0 of each array, row 1 of each, ...: the same numbers from rng as those calls
    in that order (a draw only where a row's maximum is tied), vectorised but the draws."""
    tied = [v == v.max(axis=1, keepdims=True) for v in values]
    counts = [t.sum(axis=1).tolist() for t in tied]  # Python ints, as best.size was
    picks = [[0] * len(c) for c in counts]
    for s in range(len(counts[0])):
        for c, pick in zip(counts, picks, strict=True):
            if c[s] > 1:
                pick[s] = int(rng.integers(c[s]))
    # the pick-th tied entry of each row: the first k whose running count of ties > pick
    return [
        np.argmax(t.cumsum(axis=1) > np.array(pick)[:, None], axis=1)
        for t, pick in zip(tied, picks, strict=True)
    ]


def build_bandit(cfg: TaskConfig) -> BanditTask:
    """The task of cfg, every array computed for all prompts at once, from the same
    draws in the same order as the per-prompt loop it replaced (prior strengths, then a
    permutation of the answers per prompt, then each prompt's tie-breaks: the incorrect
    label's, then the base top's); tests/test_task.py holds the two equal."""
    rng = np.random.default_rng(np.random.SeedSequence(cfg.seed))
    S, K, C = cfg.num_prompts, cfg.num_answers, cfg.num_correct
    prior = prior_strengths(cfg, rng)
    has_format = cfg.format_mass > 0
    n_other = K - C - int(has_format)

    # Generator.permuted along axis 1 shuffles each row as permutation(K) would, row
    # after row, from the same stream
    order = rng.permuted(np.broadcast_to(np.arange(K), (S, K)), axis=1)
    rows = np.arange(S)[:, None]
    correct = np.zeros((S, K), dtype=bool)
    correct[rows, order[:, :C]] = True
    probs = np.empty((S, K))
    probs[:] = ((1.0 - prior - cfg.format_mass) / n_other)[:, None]
    probs[rows, order[:, :C]] = (prior / C)[:, None]
    format_answer = np.full(S, -1, dtype=np.int64)
    if has_format:
        format_answer[:] = order[:, C]
        probs[np.arange(S), order[:, C]] = cfg.format_mass

    incorrect_label, base_top = _argmax_random_ties_rows(
        [np.where(correct, -1.0, probs), probs], rng
    )
    return BanditTask(
        np.log(probs),
        correct,
        format_answer,
        incorrect_label.astype(np.int64),
        base_top.astype(np.int64),
        prior,
    )
