"""Exact metrics of the cached policy (metrics.eval_metrics) and the step's entropy change."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from simrl.engine.kernels.softmax import row_dot, row_dot_diff, weighted


@njit(cache=True)
def eval_row(prob, logp, ent, base_logp, correct, fmt, label, top, passk, n_train, out):
    """Exact eval metrics (metrics.eval_metrics) into out[: 10 + 2 len(passk)]: accuracy and
    pass@k on the training prompts 0..n_train-1, then on the held-out rest (NaN if none),
    then the other metrics on the training prompts."""
    S = prob.shape[0]
    npk = passk.shape[0]
    for i in range(2 + 2 * npk):
        out[i] = 0.0
    kl, mf, ml, mt = 0.0, 0.0, 0.0, 0.0
    has_fmt = True
    for s in range(S):
        pc = row_dot(prob, correct, s)
        held = s >= n_train
        c0 = 1 + npk if held else 0  # column of this prompt's set
        out[c0] += pc
        for i in range(npk):
            out[c0 + 1 + i] += 1.0 - int_power(1.0 - pc, passk[i])
        if held:
            continue
        kl += row_dot_diff(prob, logp, base_logp, s)  # KL(pi_s || base_s)
        if fmt[s] >= 0:
            mf += prob[s, fmt[s]]
        else:
            has_fmt = False
        ml += prob[s, label[s]]
        mt += prob[s, top[s]]
    n_held = S - n_train
    for i in range(1 + npk):
        out[i] /= n_train
        out[1 + npk + i] = out[1 + npk + i] / n_held if n_held > 0 else np.nan
    c = 2 + 2 * npk
    h = np.sort(ent[:n_train])
    tot = 0.0
    for s in range(n_train):
        tot += ent[s]
    out[c] = tot / n_train
    out[c + 1] = quantile_sorted(h, 0.1)
    out[c + 2] = quantile_sorted(h, 0.5)
    out[c + 3] = quantile_sorted(h, 0.9)
    out[c + 4] = kl / n_train
    out[c + 5] = mf / n_train if has_fmt else np.nan
    out[c + 6] = ml / n_train
    out[c + 7] = mt / n_train


@njit(inline="always", cache=True)
def int_power(x, n):
    """x ** n for an integer n >= 1 by repeated squaring (pass@k's (1 - p)^k)."""
    result = 1.0
    while n > 0:
        if n & 1:
            result *= x
        x *= x
        n >>= 1
    return result


@njit(cache=True)
def quantile_sorted(x, q):
    """numpy's default ('linear') quantile of sorted x, with numpy's own interpolation
    arithmetic (numpy.lib._function_base_impl._lerp: from the upper neighbour when the
    fraction is >= 1/2), so that a quantile used as a threshold (the forking-token rule)
    compares with the values exactly as the reference's does."""
    n = x.shape[0]
    h = (n - 1) * q
    if h >= n - 1:
        return x[n - 1]
    lo = math.floor(h)
    t = h - lo
    d = x[lo + 1] - x[lo]
    return x[lo + 1] - d * (1.0 - t) if t >= 0.5 else x[lo] + d * t


@njit(inline="always", cache=True)
def row_moved(z, z0, s, i):
    """Did the step change any logit of state s, saved in slot i of z0 (update.save_rows)?
    (the states whose entropy change is reported)"""
    for k in range(z.shape[1]):
        if z[s, k] != z0[i, k]:
            return True
    return False


@njit(inline="always", cache=True)
def entropy_change(z, z0, gh_old, ent_old, ent, logp_old, prob_old, logp, rows, n_rows, out):
    """The step's metrics of the moved states, in one pass over them: out[0], out[1] the
    means of exact dH and of -Cov_pi(log pi, dz), out[2] the mean exact KL(pi_old ||
    pi_new) (reference.step_kl_exact); NaN if none moved. rows[:n_rows] are the states the
    step may have moved (the others are unchanged), state rows[i] saved in slot i of the
    old arrays (update.save_rows); gh_old holds their entropy_grad, logp_old and prob_old
    their cache at the step's start (step.snapshot); logp is the cache after the step."""
    n, dh, fo, kl = 0, 0.0, 0.0, 0.0
    for i in range(n_rows):
        s = rows[i]
        if not row_moved(z, z0, s, i):
            continue
        n += 1
        dh += ent[s] - ent_old[i]
        f, k = row_first_order_kl(z, z0, gh_old, logp_old, prob_old, logp, s, i)
        fo -= f
        kl += k
    entropy_change_means(n, dh, fo, out)
    out[2] = kl / n if n > 0 else np.nan


@njit(inline="always", cache=True)
def row_first_order_kl(z, z0, gh_old, logp_old, prob_old, logp, s, i):
    """Two sums over the entries of state s (saved in slot i), in one loop: sum_k pi_old
    (log pi_old + H_old) dz (gh_old: its entropy_grad), minus its first-order entropy
    change (theory.entropy: the gradient first, then times dz), and its exact
    KL(pi_old || pi_new) = sum_k pi_old (l_old - l_new) (reference.step_kl_exact) from the
    step's starting cache and the new cache logp: no exp, the cache's values, within
    rounding of the reference's log_softmax (softmax.refresh_rows). An entry of
    probability 0 adds 0 (a padded entry's logp may be -inf). Each in two partial sums
    (even and odd k); the first-order sum's arithmetic is as before the fusion (bitwise),
    the KL's per-state sums are added to the step's where it once ran one sum over
    every entry (a few ulp apart; docs/performance.md)."""
    a0 = a1 = b0 = b1 = 0.0
    for k in range(z.shape[1]):  # a for loop: LLVM unrolls it (a while loop ran ~7x slower)
        x = gh_old[i, k] * (z[s, k] - z0[i, k])
        y = weighted(prob_old[i, k], logp_old[i, k] - logp[s, k])
        if k % 2 == 0:
            a0 += x
            b0 += y
        else:
            a1 += x
            b1 += y
    return a0 + a1, b0 + b1


@njit(inline="always", cache=True)
def ppo_kl_mean(tally, i):
    """verl's ppo_kl averaged over the step's minibatch updates: tally[i] holds the sum of
    the updates' values, tally[i + 1] their number (update.minibatch_ppo_kl)."""
    return tally[i] / tally[i + 1] if tally[i + 1] > 0 else np.nan


@njit(cache=True)
def minibatch_ppo_kl(tlogp, tlogp_old, tcount, weighted, N, tally, i):
    """verl's ppo_kl of one minibatch update (reference.minibatch_ppo_kl): the mean over
    its N tokens of logp_old - logp at the policy before the update, a token counting
    tcount[t] (an exact entry's expected count) with weighted, else 1; added to tally[i],
    with tally[i + 1] counting the updates. A non-finite value (a run that overflowed)
    is left out, as reference.mean_or_nan leaves it out."""
    num = den = 0.0
    for t in range(N):
        c = tcount[t] if weighted else 1.0
        num += c * (tlogp_old[t] - tlogp[t])
        den += c
    add_ppo_kl(num, den, tally, i)


@njit(inline="always", cache=True)
def add_ppo_kl(num, den, tally, i):
    """minibatch_ppo_kl's end, from its sums num and den (update.minibatch_gradient sums
    them in its gather loop)."""
    if den > 0 and np.isfinite(num / den):  # reference.mean_or_nan: a non-finite value is left out
        tally[i] += num / den
        tally[i + 1] += 1.0


@njit(inline="always", cache=True)
def entropy_grad(p, logp, h):
    """pi (log pi + H) of one entry (0 where pi = 0), minus the entropy's gradient in the
    logits (theory.entropy); saved per entry at a step's start for row_first_order_kl."""
    return weighted(p, logp + h)


@njit(inline="always", cache=True)
def entropy_change_means(n, dh, fo, out):
    """out = (exact dH, first order) averaged over the n moved states; NaN if none moved."""
    out[0] = dh / n if n > 0 else np.nan
    out[1] = fo / n if n > 0 else np.nan


#: the exponent field of a float64: all ones exactly for inf and NaN
EXPONENT_BITS = 0x7FF0000000000000


@njit(inline="always", cache=True)
def all_finite(a):
    """No inf or NaN in the contiguous float64 array a (reference.is_finite): the largest
    exponent field is not all ones. An integer max, which vectorises (a float reduction may
    not be reordered without fastmath)."""
    top = 0
    for b in a.ravel().view(np.int64):
        top = max(top, b & EXPONENT_BITS)
    return top != EXPONENT_BITS


@njit(inline="always", cache=True)
def rows_finite(a, rows, n_rows):
    """all_finite over the rows rows[:n_rows] of a (the only ones a step changed)."""
    bits = a.view(np.int64)
    top = 0
    for i in range(n_rows):
        top = max(top, row_top_exponent(bits, rows[i]))
    return top != EXPONENT_BITS


@njit(inline="always", cache=True)
def row_top_exponent(bits, s):
    """The largest exponent field of row s of a float64 array viewed as int64 (bits):
    EXPONENT_BITS exactly when the row holds an inf or NaN."""
    top = 0
    for k in range(bits.shape[1]):
        top = max(top, bits[s, k] & EXPONENT_BITS)
    return top
