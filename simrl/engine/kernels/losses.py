"""The policy loss's place in a minibatch update: the ratio every loss reads, then the
run's loss (a first-class function: the compiled numba form of its module in
simrl/algorithms/losses/), then the clip and selection tallies."""

from __future__ import annotations

from numba import njit

from simrl.algorithms.tokens import TF_LOGP, TF_LOGP_OLD, TF_RATIO
from simrl.engine.kernels.fastmath import fast_exp


@njit(cache=True)
def token_losses(loss_fn, lp, tf, ti, b0, N, flags, first):
    """Tokens b0 .. b0 + N - 1 of the token tables: TF_RATIO = exp(logp - logp_old) (1 on
    the step's first update, where logp is logp_old), flags cleared, then the loss writes
    TF_DLOGP (d loss / d logp) and its flags (low, high, dual, selected)."""
    clear = flags[b0 : b0 + N].reshape(N * flags.shape[1])  # rows of a C array: a view
    for j in range(clear.shape[0]):  # one flat loop (a memset), not four strided stores
        clear[j] = 0
    ratio = tf[TF_RATIO, b0 : b0 + N]
    if first:
        for t in range(N):
            ratio[t] = 1.0
    else:
        logp, logp_old = tf[TF_LOGP, b0 : b0 + N], tf[TF_LOGP_OLD, b0 : b0 + N]
        for t in range(N):  # vectorised
            ratio[t] = fast_exp(logp[t] - logp_old[t])
    loss_fn(lp, tf, ti, b0, N, flags, first)


@njit(cache=True)
def clip_tally(N, weighted, tcount, flags, tally):
    """tally[0:5] += the N tokens' counts: all, clip low, clip high, dual clip, selected
    (flags, set by the loss). With weighted, token t counts tcount[t] (an exact
    entry's expected count); else 1, so the sums are integers, counted as such (the same
    values as sums of 1.0, in a loop that vectorises)."""
    if weighted:
        n0 = n1 = n2 = n3 = n4 = 0.0
        for t in range(N):
            tc = tcount[t]
            n0 += tc
            n1 += tc * flags[t, 0]
            n2 += tc * flags[t, 1]
            n3 += tc * flags[t, 2]
            n4 += tc * flags[t, 3]
    else:
        k1 = k2 = k3 = k4 = 0
        for t in range(N):
            k1 += flags[t, 0]
            k2 += flags[t, 1]
            k3 += flags[t, 2]
            k4 += flags[t, 3]
        n0, n1, n2, n3, n4 = float(N), float(k1), float(k2), float(k3), float(k4)
    add_tally(tally, n0, n1, n2, n3, n4)


@njit(inline="always", cache=True)
def add_tally(tally, n0, n1, n2, n3, n4):
    """tally[0:5] += the counts (clip_tally's end; update.accumulate counts the flags of
    unweighted tokens in its own loop)."""
    tally[0] += n0
    tally[1] += n1
    tally[2] += n2
    tally[3] += n3
    tally[4] += n4
