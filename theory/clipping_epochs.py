"""The expected clipped-GRPO step over several PPO epochs, exactly, by enumeration.

theory/clipping.py gives E[g] for one gradient at a logit vector z_theta that does not
depend on the sampled group; in a real multi-epoch step it does (NOTES.md, "Clipping bias
under answer-independent rewards", domain). Here the whole E-epoch map is enumerated
(NOTES.md, "Several epochs, exactly"): one state, z_0 = z_start (default z_old), a group of
G answers from pi_old with rewards i.i.d. Bernoulli(p) independent of the answers, and
E sgd steps on the same group,

    z_{e+1} = z_e - lr g(group, z_e),   g as in theory/clipping.py Eq. (1) with rho = pi_{z_e} / pi_old.

The map depends on the group only through the counts m[a, r] (g is symmetric in the
responses), so E[f(z_E)] = sum_m P(m) f(z_E(m)), m ~ Multinomial(G, pi_old(a) p^r (1-p)^(1-r)):
exact for any f, up to floating point, for E >= 1. Cost: `enumeration_terms(K, G)` count
vectors x E epochs x O(K).

`multi_epoch_bias` splits the change of a statistic (pi(top) by default) into what the
unclipped multi-epoch map does on its own and what clipping adds on top of it, so "the
clipping bias helps" can be told apart from "unclipped multi-epoch hurts".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from scipy.special import gammaln

from theory.clipping import (
    MAX_ENUMERATION_TERMS,
    _advantage_table,
    _check,
    _compositions,
    clipped_coefficient,
    enumeration_terms,
    group_advantages,
)
from theory.entropy import log_softmax


def _softmax_rows(z: np.ndarray) -> np.ndarray:
    return np.exp(log_softmax(z))


def _step_counts(
    z: np.ndarray,
    counts: np.ndarray,
    coef_adv: np.ndarray,
    log_pi_old: np.ndarray,
    lr: float,
    eps_low: float,
    eps_high: float,
    G: int,
) -> np.ndarray:
    """One sgd epoch for n groups at once. z (n, K); counts (n, K, 2); coef_adv (n, 2) the
    advantage of a reward-r response in each group. Returns z - lr g."""
    logp = log_softmax(z)  # (n, K)
    rho = np.exp(logp - log_pi_old[None, :])  # (n, K), as simrl computes the ratio
    c = clipped_coefficient(coef_adv[:, None, :], rho[:, :, None], eps_low, eps_high)  # (n,K,2)
    wa = (counts * c).sum(axis=2) / G  # (n, K): (1/G) sum_i c_i e_{a_i}
    g = wa - np.exp(logp) * wa.sum(axis=1, keepdims=True)
    return z - lr * g


def _group_table(z_old: np.ndarray, G: int, p: float):
    """Yield (counts (n, K, 2), probabilities (n,), ones T (n,)) over all count vectors."""
    K = z_old.size
    pi_old = _softmax_rows(z_old)
    with np.errstate(divide="ignore"):
        log_q = np.log(pi_old)[:, None] + np.log(np.array([1.0 - p, p]))[None, :]  # (K, 2)
    for block in _compositions(G, 2 * K):
        m = block.reshape(-1, K, 2)
        with np.errstate(invalid="ignore"):
            log_p = (
                gammaln(G + 1.0)
                - gammaln(m + 1.0).sum(axis=(1, 2))
                + np.where(m > 0, m * log_q, 0.0).sum(axis=(1, 2))
            )
        yield m.astype(float), np.exp(log_p), m[:, :, 1].sum(axis=1)


def expected_multi_epoch(
    z_old: np.ndarray,
    G: int,
    p: float,
    lr: float,
    epochs: int,
    eps_low: float,
    eps_high: float,
    advantage: str = "grpo",
    std_eps: float = 1e-6,
    ddof: int = 1,
    z_start: np.ndarray | None = None,
    stat: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """E[stat(z_E)] by exact enumeration; stat maps (n, K) logits to (n, ...) values and
    defaults to the logits themselves (then the result is E[z_E], (K,)). eps = inf turns
    clipping off. Refuses more than MAX_ENUMERATION_TERMS count vectors."""
    z_start = z_old if z_start is None else z_start
    z_old, z_start = _check(z_old, z_start, G, p, eps_low, eps_high, advantage, std_eps, ddof)
    if int(epochs) != epochs or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1, got {epochs}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    K = z_old.size
    n_terms = enumeration_terms(K, G)
    if n_terms > MAX_ENUMERATION_TERMS:
        raise ValueError(
            f"enumeration needs {n_terms:,} terms for K={K}, G={G}; the limit is "
            f"{MAX_ENUMERATION_TERMS:,}; use monte_carlo_multi_epoch"
        )
    stat = (lambda z: z) if stat is None else stat
    table = _advantage_table(G, advantage, std_eps, ddof)  # (G + 1, 2)
    log_pi_old = log_softmax(z_old)
    total = None
    for counts, prob, ones in _group_table(z_old, G, p):
        z = np.broadcast_to(z_start, counts.shape[:2]).copy()
        adv = table[ones]  # (n, 2)
        for _ in range(epochs):
            z = _step_counts(z, counts, adv, log_pi_old, lr, eps_low, eps_high, G)
        part = np.tensordot(prob, stat(z), axes=(0, 0))
        total = part if total is None else total + part
    return total


def multi_epoch_by_sequences(
    z_old: np.ndarray,
    G: int,
    p: float,
    lr: float,
    epochs: int,
    eps_low: float,
    eps_high: float,
    advantage: str = "grpo",
    std_eps: float = 1e-6,
    ddof: int = 1,
) -> np.ndarray:
    """E[z_E] by brute force over all (2K)^G ordered groups, each response's gradient term
    written out (no count vectors, no advantage table): an independent reference for tests."""
    import itertools

    z_old = np.asarray(z_old, dtype=float)
    K = z_old.size
    pi_old = _softmax_rows(z_old)
    out = np.zeros(K)
    for cells in itertools.product(range(2 * K), repeat=G):
        answers = np.array([c // 2 for c in cells])
        rewards = np.array([c % 2 for c in cells], dtype=float)
        prob = np.prod(pi_old[answers] * np.where(rewards == 1, p, 1 - p))
        if prob == 0:
            continue
        adv = group_advantages(rewards, advantage, std_eps, ddof)
        z = z_old.copy()
        for _ in range(epochs):
            pi = _softmax_rows(z)
            rho = np.exp(log_softmax(z) - log_softmax(z_old))
            g = np.zeros(K)
            for a, A in zip(answers, adv, strict=True):
                c = clipped_coefficient(A, rho[a], eps_low, eps_high)
                e = np.zeros(K)
                e[a] = 1.0
                g += c * (e - pi) / G
            z = z - lr * g
        out += prob * z
    return out


class MultiEpochBias(NamedTuple):
    base: float  # stat(z_start)
    unclipped: float  # E[stat(z_E)] without clipping
    clipped: float  # E[stat(z_E)] with clipping
    multi_epoch_effect: float  # unclipped - base: what several unclipped epochs do
    clipping_effect: float  # clipped - unclipped: what clipping adds


def multi_epoch_bias(
    z_old: np.ndarray,
    G: int,
    p: float,
    lr: float,
    epochs: int,
    eps_low: float,
    eps_high: float,
    advantage: str = "grpo",
    std_eps: float = 1e-6,
    ddof: int = 1,
    top: int | None = None,
) -> MultiEpochBias:
    """The split of E[pi_E(top)] - pi_old(top) (top = argmax pi_old unless given) into the
    unclipped multi-epoch effect and the clipping effect, both exact."""
    z_old = np.asarray(z_old, dtype=float)
    top = int(np.argmax(z_old)) if top is None else top

    def stat(z):
        return _softmax_rows(z)[:, top]

    args = (G, p, lr, epochs)
    kw = dict(advantage=advantage, std_eps=std_eps, ddof=ddof, stat=stat)
    unclipped = float(expected_multi_epoch(z_old, *args, np.inf, np.inf, **kw))
    clipped = float(expected_multi_epoch(z_old, *args, eps_low, eps_high, **kw))
    base = float(_softmax_rows(z_old)[top])
    return MultiEpochBias(base, unclipped, clipped, unclipped - base, clipped - unclipped)


def monte_carlo_multi_epoch(
    z_old: np.ndarray,
    G: int,
    p: float,
    lr: float,
    epochs: int,
    eps_low: float,
    eps_high: float,
    advantage: str = "grpo",
    std_eps: float = 1e-6,
    ddof: int = 1,
    *,
    n_samples: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """(mean, standard error) of z_E over n_samples sampled groups: an estimate, for tests."""
    z_old = np.asarray(z_old, dtype=float)
    K = z_old.size
    pi_old = _softmax_rows(z_old)
    answers = rng.choice(K, size=(n_samples, G), p=pi_old)
    rewards = (rng.random((n_samples, G)) < p).astype(float)
    adv = group_advantages(rewards, advantage, std_eps, ddof)  # (n, G)
    z = np.broadcast_to(z_old, (n_samples, K)).copy()
    rows = np.repeat(np.arange(n_samples), G)
    for _ in range(epochs):
        logp = log_softmax(z)
        rho = np.exp(logp - log_softmax(z_old)[None, :])
        c = clipped_coefficient(adv, rho[np.arange(n_samples)[:, None], answers], eps_low, eps_high)
        wa = np.bincount(
            rows * K + answers.ravel(), weights=(c / G).ravel(), minlength=n_samples * K
        )
        wa = wa.reshape(n_samples, K)
        z = z - lr * (wa - np.exp(logp) * wa.sum(axis=1, keepdims=True))
    return z.mean(axis=0), z.std(axis=0, ddof=1) / np.sqrt(n_samples)
