"""The built-in reasoning family of sequence tasks (`task.kind = "sequence"`): one
instance of simrl/tasks/sequence.py's GraphBuilder interface.

  token 0        the reasoning mode, out of num_modes (shared row by default),
  tokens 1..R    reasoning tokens (R = reasoning_tokens): peaked states (the likely token has peak_mass) and, at
                 fork_positions, high-entropy forks (entropy fork_entropy) each with one
                 good token; with end_prob > 0 an end token closes the reasoning early
                 from position min_steps on,
  answer         answer = 'policy': an answer token (the correct value has the mode's
                 accuracy as its base probability); answer = 'env': no token, the
                 environment's outcome given mode and forks,
  format         with format_mass > 0, a last token: 1 = the format marker, 0 = none.

The probability that the answer is correct is mode_accuracy[mode] * (1 - e + e * g / F)
with g good fork choices out of F forks and e = fork_effect. Wrong answers put half of
their mass on the mode's typical wrong value and spread the rest evenly (WRONG_PEAK), so
that majority voting can agree on a wrong answer.
"""

from __future__ import annotations

import math

import numpy as np

from simrl.config import TaskConfig
from simrl.tasks.sequence import GraphBuilder, SequenceTask

#: share of a wrong answer's mass on the mode's typical wrong value (the rest evenly)
WRONG_PEAK = 0.5
#: base probabilities of policy tokens are kept in [EDGE, 1 - EDGE] (finite logits)
EDGE = 1e-6


def top_mass_for_entropy(h: float, n: int) -> float:
    """The mass t of the top token of an n-token distribution (t, then (1-t)/(n-1) each)
    whose entropy is h nats (0 < h < ln n); bisection, H is decreasing in t on [1/n, 1)."""
    lo, hi = 1.0 / n, 1.0 - 1e-15

    def ent(t: float) -> float:
        r = (1.0 - t) / (n - 1)
        return -t * math.log(t) - (1.0 - t) * math.log(r)

    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if ent(mid) > h else (lo, mid)
    return 0.5 * (lo + hi)


def mode_probs(cfg: TaskConfig) -> np.ndarray:
    M = cfg.num_modes
    if cfg.mode_prior:
        return np.array(cfg.mode_prior, dtype=float)
    if M == 1:
        return np.ones(1)
    best = int(np.argmax(cfg.mode_accuracy))
    p = np.full(M, (1.0 - cfg.prior_strength) / (M - 1))
    p[best] = cfg.prior_strength
    return p


def answer_probs(q: float, correct: int, typical_wrong: int, A: int) -> np.ndarray:
    """Correct value q; the mode's typical wrong value WRONG_PEAK of the rest (all of it
    when A = 2), the other wrong values the remainder evenly."""
    p = np.zeros(A)
    p[correct] = q
    if A == 2:
        p[typical_wrong] += 1.0 - q
        return p
    others = [a for a in range(A) if a not in (correct, typical_wrong)]
    p[typical_wrong] += (1.0 - q) * WRONG_PEAK
    p[others] += (1.0 - q) * (1.0 - WRONG_PEAK) / len(others)
    return p


def build_sequence(cfg: TaskConfig) -> SequenceTask:
    """The built-in reasoning family (module docstring), drawn from cfg.seed alone."""
    return _Reasoning(cfg).build()


class _Reasoning:
    """Builds the reasoning family prompt by prompt (module docstring)."""

    def __init__(self, cfg: TaskConfig):
        self.cfg = cfg
        self.rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 2]))
        self.forks = sorted(set(cfg.fork_positions))
        self.t_fork = top_mass_for_entropy(cfg.fork_entropy, cfg.vocab) if self.forks else 0.0
        self.g = GraphBuilder(cfg.num_prompts, cfg.num_answers, num_modes=cfg.num_modes)
        self.correct = self.rng.integers(cfg.num_answers, size=cfg.num_prompts)

    def build(self) -> SequenceTask:
        cfg, g = self.cfg, self.g
        for s in range(cfg.num_prompts):
            root = g.state(s, mode_probs(cfg), row="mode" if cfg.share_mode_state else None)
            g.root(s, root)
            cache: dict[tuple, tuple[str, int]] = {}
            for m in range(cfg.num_modes):
                self.reasoning(s, m, root, cache)
        return g.build([int(c) for c in self.correct], name="reasoning")

    def accuracy(self, m: int, good: int) -> float:
        e, F = self.cfg.fork_effect, len(self.forks)
        return self.cfg.mode_accuracy[m] * ((1.0 - e) + (e * good / F if F else e))

    def reasoning(self, s: int, m: int, root: int, cache: dict) -> None:
        """States (mode m, position p, good forks so far) and their tokens."""
        cfg, g, V = self.cfg, self.g, self.cfg.vocab
        prev: dict[int, int] = {}
        prev_fork, prev_good = False, -1
        for p in range(cfg.reasoning_tokens):
            is_fork = p in self.forks
            n_good = sum(1 for f in self.forks if f < p)
            top = int(self.rng.integers(V))
            good_tok = int(self.rng.integers(V)) if is_fork else -1
            mass = self.t_fork if is_fork else cfg.peak_mass
            probs = np.full(V, (1.0 - mass) / (V - 1))
            probs[top] = mass
            can_end = cfg.end_prob > 0 and p >= cfg.min_steps
            if can_end:
                probs = np.r_[probs * (1.0 - cfg.end_prob), cfg.end_prob]
            here = {gd: g.state(s, probs, fork=is_fork) for gd in range(n_good + 1)}
            if p == 0:
                g.connect(root, m, here[0])
            for gd, node in prev.items():
                for tok in range(V):
                    g.connect(node, tok, here[gd + (prev_fork and tok == prev_good)])
            if can_end:  # the end token (index V) closes the reasoning at position p
                for gd, node in here.items():
                    g.link(node, V, self.post(s, m, gd, p, cache))
            prev, prev_fork, prev_good = here, is_fork, good_tok
        for gd, node in prev.items():  # after the last reasoning token
            for tok in range(V):
                good = gd + (prev_fork and tok == prev_good)
                g.link(node, tok, self.post(s, m, good, cfg.reasoning_tokens, cache))

    def post(self, s: int, m: int, good: int, ended_at: int, cache: dict) -> tuple[str, int]:
        """What follows reasoning that ended at position `ended_at` (reasoning_tokens = ran to the
        end): the answer token or the environment's answer, then the format token."""
        key = (m, good, ended_at)
        if key not in cache:
            cfg, g, A = self.cfg, self.g, self.cfg.num_answers
            c = int(self.correct[s])
            wrong = [a for a in range(A) if a != c]
            dist = answer_probs(self.accuracy(m, good), c, wrong[m % len(wrong)], A)
            if cfg.answer == "policy":
                probs = np.clip(dist, EDGE, None)
                node = g.state(s, probs / probs.sum())
                for a in range(A):
                    g.link(node, a, self.finish(s, m, a))
                cache[key] = ("node", node)
            else:
                cache[key] = self.finish(s, m, {a: dist[a] for a in range(A) if dist[a] > 0})
        return cache[key]

    def finish(self, s: int, m: int, answer) -> tuple[str, int]:
        cfg, g = self.cfg, self.g
        if cfg.format_mass == 0:
            return ("leaf", g.leaf(s, answer, mode=m))
        row = "format" if cfg.share_mode_state else ("format", s)
        f = g.state(s, [1.0 - cfg.format_mass, cfg.format_mass], row=row)
        g.connect_leaf(f, 0, g.leaf(s, answer, format=False, mode=m))
        g.connect_leaf(f, 1, g.leaf(s, answer, format=True, mode=m))
        return ("node", f)
