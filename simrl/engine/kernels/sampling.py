"""One step's batch: prompt choice, inverse-CDF sampling, rewards, dynamic sampling,
advantages (reference.sampled_batch / exact_batch / advantages)."""

from __future__ import annotations

import numpy as np
from numba import njit

from simrl.engine.kernels.codes import (
    DS_OFF,
    DS_RESAMPLE,
    F_RPARAM,
    I_DS,
    I_G,
    I_LREWARD,
    I_LSAMPLE,
    I_LSEL,
    I_LTIE,
    I_NTRAIN,
    I_P,
    I_REW,
    I_REW_VOTES,
    I_ROUNDS,
)
from simrl.engine.kernels.copying import stable_argsort

# the reward registry's numba forms, and which of them read the likelihoods
from simrl.engine.kernels.dispatch import REWARD_READS_LIKELIHOOD, group_rewards

#: up to this many answers the draw counts the whole CDF (branch-free, vectorised); above
#: it a binary search (log2 K comparisons) is cheaper. Either gives the same answer.
LINEAR_CDF_MAX = 64


@njit(inline="always", cache=True)
def inverse_cdf(cdf, K, uu):
    """The answer drawn by uniform uu from the cumulative sums cdf[:K] of pi_old:
    numpy's min(searchsorted(cdf, uu, side="right"), K - 1) (reference.sample_answers),
    i.e. #{k < K - 1 : cdf[k] <= uu}, the first k < K - 1 with cdf[k] > uu, else K - 1.

    The predicate cdf[k] <= uu holds on a prefix of 0..K-2 and fails after it: the sums
    of non-negative terms never decrease, and once one is NaN every later one is (NaN <= uu
    is false, as NaN sorts last in searchsorted). So counting it (up to LINEAR_CDF_MAX
    answers: no branches, vectorised) and a binary search for its first failure give the
    same index for every uu (tests/engine/test_inverse_cdf.py, on adversarial CDFs)."""
    if K <= LINEAR_CDF_MAX:
        a = 0
        for k in range(K - 1):
            a += cdf[k] <= uu
        return a
    lo, hi = 0, K - 1  # the answer is in lo..hi; cdf[k] <= uu for every k < lo
    while lo < hi:
        mid = (lo + hi) >> 1  # < K - 1
        if cdf[mid] <= uu:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def plurality(ans, row, n, K, counts, u_tie):
    """The most frequent answer among ans[row, :n], ties broken by u_tie (uniform)."""
    for k in range(K):
        counts[k] = 0
    for i in range(n):
        counts[ans[row, i]] += 1
    best = 0
    for k in range(K):
        if counts[k] > best:
            best = counts[k]
    n_tied = 0
    for k in range(K):
        if counts[k] == best:
            n_tied += 1
    pick = min(int(u_tie * n_tied), n_tied - 1)
    for k in range(K):
        if counts[k] == best:
            if pick == 0:
                return k
            pick -= 1
    return -1


@njit(cache=True)
def select_prompts(u, off, n, S, P, out):
    """All prompts in order, or the first P of the argsort of the keys u[off : off + n]
    (numpy's stable mergesort order: copying.stable_argsort)."""
    if P == S:
        for i in range(S):
            out[i] = i
    else:
        order = np.empty(n, dtype=np.int64)
        stable_argsort(u[off : off + n], order, np.empty(n, dtype=np.int64))
        for i in range(P):
            out[i] = order[i]


@njit(cache=True)
def collect_batch(run, u, prob_old, task, ws):
    """Sample, reward and filter one step's groups (reference.sampled_batch) into the bandit
    workspace ws, for the run's parameters run and its task (workspace.py). Returns n_groups.

    Each group is written straight into the next free batch row and the row is kept (the
    count advances) or overwritten; bans and brew have P + 1 rows for that.
    stats[0] = reward mean and stats[1] = zero-variance share of the first round.
    """
    fp, ip = run.fp, run.ip
    correct, fmt, label = task.correct, task.fmt, task.label
    bprompt, bans, brew, order, cdf, counts = (
        ws.bprompt,
        ws.bans,
        ws.brew,
        ws.order,
        ws.cdf,
        ws.counts,
    )
    stats = ws.stats
    K = prob_old.shape[1]
    S = ip[I_NTRAIN]  # prompts are drawn from the training prompts 0..S-1
    P, G, rounds = ip[I_P], ip[I_G], ip[I_ROUNDS]
    L_sel, L_sample, L_reward, L_tie = ip[I_LSEL], ip[I_LSAMPLE], ip[I_LREWARD], ip[I_LTIE]
    rsize = L_sel + L_sample + L_reward + L_tie
    code, mode = ip[I_REW], ip[I_DS]
    bern = fp[F_RPARAM]
    votes = ip[I_REW_VOTES] == 1
    needs_lik = REWARD_READS_LIKELIHOOD[code] == 1
    blik = ws.blik
    n_kept = np.int64(0)  # not Literal[int] (step.step_run)
    for rnd in range(rounds):
        base = rnd * rsize
        select_prompts(u, base, L_sel, S, P, order)
        n_inf = 0
        rsum = 0.0
        for i in range(P):
            s = order[i]
            row = n_kept
            c = 0.0
            for k in range(K):
                c += prob_old[s, k]
                cdf[k] = c
            off = base + L_sel + i * G
            for g in range(G):
                bans[row, g] = inverse_cdf(cdf, K, u[off + g])
            winner = -1
            if votes:
                winner = plurality(
                    bans, row, G, K, counts, u[base + L_sel + L_sample + L_reward + i]
                )
            if needs_lik:  # a response's likelihood under pi_old is pi_old(a | s)
                for g in range(G):
                    blik[row, g] = prob_old[s, bans[row, g]]
            roff = base + L_sel + L_sample + i * G
            group_rewards(
                code, s, bans, row, G, correct, fmt, label, u, roff, bern, winner, blik, brew
            )
            n_same = 0
            for g in range(G):
                rsum += brew[row, g]
                n_same += brew[row, g] == brew[row, 0]
            informative = n_same != G
            n_inf += informative
            if mode == DS_OFF or (informative and n_kept < P):
                bprompt[row] = s
                n_kept += 1
        if rnd == 0:
            stats[0] = rsum / (P * G)
            stats[1] = 1.0 - n_inf / P
        if mode != DS_RESAMPLE or n_kept == P:
            break
    return n_kept


@njit(cache=True)
def exact_batch(run, u, prob_old, task, ws):
    """Every answer of each chosen prompt, weighted G pi_old(a) (reference.exact_batch),
    into the bandit workspace ws (workspace.py)."""
    ip = run.ip
    correct, fmt, label = task.correct, task.fmt, task.label
    bprompt, bans, brew, bcount, badv, stats = (
        ws.bprompt,
        ws.bans,
        ws.brew,
        ws.bcount,
        ws.badv,
        ws.stats,
    )
    K = prob_old.shape[1]
    S = ip[I_NTRAIN]
    P, G = ip[I_P], ip[I_G]
    select_prompts(u, np.int64(0), ip[I_LSEL], S, P, bprompt)
    tot, n_zero = 0.0, 0
    for j in range(P):
        s = bprompt[j]
        expected = 0.0
        lo, hi = 1.0, 0.0
        for a in range(K):
            bans[j, a] = a
        group_rewards(ip[I_REW], s, bans, j, K, correct, fmt, label, u, 0, 0.0, -1, ws.blik, brew)
        for a in range(K):
            r = brew[j, a]
            bcount[j, a] = G * prob_old[s, a]
            expected += prob_old[s, a] * r
            lo = min(lo, r)
            hi = max(hi, r)
        for a in range(K):
            badv[j, a] = brew[j, a] - expected
        tot += expected
        if lo == hi:
            n_zero += 1
    stats[0] = tot / P
    stats[1] = n_zero / P
    return P
