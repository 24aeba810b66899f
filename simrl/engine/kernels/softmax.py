"""The per-state cache of log pi, pi and H, and the row reductions it uses."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from simrl.engine.kernels.fastmath import fast_exp


@njit(inline="always", cache=True)
def row_sum(x, s):
    """sum_k x[s, k] with four partial sums (short dependency chains)."""
    K = x.shape[1]
    a0 = a1 = a2 = a3 = 0.0
    k = 0
    while k + 4 <= K:
        a0 += x[s, k]
        a1 += x[s, k + 1]
        a2 += x[s, k + 2]
        a3 += x[s, k + 3]
        k += 4
    while k < K:
        a0 += x[s, k]
        k += 1
    return (a0 + a1) + (a2 + a3)


@njit(inline="always", cache=True)
def row_dot(x, y, s):
    """sum_k x[s, k] * y[s, k] with four partial sums."""
    K = x.shape[1]
    a0 = a1 = a2 = a3 = 0.0
    k = 0
    while k + 4 <= K:
        a0 += x[s, k] * y[s, k]
        a1 += x[s, k + 1] * y[s, k + 1]
        a2 += x[s, k + 2] * y[s, k + 2]
        a3 += x[s, k + 3] * y[s, k + 3]
        k += 4
    while k < K:
        a0 += x[s, k] * y[s, k]
        k += 1
    return (a0 + a1) + (a2 + a3)


@njit(inline="always", cache=True)
def weighted(p, y):
    """p * y, and 0 where p = 0 (theory.entropy's np.where(pi > 0, ...)): a probability
    that underflowed has log pi = -inf when the logits span more than the float range."""
    return p * y if p > 0.0 else 0.0


@njit(inline="always", cache=True)
def row_dot_diff(x, y, w, s):
    """sum_k x[s, k] * (y[s, k] - w[s, k]) over x[s, k] > 0, with four partial sums (a
    pi-weighted sum: KL(pi || base))."""
    K = x.shape[1]
    a0 = a1 = a2 = a3 = 0.0
    k = 0
    while k + 4 <= K:
        a0 += weighted(x[s, k], y[s, k] - w[s, k])
        a1 += weighted(x[s, k + 1], y[s, k + 1] - w[s, k + 1])
        a2 += weighted(x[s, k + 2], y[s, k + 2] - w[s, k + 2])
        a3 += weighted(x[s, k + 3], y[s, k + 3] - w[s, k + 3])
        k += 4
    while k < K:
        a0 += weighted(x[s, k], y[s, k] - w[s, k])
        k += 1
    return (a0 + a1) + (a2 + a3)


@njit(inline="always", cache=True)
def row_entropy(prob, logp, s):
    """-sum_k pi log pi over pi > 0, with four partial sums."""
    K = prob.shape[1]
    a0 = a1 = a2 = a3 = 0.0
    k = 0
    while k + 4 <= K:
        a0 += weighted(prob[s, k], logp[s, k])
        a1 += weighted(prob[s, k + 1], logp[s, k + 1])
        a2 += weighted(prob[s, k + 2], logp[s, k + 2])
        a3 += weighted(prob[s, k + 3], logp[s, k + 3])
        k += 4
    while k < K:
        a0 += weighted(prob[s, k], logp[s, k])
        k += 1
    return -((a0 + a1) + (a2 + a3))


@njit(cache=True)
def refresh_rows(z, logp, prob, ent, rows, n_rows):
    """log pi, pi and H of the states rows[:n_rows] from their logits (one exp per entry),
    in phases over the rows (max, exp, normaliser, log pi, H): the states are independent,
    so each phase's work overlaps across states where one state's chain could not."""
    K = z.shape[1]
    mx, lse = np.empty(n_rows), np.empty(n_rows)
    for i in range(n_rows):
        s = rows[i]
        m = z[s, 0]
        for k in range(1, K):
            if z[s, k] > m:
                m = z[s, k]
        mx[i] = m
    for i in range(n_rows):
        s = rows[i]
        for k in range(K):  # vectorised
            prob[s, k] = fast_exp(z[s, k] - mx[i])
    for i in range(n_rows):
        s = rows[i]
        tot = row_sum(prob, s)
        lse[i] = math.log(tot)
        inv = 1.0 / tot
        for k in range(K):
            prob[s, k] *= inv
    for i in range(n_rows):
        s = rows[i]
        for k in range(K):
            logp[s, k] = z[s, k] - mx[i] - lse[i]
    for i in range(n_rows):
        s = rows[i]
        ent[s] = row_entropy(prob, logp, s)


@njit(cache=True)
def refresh_all(z, logp, prob, ent):
    """refresh_rows for every state."""
    refresh_rows(z, logp, prob, ent, np.arange(z.shape[0]), z.shape[0])
