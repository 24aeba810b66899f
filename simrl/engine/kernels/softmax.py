"""The per-state cache of log pi, pi and H, and the row reductions it uses."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from simrl.engine.kernels.fastmath import fast_exp_nonpos


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
def refresh_rows(z, logp, prob, ent, rows, n_rows, with_ent):
    """refresh_rows_into with a scratch buffer of its own."""
    refresh_rows_into(
        z, logp, prob, ent, rows, n_rows, with_ent, np.empty(n_rows * (z.shape[1] + 1))
    )


@njit(inline="always", cache=True)
def refresh_rows_into(z, logp, prob, ent, rows, n_rows, with_ent, buf):
    """log pi and pi of the states rows[:n_rows] from their logits (one exp per entry), and
    their H with with_ent (else `entropies` later: a step that reads no entropy before its
    end computes each moved state's once), in phases over the rows (max and shift, exp,
    then per state its normaliser, pi, log pi and H in one loop): the states are
    independent, so each phase's work overlaps across states where one state's chain could
    not. The exps run over one contiguous buffer (a loop that vectorises without per-row
    overhead). buf: scratch of at least n_rows (K + 1) floats.

    Each entry's arithmetic is the same as when the phases were separate loops (pi = e /
    sum, log pi = (z - max) - log sum, H = row_entropy's four partial sums over pi log pi
    in row_entropy's order), so the values are bitwise those of the separate passes."""
    K = z.shape[1]
    mx, e = buf[:n_rows], buf[n_rows : n_rows * (K + 1)]
    for i in range(n_rows):
        s = rows[i]
        m = z[s, 0]
        for k in range(1, K):
            if z[s, k] > m:
                m = z[s, k]
        mx[i] = m
        for k in range(K):
            e[i * K + k] = z[s, k] - m
    for j in range(n_rows * K):  # vectorised; z - max z <= 0
        e[j] = fast_exp_nonpos(e[j])
    e_rows = e.reshape(n_rows, K)
    for i in range(n_rows):
        s = rows[i]
        tot = row_sum(e_rows, i)
        lse = math.log(tot)
        inv = 1.0 / tot
        m = mx[i]
        if with_ent:
            ent[s] = normalise_row_entropy(z, e_rows, logp, prob, s, i, m, lse, inv)
        else:
            for k in range(K):
                prob[s, k] = e_rows[i, k] * inv
                logp[s, k] = z[s, k] - m - lse


@njit(inline="always", cache=True)
def normalise_row_entropy(z, e_rows, logp, prob, s, i, m, lse, inv):
    """prob[s] = e_rows[i] inv, logp[s] = z[s] - m - lse, and return H (row_entropy's
    arithmetic, its partial sums in its order) from those values in the same loop."""
    K = z.shape[1]
    a0 = a1 = a2 = a3 = 0.0
    k = 0
    while k + 4 <= K:
        p0, p1, p2, p3 = (
            e_rows[i, k] * inv, e_rows[i, k + 1] * inv, e_rows[i, k + 2] * inv,
            e_rows[i, k + 3] * inv,
        )  # fmt: skip
        l0, l1, l2, l3 = (
            z[s, k] - m - lse, z[s, k + 1] - m - lse, z[s, k + 2] - m - lse,
            z[s, k + 3] - m - lse,
        )  # fmt: skip
        prob[s, k], prob[s, k + 1], prob[s, k + 2], prob[s, k + 3] = p0, p1, p2, p3
        logp[s, k], logp[s, k + 1], logp[s, k + 2], logp[s, k + 3] = l0, l1, l2, l3
        a0 += weighted(p0, l0)
        a1 += weighted(p1, l1)
        a2 += weighted(p2, l2)
        a3 += weighted(p3, l3)
        k += 4
    while k < K:
        p0 = e_rows[i, k] * inv
        l0 = z[s, k] - m - lse
        prob[s, k] = p0
        logp[s, k] = l0
        a0 += weighted(p0, l0)
        k += 1
    return -((a0 + a1) + (a2 + a3))


@njit(cache=True)
def entropies(prob, logp, ent, rows, n_rows):
    """H of the states rows[:n_rows] from their cached log pi and pi."""
    for i in range(n_rows):
        s = rows[i]
        ent[s] = row_entropy(prob, logp, s)


@njit(cache=True)
def refresh_all(z, logp, prob, ent):
    """refresh_rows for every state, with H."""
    refresh_rows(z, logp, prob, ent, np.arange(z.shape[0]), z.shape[0], np.bool_(True))
