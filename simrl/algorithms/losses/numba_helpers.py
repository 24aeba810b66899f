"""numba forms of the rules several losses share, and of the longer token loops of some
losses (their numpy and torch forms are in ppo_clip.py, covariance.py, response.py and
the loss modules beside this file). None allocates: they run once per minibatch. Loss modules reach them through
simrl.algorithms.nb."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from simrl.algorithms.losses.covariance import COV_RANK_GRID
from simrl.algorithms.losses.dppo import KL_GUARD
from simrl.engine.kernels.fastmath import fast_exp  # also nb.fast_exp


@njit(cache=True)
def ppo_clip(N, ratio, adv, clip_low, clip_high, dual, flags, td):
    """td = d loss / d logp of max(-A r, -A clip(r)), then the dual clip (ppo_clip.ppo_clip);
    sets flags (low, high, dual). Written without branches: the signs and clip events are
    data, not predictable."""
    for t in range(N):
        r, A = ratio[t], adv[t]
        high = (A > 0) & (r > 1.0 + clip_high)
        low = (A < 0) & (r < 1.0 - clip_low)
        du = (dual > 0) & (A < 0) & (r > dual)
        flags[t, 0] = low
        flags[t, 1] = high
        flags[t, 2] = du
        td[t] = 0.0 if (high | low | du) else -A * r


@njit(cache=True)
def token_covariance(N, adv, logp, cov):
    """cov = (A - mean A)(logp - mean logp) over the N tokens (covariance.token_covariance)."""
    ma, ml = 0.0, 0.0
    for t in range(N):
        ma += adv[t]
        ml += logp[t]
    ma /= N
    ml /= N
    for t in range(N):
        cov[t] = (adv[t] - ma) * (logp[t] - ml)


@njit(cache=True)
def covariance_rank_order(N, cov):
    """Token indices by descending covariance on the COV_RANK_GRID (ties by token order),
    as covariance.covariance_rank; overwrites cov with the negated rank keys."""
    for t in range(N):
        cov[t] = -np.floor(cov[t] * (1.0 / COV_RANK_GRID) + 0.5)
    return np.argsort(cov[:N], kind="mergesort")


@njit(cache=True)
def clamped_weight(N, lower, upper, adv, ratio, flags, td):
    """CISPO (cispo.py): td = -clip(r, lower, upper) A, flags = (r < lower, r > upper)."""
    for t in range(N):
        r = ratio[t]
        low = r < lower
        high = r > upper
        flags[t, 0] = low
        flags[t, 1] = high
        w = lower if low else (upper if high else r)
        td[t] = -w * adv[t]


@njit(cache=True)
def response_reduce(N, x, seq, mean, length, out):
    """out[t] = the sum (mean when `mean`) of x over token t's response, summed in token
    order (response.response_reduce); the mean divides by length[t], the response's length
    as the token table carries it, or with length None by its token count. A response's
    tokens are consecutive columns of the token table (the kernels write them so), so a
    response is a run of equal `seq`: one pass, no scratch. out may be x."""
    t = 0
    while t < N:
        end = t + 1
        while end < N and seq[end] == seq[t]:
            end += 1
        total = 0.0
        for u in range(t, end):
            total += x[u]
        if mean:
            if length is None:
                total /= end - t
            else:
                total /= length[t]
        for u in range(t, end):
            out[u] = total
        t = end


@njit(cache=True)
def response_mean(N, x, seq, length, out):
    """out[t] = the mean of x over token t's response, over its length[t]
    (response.response_mean). out may be x."""
    response_reduce(N, x, seq, True, length, out)


@njit(cache=True)
def response_log_ratio(N, logp, logp_old, seq, mean, clamp, out):
    """out[t] = the sum (mean when `mean`) over t's response of clip(logp - logp_old,
    -clamp, clamp) (response.response_log_ratio). out must not be logp or logp_old."""
    for t in range(N):
        out[t] = min(max(logp[t] - logp_old[t], -clamp), clamp)
    response_reduce(N, out, seq, mean, None, out)


@njit(cache=True)
def off_policy_mask(N, threshold, adv, logp, logp_old, seq, work, flags, td):
    """TRL's off-policy sequence mask (opsm.py): a response with A < 0 whose mean
    log(pi_old / pi) exceeds `threshold` gets td = 0 and the selected flag; off when
    threshold is 0. Overwrites work."""
    if threshold <= 0.0:
        return
    response_log_ratio(N, logp, logp_old, seq, True, np.inf, work)
    for t in range(N):
        drop = (adv[t] < 0.0) & (-work[t] > threshold)
        flags[t, 3] = drop
        if drop:
            td[t] = 0.0


@njit(cache=True)
def dppo(N, kl, clip_low, clip_high, cap, adv, ratio, logp, logp_old, flags, td):
    """DPPO (dppo.py): td = -A min(r, cap) where the token stays in the trust region in its
    advantage's direction, else 0; Binary-TV (kl False) or Binary-KL (kl True) region;
    flags (low, high, dual) as dppo._out."""
    for t in range(N):
        prob, prob_old = fast_exp(logp[t]), fast_exp(logp_old[t])
        if kl:
            d = prob_old * (logp_old[t] - logp[t]) + (1.0 - prob_old) * math.log(
                (1.0 - prob_old + KL_GUARD) / (1.0 - prob + KL_GUARD)
            )
            up_ok = (d <= clip_high) | (prob <= prob_old)
            down_ok = (d <= clip_low) | (prob >= prob_old)
        else:
            up_ok = prob - prob_old <= clip_high
            down_ok = prob - prob_old >= -clip_low
        pos = adv[t] > 0
        valid = up_ok if pos else down_ok
        flags[t, 0] = (not pos) and (not valid)
        flags[t, 1] = pos and (not valid)
        flags[t, 2] = valid and (ratio[t] > cap)
        td[t] = -adv[t] * min(ratio[t], cap) if valid else 0.0
