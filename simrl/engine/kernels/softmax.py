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
def row_dot_diff(x, y, w, s):
    """sum_k x[s, k] * (y[s, k] - w[s, k]) with four partial sums."""
    K = x.shape[1]
    a0 = a1 = a2 = a3 = 0.0
    k = 0
    while k + 4 <= K:
        a0 += x[s, k] * (y[s, k] - w[s, k])
        a1 += x[s, k + 1] * (y[s, k + 1] - w[s, k + 1])
        a2 += x[s, k + 2] * (y[s, k + 2] - w[s, k + 2])
        a3 += x[s, k + 3] * (y[s, k + 3] - w[s, k + 3])
        k += 4
    while k < K:
        a0 += x[s, k] * (y[s, k] - w[s, k])
        k += 1
    return (a0 + a1) + (a2 + a3)


@njit(cache=True)
def refresh_row(z, logp, prob, ent, s):
    """log pi, pi and H of state s from its logits (one exp per entry)."""
    K = z.shape[1]
    m = z[s, 0]
    for k in range(1, K):
        if z[s, k] > m:
            m = z[s, k]
    for k in range(K):  # vectorised
        prob[s, k] = fast_exp(z[s, k] - m)
    tot = row_sum(prob, s)
    lse = math.log(tot)
    inv = 1.0 / tot
    for k in range(K):  # vectorised
        logp[s, k] = z[s, k] - m - lse
        prob[s, k] *= inv
    ent[s] = -row_dot(prob, logp, s)  # pi = 0 has a finite log pi here, so 0 * l = 0


@njit(cache=True)
def refresh_all(z, logp, prob, ent):
    """refresh_row for every state (the same arithmetic), as flat loops that vectorise."""
    S, K = z.shape
    mx, lse = np.empty(S), np.empty(S)
    for s in range(S):
        m = z[s, 0]
        for k in range(1, K):
            if z[s, k] > m:
                m = z[s, k]
        mx[s] = m
    for s in range(S):
        for k in range(K):
            prob[s, k] = fast_exp(z[s, k] - mx[s])
    for s in range(S):
        tot = row_sum(prob, s)
        lse[s] = math.log(tot)
        inv = 1.0 / tot
        for k in range(K):
            prob[s, k] *= inv
    for s in range(S):
        for k in range(K):
            logp[s, k] = z[s, k] - mx[s] - lse[s]
    for s in range(S):
        ent[s] = -row_dot(prob, logp, s)
