"""The entropy-change audit inside the kernels (reference.AuditSums / audit_metrics).

Per minibatch, per state: the total aggregation weight (Cui's Theorem 1 uses
eta = lr * weight), the one-token first-order changes of the sgd step of each token, and
STEER's two forms. Per step, over the states the step moved: the second-order
prediction and Theorem 1 from the exact expected advantage. Rows of `aud` (5, S): weight,
token, steer_code, steer_eq14, and scratch for sum_j pi_j^2 (l_j + H).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from simrl.engine.kernels.codes import (
    F_FLIP,
    F_LR,
    F_P,
    I_REW,
    R_FORMAT,
    R_INCORRECT,
    R_NOISY,
    R_RANDOM,
    R_TRUE,
    STEER_PROB_FLOOR,
)
from simrl.engine.kernels.fastmath import fast_exp


@njit(cache=True)
def audit_minibatch(
    lr,
    lo,
    hi,
    n_entries,
    bprompt,
    bans,
    tlogp,
    tlogp_old,
    tadv,
    tent_old,
    tcount,
    coef,
    w_seq,
    prob,
    logp,
    ent,
    aud,
):
    """Add one minibatch's token terms at the current policy (before its update)."""
    K = prob.shape[1]
    for j in range(lo, hi):
        s = bprompt[j]
        spread = 0.0
        for k in range(K):
            spread += prob[s, k] * prob[s, k] * (logp[s, k] + ent[s])
        aud[4, s] = spread
    t = 0
    for j in range(lo, hi):
        s = bprompt[j]
        h = ent[s]
        for i in range(n_entries):
            c = coef[t]
            w = w_seq * tcount[t]
            pa = prob[s, bans[j, i]]
            la = tlogp[t]
            aud[0, s] += w
            aud[1, s] += lr * c * (pa * (la + h) - aud[4, s])  # one token, theory.entropy
            pc = min(max(fast_exp(la), STEER_PROB_FLOOR), 1.0 - STEER_PROB_FLOOR)
            po = min(max(fast_exp(tlogp_old[t]), STEER_PROB_FLOOR), 1.0)
            omega = tadv[t] / po * pc * (1.0 - pc) * (math.log(pc) + tent_old[t])
            aud[2, s] -= lr * w * omega  # STEER public code, signed
            aud[3, s] += lr * c * (1.0 - pa) ** 2 * (la + h)  # STEER Eq. 14
            t += 1


@njit(cache=True)
def expected_reward(code, s, a, correct, fmt, label, p, flip):
    """E[r | a] (rewards.expected_reward); NaN where it is not a function of a alone."""
    if code == R_TRUE:
        return 1.0 if correct[s, a] else 0.0
    if code == R_RANDOM:
        return p
    if code == R_INCORRECT:
        return 1.0 if a == label[s] else 0.0
    if code == R_FORMAT:
        return 1.0 if a == fmt[s] else 0.0
    if code == R_NOISY:
        c = 1.0 if correct[s, a] else 0.0
        return (1.0 - flip) * c + flip * (1.0 - c)
    return np.nan


@njit(cache=True)
def audit_step(
    fp,
    ip,
    z,
    z0,
    prob_old,
    logp_old,
    ent_old,
    ent,
    correct,
    fmt,
    label,
    aud,
    rbar,
    out,
    pp,
    t,
    want_pp,
):
    """Means over moved states of: second order, Theorem 1, token sum, STEER code, Eq. 14;
    with want_pp, every moved state's record into pp[t, s] (AUDIT_PROMPT_COLUMNS)."""
    S, K = z.shape
    n = 0
    acc = np.zeros(5)
    for s in range(S):
        moved = False
        for k in range(K):
            if z[s, k] != z0[s, k]:
                moved = True
                break
        if not moved:
            continue
        n += 1
        h = ent_old[s]
        mean_dz, mean_r = 0.0, 0.0
        for k in range(K):
            mean_dz += prob_old[s, k] * (z[s, k] - z0[s, k])
            rbar[k] = expected_reward(ip[I_REW], s, k, correct, fmt, label, fp[F_P], fp[F_FLIP])
            mean_r += prob_old[s, k] * rbar[k]
        first, second, cui = 0.0, 0.0, 0.0
        eta = fp[F_LR] * aud[0, s]
        for k in range(K):
            dz = z[s, k] - z0[s, k]
            grad = -prob_old[s, k] * (logp_old[s, k] + h)  # dH/dz
            d = dz - mean_dz
            first += grad * dz
            second -= 0.5 * prob_old[s, k] * d * d * (logp_old[s, k] + h + 1.0)
            cui += grad * eta * prob_old[s, k] * (rbar[k] - mean_r)
        acc[0] += first + second
        acc[1] += cui
        acc[2] += aud[1, s]
        acc[3] += aud[2, s]
        acc[4] += aud[3, s]
        if want_pp:
            pp[t, s, 0] = ent[s] - h
            pp[t, s, 1] = first
            pp[t, s, 2] = first + second
            pp[t, s, 3] = cui
            pp[t, s, 4] = aud[1, s]
            pp[t, s, 5] = aud[2, s]
            pp[t, s, 6] = aud[3, s]
    for i in range(5):
        out[i] = acc[i] / n if n > 0 else np.nan
