"""Per-token policy losses: d loss / d logp and the clip / selection flags (simrl/losses.py)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from simrl.engine.kernels.codes import (
    COV_RANK_GRID,
    F_CC_LB,
    F_CC_RATIO,
    F_CC_UB,
    F_CLIP_HIGH,
    F_CLIP_LOW,
    F_DUAL,
    F_KC_COEF,
    F_KC_RATIO,
    F_SK,
    F_SW_MAX,
    F_SW_MIN,
    I_LOSS,
    I_SMODE,
    L_CLIPCOV,
    L_PG,
    L_STEER,
    L_VANILLA,
    SM_LINEAR,
    STEER_K_FLOOR,
    STEER_PROB_FLOOR,
)
from simrl.engine.kernels.fastmath import fast_exp


@njit(cache=True)
def ppo_clip(N, ratio, adv, clip_low, clip_high, dual, flags, td):
    """d loss / d logp of max(-A r, -A clip(r)), then dual clip (losses.ppo_clip); sets flags.

    Written without branches: the signs and clip events are data, not predictable.
    """
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
def token_losses(fp, ip, N, tlogp, tlogp_old, tadv, tent_old, tkeys, td, flags, work, ratio, first):
    """dlogp (td) and flags (low, high, dual, selected) of N tokens (the policy-loss registry)."""
    code = ip[I_LOSS]
    cl, ch = fp[F_CLIP_LOW], fp[F_CLIP_HIGH]
    for t in range(N):
        flags[t, 0] = flags[t, 1] = flags[t, 2] = flags[t, 3] = 0
    if first:  # the step's first update: logp is logp_old, so exp(0) = 1 exactly
        for t in range(N):
            ratio[t] = 1.0
    else:
        for t in range(N):  # vectorised
            ratio[t] = fast_exp(tlogp[t] - tlogp_old[t])
    if code == L_PG:
        for t in range(N):
            td[t] = -tadv[t] * ratio[t]
        return
    if code == L_VANILLA or code == L_STEER:
        if first:  # ratio 1: inside every clip band (clip_low, clip_high >= 0, dual_clip > 1)
            for t in range(N):
                td[t] = -tadv[t]
        else:
            ppo_clip(N, ratio, tadv, cl, ch, fp[F_DUAL], flags, td)
        if code == L_STEER:
            steer_scale(fp, ip, N, tlogp, tlogp_old, tadv, tent_old, td, work)
        return
    # covariance-based: (A - mean A)(logp - mean logp) over the minibatch
    ma, ml = 0.0, 0.0
    for t in range(N):
        ma += tadv[t]
        ml += tlogp[t]
    ma /= N
    ml /= N
    for t in range(N):
        work[t] = (tadv[t] - ma) * (tlogp[t] - ml)
    if code == L_CLIPCOV:
        ppo_clip(N, ratio, tadv, cl, ch, 0.0, flags, td)
        n_clip = max(int(fp[F_CC_RATIO] * N), 1)
        order = np.argsort(tkeys[:N], kind="mergesort")
        chosen = 0
        for i in range(N):
            if chosen >= n_clip:
                break
            t = order[i]
            if (
                flags[t, 0] == 0
                and flags[t, 1] == 0
                and work[t] > fp[F_CC_LB]
                and work[t] < fp[F_CC_UB]
            ):
                flags[t, 3] = 1
                td[t] = 0.0
                chosen += 1
        return
    # kl_cov: no PPO clip; top-k tokens by covariance get coef * |logp - logp_old|
    for t in range(N):
        td[t] = -tadv[t] * ratio[t]
    k = max(int(N * fp[F_KC_RATIO]), 1)
    for t in range(N):  # rank on the grid of losses.covariance_rank (ties by token order)
        work[t] = -np.floor(work[t] * (1.0 / COV_RANK_GRID) + 0.5)
    order = np.argsort(work[:N], kind="mergesort")
    for i in range(k):
        t = order[i]
        flags[t, 3] = 1
        diff = tlogp[t] - tlogp_old[t]
        if diff > 0:
            td[t] += fp[F_KC_COEF]
        elif diff < 0:
            td[t] -= fp[F_KC_COEF]


@njit(cache=True)
def clip_tally(N, weighted, tcount, flags, tally):
    """tally[0:5] += the N tokens' counts: all, clip low, clip high, dual clip, selected
    (flags, set by token_losses). With weighted, token t counts tcount[t] (an exact
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
    tally[0] += n0
    tally[1] += n1
    tally[2] += n2
    tally[3] += n3
    tally[4] += n4


@njit(cache=True)
def steer_scale(fp, ip, N, tlogp, tlogp_old, tadv, tent_old, td, omega):
    """Multiply td by STEER's weights of |Omega| (losses.steer_omega / steer_weights)."""
    lo, hi = math.inf, -math.inf
    for t in range(N):
        pi = min(max(fast_exp(tlogp[t]), STEER_PROB_FLOOR), 1.0 - STEER_PROB_FLOOR)
        pi_old = min(max(fast_exp(tlogp_old[t]), STEER_PROB_FLOOR), 1.0)
        o = abs(tadv[t] / pi_old * pi * (1.0 - pi) * (math.log(pi) + tent_old[t]))
        omega[t] = o
        lo = min(lo, o)
        hi = max(hi, o)
    w_min, w_max = fp[F_SW_MIN], fp[F_SW_MAX]
    if ip[I_SMODE] == SM_LINEAR:
        for t in range(N):
            if hi <= lo:
                w = 0.5 * (w_min + w_max)
            else:
                w = min(max(w_max - (omega[t] - lo) * (w_max - w_min) / (hi - lo), w_min), w_max)
            td[t] *= w
    else:
        k = fp[F_SK] if fp[F_SK] > 0 else -math.log(w_min) / max(hi, STEER_K_FLOOR)
        for t in range(N):
            td[t] *= min(max(fast_exp(-k * omega[t]), w_min), 1.0)
