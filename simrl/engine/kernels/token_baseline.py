"""The per-token baselines of an advantage estimator with `token_baseline` (verl's
optimal_token_baseline; simrl/algorithms/advantages/optimal_token_baseline.py, whose numpy
form is the specification): the estimator's numba form wrote each response's return
A = r, and these subtract B_t = sum_i r_i W_{i,t} / (sum_i W_{i,t} + 1e-8) per group and
position, W the cumulative 1 - 2 pi_old(y) + sum_v pi_old(v)^2 along each response, with
verl's zero tail (a strictly longest response keeps A = r from the second-longest length
on) and no baseline for a group of one."""

from __future__ import annotations

from numba import njit

from simrl.algorithms.tokens import TF_ADV, TI_ROW, TI_TOK

EPS = 1e-8  # optimal_token_baseline.EPS (verl's epsilon)


@njit(cache=True)
def sum_sq(prob, row):
    """sum_v prob[row, v]^2 (the padding's probabilities are 0)."""
    acc = 0.0
    for v in range(prob.shape[1]):
        acc += prob[row, v] * prob[row, v]
    return acc


@njit(cache=True)
def bandit_token_baselines(prob_old, bprompt, bans, brew, badv, n_groups, G):
    """One token per response: badv[j, i] = r - sum_i r_i w_i / (sum_i w_i + 1e-8),
    w_i = 1 - 2 pi_old(a_i | s) + sum_a pi_old(a | s)^2 (badv holds the returns)."""
    if G == 1:
        return
    for j in range(n_groups):
        s = bprompt[j]
        sq = sum_sq(prob_old, s)
        num = 0.0
        den = 0.0
        for i in range(G):
            w = 1.0 - 2.0 * prob_old[s, bans[j, i]] + sq
            num += brew[j, i] * w
            den += w
        base = num / (den + EPS)
        for i in range(G):
            badv[j, i] = brew[j, i] - base


@njit(cache=True)
def sequence_token_baselines(prob, tf, ti, gstart, lens, brew, n_groups, G):
    """The sequence batch's token advantages tf[TF_ADV] (each token holding its response's
    return r) minus the per-position baselines of its group; lens[j, i] the lengths
    (responses are consecutive columns from gstart[j]). TF_ADV first holds each token's
    cumulative W, then its advantage."""
    if G == 1:
        return
    for j in range(n_groups):
        k = gstart[j]
        longest, second, n_longest = 0, 0, 0
        for i in range(G):  # W along each response, into TF_ADV
            L = int(lens[j, i])
            acc = 0.0
            for t in range(L):
                row, a = ti[TI_ROW, k + t], ti[TI_TOK, k + t]
                acc += 1.0 - 2.0 * prob[row, a] + sum_sq(prob, row)
                tf[TF_ADV, k + t] = acc
            k += L
            if L > longest:
                second, longest, n_longest = longest, L, 1
            elif L == longest:
                n_longest += 1
                second = L
            elif L > second:
                second = L
        tail = n_longest == 1 and longest > second  # verl's handle_zero_tail
        for t in range(longest):
            num = 0.0
            den = 0.0
            k = gstart[j]
            for i in range(G):
                L = int(lens[j, i])
                if t < L:
                    w = tf[TF_ADV, k + t]
                    num += brew[j, i] * w
                    den += w
                k += L
            base = num / (den + EPS)
            k = gstart[j]
            for i in range(G):
                L = int(lens[j, i])
                if t < L:
                    b = 0.0 if tail and L == longest and t >= second else base
                    tf[TF_ADV, k + t] = brew[j, i] - b
                k += L
