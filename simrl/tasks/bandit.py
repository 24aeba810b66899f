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


def build_bandit(cfg: TaskConfig) -> BanditTask:
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
    return BanditTask(np.log(probs), correct, format_answer, incorrect_label, base_top, prior)
