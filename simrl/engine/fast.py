"""The numba fast path: the reference step (simrl/engine/reference.py), batched over runs.

`run_chunk` advances every run of a batch by a chunk of steps, in parallel over runs
(`prange`). Each run is computed by one thread from its own arrays and its own uniforms,
in a fixed order, without fastmath, so its numbers do not depend on which other runs
share the batch. The kernels keep a cache of log pi, pi and H per state, refreshed after
every optimiser step, so a softmax is computed once per state per update.

Registry codes and packed-column indices are literal constants (see packing.py, whose
`check_codes` ties them to the registries). tests/engine/test_parity.py holds this file
to the reference within 1e-9 after 50 steps for every registry entry.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from simrl.engine.fastmath import fast_exp
from simrl.engine.packing import FLOAT_FIELDS, INT_FIELDS, check_codes
from simrl.engine.pcg64 import next_double, state_of
from simrl.metrics import UPDATE_METRICS

# ---- packed columns (packing.FLOAT_FIELDS / INT_FIELDS order) -------------------------
F_LR, F_P, F_FLIP, F_STD_EPS, F_CLIP_LOW, F_CLIP_HIGH, F_DUAL = 0, 1, 2, 3, 4, 5, 6
F_CC_RATIO, F_CC_LB, F_CC_UB, F_KC_RATIO, F_KC_COEF = 7, 8, 9, 10, 11
F_SW_MIN, F_SW_MAX, F_SK, F_KL_COEF, F_ENT_COEF, F_B1, F_B2, F_EPS = 12, 13, 14, 15, 16, 17, 18, 19
I_REW, I_ADV, I_LOSS, I_AGG, I_KLK, I_OPT, I_DS, I_G, I_P, I_EPOCHS, I_MB = (
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
)
I_DDOF, I_REFRESET, I_EXACT, I_SMODE, I_ROUNDS = 11, 12, 13, 14, 15
I_LSEL, I_LSAMPLE, I_LREWARD, I_LTIE, I_LCC, I_LTOTAL = 16, 17, 18, 19, 20, 21

# ---- registry codes (packing.EXPECTED_CODES) -------------------------------------------
R_TRUE, R_RANDOM, R_INCORRECT, R_FORMAT, R_SELFC, R_NOISY, R_FROZEN = 0, 1, 2, 3, 4, 5, 6
A_GRPO, A_DRGRPO, A_RLOO, A_REINFORCE = 0, 1, 2, 3
L_VANILLA, L_PG, L_CLIPCOV, L_KLCOV, L_STEER = 0, 1, 2, 3, 4
G_SUM_NORM = 3
K_K1, K_K2, K_K3, K_REVERSE, K_FORWARD = 0, 1, 2, 3, 4
O_SGD, O_ADAM, O_NPG = 0, 1, 2
DS_OFF, DS_DROP, DS_RESAMPLE = 0, 1, 2
SM_LINEAR = 0

# ---- metric columns ------------------------------------------------------------------
N_UPD = 9  # reward_mean, zero_var_frac, groups_used, clip low/high/dual, cov_selected, dH x2
N_EVAL_FIXED = 8  # entropy mean/q10/q50/q90, kl_base, mass format/incorrect_label/base_top
STEER_PROB_FLOOR = 1e-8
STEER_K_FLOOR = 0.02
NPG_PI_FLOOR = np.finfo(np.float64).tiny


def _check_layout() -> None:
    check_codes()
    assert len(FLOAT_FIELDS) == 20 and len(INT_FIELDS) == 22 and len(UPDATE_METRICS) == N_UPD


_check_layout()


# ---- softmax cache -------------------------------------------------------------------
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


# ---- batch -----------------------------------------------------------------------------
@njit(cache=True)
def group_rewards(code, s, ans, row, n, correct, fmt, label, u, u_off, bern, winner, out):
    """Rewards of ans[row, :n] to prompt s into out[row, :n] (the reward registry)."""
    if code == R_TRUE:
        for g in range(n):
            out[row, g] = 1.0 if correct[s, ans[row, g]] else 0.0
    elif code == R_RANDOM:
        for g in range(n):
            out[row, g] = 1.0 if u[u_off + g] < bern else 0.0
    elif code == R_INCORRECT:
        for g in range(n):
            out[row, g] = 1.0 if ans[row, g] == label[s] else 0.0
    elif code == R_FORMAT:
        for g in range(n):
            out[row, g] = 1.0 if ans[row, g] == fmt[s] else 0.0
    elif code == R_SELFC:
        for g in range(n):
            out[row, g] = 1.0 if ans[row, g] == winner else 0.0
    elif code == R_NOISY:
        for g in range(n):
            r = 1.0 if correct[s, ans[row, g]] else 0.0
            out[row, g] = 1.0 - r if u[u_off + g] < bern else r
    else:
        for g in range(n):
            out[row, g] = 0.0


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
def group_advantages(code, rew, adv, n_groups, G, std_eps, ddof):
    """Advantages of rew[:n_groups, :G] into adv (the advantage registry)."""
    if code == A_REINFORCE:
        tot = 0.0
        for j in range(n_groups):
            for i in range(G):
                tot += rew[j, i]
        mean = tot / (n_groups * G) if n_groups > 0 else 0.0
        for j in range(n_groups):
            for i in range(G):
                adv[j, i] = rew[j, i] - mean
        return
    for j in range(n_groups):
        tot = 0.0
        for i in range(G):
            tot += rew[j, i]
        mean = tot / G
        if code == A_GRPO:
            ss = 0.0
            for i in range(G):
                d = rew[j, i] - mean
                ss += d * d
            std = math.sqrt(ss / (G - ddof))
            for i in range(G):
                adv[j, i] = (rew[j, i] - mean) / (std + std_eps)
        elif code == A_DRGRPO:
            for i in range(G):
                adv[j, i] = rew[j, i] - mean
        else:  # rloo
            for i in range(G):
                adv[j, i] = rew[j, i] - (tot - rew[j, i]) / (G - 1)


@njit(cache=True)
def select_prompts(u, off, n, S, P, out):
    """All prompts in order, or the first P of the argsort of the keys u[off : off + n]."""
    if P == S:
        for i in range(S):
            out[i] = i
    else:
        order = np.argsort(u[off : off + n], kind="mergesort")
        for i in range(P):
            out[i] = order[i]


@njit(cache=True)
def collect_batch(
    fp, ip, u, prob_old, correct, fmt, label, bprompt, bans, brew, order, cdf, counts, stats
):
    """Sample, reward and filter one step's groups (reference.sampled_batch). Returns n_groups.

    Each group is written straight into the next free batch row and the row is kept (the
    count advances) or overwritten; bans and brew have P + 1 rows for that.
    stats[0] = reward mean and stats[1] = zero-variance share of the first round.
    """
    S, K = prob_old.shape
    P, G, rounds = ip[I_P], ip[I_G], ip[I_ROUNDS]
    L_sel, L_sample, L_reward, L_tie = ip[I_LSEL], ip[I_LSAMPLE], ip[I_LREWARD], ip[I_LTIE]
    rsize = L_sel + L_sample + L_reward + L_tie
    code, mode = ip[I_REW], ip[I_DS]
    bern = fp[F_P] if code == R_RANDOM else fp[F_FLIP]
    n_kept = 0
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
            # inverse CDF without branches: #{k < K-1 : cdf[k] <= u} is the first k with
            # cdf[k] > u (cdf is non-decreasing), capped at K - 1
            for g in range(G):
                uu = u[off + g]
                a = 0
                for k in range(K - 1):
                    a += cdf[k] <= uu
                bans[row, g] = a
            winner = -1
            if code == R_SELFC:
                winner = plurality(
                    bans, row, G, K, counts, u[base + L_sel + L_sample + L_reward + i]
                )
            roff = base + L_sel + L_sample + i * G
            group_rewards(code, s, bans, row, G, correct, fmt, label, u, roff, bern, winner, brew)
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
def exact_batch(fp, ip, u, prob_old, correct, fmt, label, bprompt, bans, brew, bcount, badv, stats):
    """Every answer of each chosen prompt, weighted G pi_old(a) (reference.exact_batch)."""
    S, K = prob_old.shape
    P, G = ip[I_P], ip[I_G]
    select_prompts(u, 0, ip[I_LSEL], S, P, bprompt)
    tot, n_zero = 0.0, 0
    for j in range(P):
        s = bprompt[j]
        expected = 0.0
        lo, hi = 1.0, 0.0
        for a in range(K):
            bans[j, a] = a
        group_rewards(ip[I_REW], s, bans, j, K, correct, fmt, label, u, 0, 0.0, -1, brew)
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


# ---- losses -----------------------------------------------------------------------------
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
    for t in range(N):
        work[t] = -work[t]
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


# ---- one minibatch update ------------------------------------------------------------
@njit(inline="always", cache=True)
def sampled_kl_grad(kind, logp, logp_ref):
    x = logp - logp_ref
    if kind == K_K1:
        return 1.0
    if kind == K_K2:
        return x
    return 1.0 - fast_exp(-x)


@njit(cache=True)
def minibatch_step(
    fp,
    ip,
    epoch,
    first,
    lo,
    hi,
    n_entries,
    bprompt,
    bans,
    badv,
    bcount,
    u,
    z,
    logp,
    prob,
    ent,
    logp_old,
    ent_old,
    ref_logp,
    m,
    v,
    adam_t,
    g,
    csum,
    wsum,
    touched,
    tok,
    flags,
    tally,
):
    """One optimiser step on groups lo..hi-1 (reference.minibatch_gradient + optimiser)."""
    S, K = z.shape
    G = ip[I_G]
    N = (hi - lo) * n_entries
    # per-step token arrays (batch order), gathered once per step by step_run
    b0 = lo * n_entries
    tlogp_old, tadv, tent, tcount = tok[0, b0:], tok[1, b0:], tok[2, b0:], tok[3, b0:]
    # per-minibatch arrays
    tlogp, tkeys, td, work, ratio = tok[4], tok[5], tok[6], tok[7], tok[8]
    has_keys = ip[I_LCC] > 0
    cc_base = (
        ip[I_ROUNDS] * (ip[I_LSEL] + ip[I_LSAMPLE] + ip[I_LREWARD] + ip[I_LTIE])
        + epoch * ip[I_P] * G
    )
    t = 0
    for j in range(lo, hi):
        s = bprompt[j]
        for i in range(n_entries):
            tlogp[t] = logp[s, bans[j, i]]
            t += 1
    if has_keys:
        for t in range(N):
            tkeys[t] = u[cc_base + b0 + t]
    token_losses(fp, ip, N, tlogp, tlogp_old, tadv, tent, tkeys, td, flags, work, ratio, first)
    w_seq = 1.0 if ip[I_AGG] == G_SUM_NORM else 1.0 / ((hi - lo) * G)
    kl_coef = fp[F_KL_COEF]
    kind = ip[I_KLK]
    sampled_kl = kl_coef > 0 and kind <= K_K3
    for j in range(lo, hi):
        s = bprompt[j]
        if not touched[s]:
            touched[s] = True
            csum[s] = 0.0
            wsum[s] = 0.0
    t = 0
    for j in range(lo, hi):
        s = bprompt[j]
        cs, wt = 0.0, 0.0
        for i in range(n_entries):
            w = w_seq * tcount[t]
            c = w * td[t]
            if sampled_kl:
                c += w * kl_coef * sampled_kl_grad(kind, tlogp[t], ref_logp[s, bans[j, i]])
            g[s, bans[j, i]] += c
            cs += c
            wt += w
            t += 1
        csum[s] += cs
        wsum[s] += wt
    n0 = n1 = n2 = n3 = n4 = 0.0
    for t in range(N):
        tc = tcount[t]
        n0 += tc
        n1 += tc * flags[t, 0]
        n2 += tc * flags[t, 1]
        n3 += tc * flags[t, 2]
        n4 += tc * flags[t, 3]
    tally[0] += n0
    tally[1] += n1
    tally[2] += n2
    tally[3] += n3
    tally[4] += n4
    ent_coef = fp[F_ENT_COEF]
    for s in range(S):
        if not touched[s]:
            continue
        for k in range(K):
            g[s, k] -= csum[s] * prob[s, k]
        if kl_coef > 0 and kind == K_REVERSE:
            kl = 0.0
            for k in range(K):
                kl += prob[s, k] * (logp[s, k] - ref_logp[s, k])
            for k in range(K):
                g[s, k] += kl_coef * wsum[s] * prob[s, k] * ((logp[s, k] - ref_logp[s, k]) - kl)
        elif kl_coef > 0 and kind == K_FORWARD:
            for k in range(K):
                g[s, k] += kl_coef * wsum[s] * (prob[s, k] - fast_exp(ref_logp[s, k]))
        if ent_coef > 0:  # loss -= coef H, dH/dz = -pi (l + H)
            for k in range(K):
                g[s, k] += ent_coef * wsum[s] * (prob[s, k] * (logp[s, k] + ent[s]))
    optimiser_step(fp, ip, z, g, prob, m, v, adam_t, touched)
    n_touched = 0
    for s in range(S):
        n_touched += touched[s]
    every_row = ip[I_OPT] == O_ADAM or n_touched == S
    for s in range(S):
        if touched[s]:
            touched[s] = False
            for k in range(K):
                g[s, k] = 0.0
            if not every_row:
                refresh_row(z, logp, prob, ent, s)
    if every_row:
        refresh_all(z, logp, prob, ent)


@njit(cache=True)
def optimiser_step(fp, ip, z, g, prob, m, v, adam_t, touched):
    S, K = z.shape
    lr = fp[F_LR]
    code = ip[I_OPT]
    if code == O_SGD:
        for s in range(S):
            if touched[s]:
                for k in range(K):
                    z[s, k] -= lr * g[s, k]
    elif code == O_NPG:
        for s in range(S):
            if touched[s]:
                mean = 0.0
                for k in range(K):
                    mean += g[s, k] / max(prob[s, k], NPG_PI_FLOOR)
                mean /= K
                for k in range(K):
                    z[s, k] -= lr * (g[s, k] / max(prob[s, k], NPG_PI_FLOOR) - mean)
    else:  # adam: every entry, with bias correction
        b1, b2, eps = fp[F_B1], fp[F_B2], fp[F_EPS]
        adam_t[0] += 1
        c1 = 1.0 - b1 ** adam_t[0]
        c2 = 1.0 - b2 ** adam_t[0]
        for s in range(S):
            for k in range(K):
                gg = g[s, k]
                m[s, k] = b1 * m[s, k] + (1.0 - b1) * gg
                v[s, k] = b2 * v[s, k] + (1.0 - b2) * gg * gg
                z[s, k] -= lr * (m[s, k] / c1) / (math.sqrt(v[s, k] / c2) + eps)


# ---- metrics ----------------------------------------------------------------------------
@njit(cache=True)
def eval_row(prob, logp, ent, base_logp, correct, fmt, label, top, passk, out):
    """Exact eval metrics (metrics.eval_metrics) into out[: 9 + len(passk)]."""
    S = prob.shape[0]
    npk = passk.shape[0]
    acc = 0.0
    for i in range(npk):
        out[1 + i] = 0.0
    kl, mf, ml, mt = 0.0, 0.0, 0.0, 0.0
    has_fmt = True
    for s in range(S):
        pc = row_dot(prob, correct, s)
        d = row_dot_diff(prob, logp, base_logp, s)  # KL(pi_s || base_s)
        acc += pc
        for i in range(npk):
            out[1 + i] += 1.0 - (1.0 - pc) ** passk[i]
        kl += d
        if fmt[s] >= 0:
            mf += prob[s, fmt[s]]
        else:
            has_fmt = False
        ml += prob[s, label[s]]
        mt += prob[s, top[s]]
    out[0] = acc / S
    for i in range(npk):
        out[1 + i] /= S
    c = 1 + npk
    h = np.sort(ent)
    tot = 0.0
    for s in range(S):
        tot += ent[s]
    out[c] = tot / S
    out[c + 1] = quantile_sorted(h, 0.1)
    out[c + 2] = quantile_sorted(h, 0.5)
    out[c + 3] = quantile_sorted(h, 0.9)
    out[c + 4] = kl / S
    out[c + 5] = mf / S if has_fmt else np.nan
    out[c + 6] = ml / S
    out[c + 7] = mt / S


@njit(cache=True)
def quantile_sorted(x, q):
    """numpy's default ('linear') quantile of sorted x."""
    h = q * (x.shape[0] - 1)
    lo = math.floor(h)
    hi = min(lo + 1, x.shape[0] - 1)
    return x[lo] + (h - lo) * (x[hi] - x[lo])


@njit(cache=True)
def entropy_change(z, z0, prob_old, logp_old, ent_old, ent, out):
    """Mean over moved states of exact dH and of -Cov_pi(log pi, dz); NaN if none moved."""
    S, K = z.shape
    n, dh, fo = 0, 0.0, 0.0
    for s in range(S):
        moved = False
        for k in range(K):
            if z[s, k] != z0[s, k]:
                moved = True
                break
        if not moved:
            continue
        n += 1
        dh += ent[s] - ent_old[s]
        a0 = a1 = 0.0  # two partial sums: shorter dependency chains
        k = 0
        while k + 2 <= K:
            a0 += prob_old[s, k] * (logp_old[s, k] + ent_old[s]) * (z[s, k] - z0[s, k])
            a1 += (
                prob_old[s, k + 1]
                * (logp_old[s, k + 1] + ent_old[s])
                * (z[s, k + 1] - z0[s, k + 1])
            )
            k += 2
        if k < K:
            a0 += prob_old[s, k] * (logp_old[s, k] + ent_old[s]) * (z[s, k] - z0[s, k])
        fo -= a0 + a1
    out[0] = dh / n if n > 0 else np.nan
    out[1] = fo / n if n > 0 else np.nan


@njit(cache=True)
def all_finite(a):
    for x in a.ravel():
        if not math.isfinite(x):
            return False
    return True


# ---- one step of one run ---------------------------------------------------------------
@njit(cache=True)
def step_run(
    fp, ip, t, u, z, zref, m, v, adam_t, logp, prob, ent, ref_logp, correct, fmt, label, ws, upd
):
    """Step t of one run (reference.step). Returns False if a value became non-finite."""
    (
        z0,
        logp_old,
        prob_old,
        ent_old,
        g,
        csum,
        wsum,
        touched,
        bprompt,
        bans,
        brew,
        bcount,
        badv,
        order,
        cdf,
        counts,
        tok,
        flags,
        stats,
        tally,
        dh,
    ) = ws
    K = z.shape[1]
    if ip[I_REW] == R_FROZEN:
        upd[0] = upd[1] = upd[7] = upd[8] = np.nan
        upd[2] = upd[3] = upd[4] = upd[5] = upd[6] = 0.0
        return True
    z0[:, :] = z
    logp_old[:, :] = logp
    prob_old[:, :] = prob
    ent_old[:] = ent
    exact = ip[I_EXACT] == 1
    if exact:
        n_groups = exact_batch(
            fp, ip, u, prob_old, correct, fmt, label, bprompt, bans, brew, bcount, badv, stats
        )
        n_entries = K
    else:
        n_groups = collect_batch(
            fp, ip, u, prob_old, correct, fmt, label, bprompt, bans, brew, order, cdf, counts, stats
        )
        n_entries = ip[I_G]
        group_advantages(ip[I_ADV], brew, badv, n_groups, ip[I_G], fp[F_STD_EPS], ip[I_DDOF])
    for i in range(5):
        tally[i] = 0.0
    pos = 0  # token arrays of the whole batch, in batch order, gathered once per step
    for j in range(n_groups):
        s = bprompt[j]
        for i in range(n_entries):
            tok[0, pos] = logp_old[s, bans[j, i]]
            tok[1, pos] = badv[j, i]
            tok[2, pos] = ent_old[s]
            tok[3, pos] = bcount[j, i]
            pos += 1
    mb = ip[I_MB]
    first = True
    for epoch in range(ip[I_EPOCHS]):
        for b in range(mb):
            lo = (b * n_groups) // mb
            hi = ((b + 1) * n_groups) // mb
            if hi > lo:
                minibatch_step(
                    fp, ip, epoch, first, lo, hi, n_entries, bprompt, bans, badv, bcount, u, z,
                    logp, prob, ent, logp_old, ent_old, ref_logp, m, v, adam_t, g, csum, wsum,
                    touched, tok, flags, tally,
                )  # fmt: skip
                first = False
    every = ip[I_REFRESET]
    if every > 0 and (t + 1) % every == 0:
        zref[:, :] = z
        m[:, :] = 0.0
        v[:, :] = 0.0
        adam_t[0] = 0
        ref_logp[:, :] = logp  # the cache holds log softmax(z)
    entropy_change(z, z0, prob_old, logp_old, ent_old, ent, dh)
    upd[0] = stats[0]
    upd[1] = stats[1]
    upd[2] = n_groups
    for i in range(4):
        upd[3 + i] = tally[1 + i] / tally[0] if tally[0] > 0 else 0.0
    upd[7] = dh[0]
    upd[8] = dh[1]
    if not (all_finite(z) and (ip[I_OPT] != O_ADAM or (all_finite(m) and all_finite(v)))):
        z[:, :] = z0
        return False
    return True


# ---- a chunk of steps for every run ----------------------------------------------------
@njit(cache=True)
def workspace(S, K, P, G, N_max):
    """A run's scratch arrays (see step_run for their names)."""
    n = max(G, K)
    return (
        np.empty((S, K)),  # z0
        np.empty((S, K)),  # logp_old
        np.empty((S, K)),  # prob_old
        np.empty(S),  # ent_old
        np.zeros((S, K)),  # g
        np.zeros(S),  # csum
        np.zeros(S),  # wsum
        np.zeros(S, dtype=np.bool_),  # touched
        np.zeros(P + 1, dtype=np.int64),  # bprompt
        np.zeros((P + 1, n), dtype=np.int64),  # bans
        np.zeros((P + 1, n)),  # brew
        np.ones((P + 1, n)),  # bcount: 1 per sampled token; G pi_old(a) in exact mode
        np.zeros((P + 1, n)),  # badv
        np.zeros(max(P, S), dtype=np.int64),  # order
        np.zeros(K),  # cdf
        np.zeros(K, dtype=np.int64),  # counts
        np.zeros((9, N_max)),  # tok
        np.zeros((N_max, 4), dtype=np.int8),  # flags
        np.zeros(2),  # stats
        np.zeros(5),  # tally
        np.zeros(2),  # dh
    )


@njit(parallel=True, cache=True)
def run_chunk(
    t0,
    n_steps,
    row_of_step,
    rng,
    z,
    zref,
    m,
    v,
    adam_t,
    base_logp,
    correct,
    fmt,
    label,
    top,
    task_of_run,
    fp,
    ip,
    passk,
    metrics,
    upd_sum,
    upd_cnt,
    failed,
):
    """Advance runs by n_steps from step t0; write eval/update rows where row_of_step >= 0.

    Views of the shared arrays are taken once per run here, never per step: every view
    touches its parent's reference count, and threads contending for one count cost more
    than a step's arithmetic. Each run draws its step's uniforms from its own PCG64 state
    (rng[r], numpy's stream; see pcg64.py) into a private buffer.
    """
    R, S, K = z.shape
    n_eval = 9 + passk.shape[0]
    n_cols = metrics.shape[2]
    for r in prange(R):
        if failed[r] >= 0:
            continue
        ti = task_of_run[r]
        fp_r, ip_r = fp[r].copy(), ip[r].copy()
        z_r, zref_r, m_r, v_r, at = z[r], zref[r], m[r], v[r], adam_t[r : r + 1]
        base_r, correct_r, fmt_r, label_r, top_r = (
            base_logp[ti],
            correct[ti],
            fmt[ti],
            label[ti],
            top[ti],
        )
        P, G = ip_r[I_P], ip_r[I_G]
        ws = workspace(S, K, P, G, P * max(G, K))
        logp, prob, ent = np.empty((S, K)), np.empty((S, K)), np.empty(S)
        ref_logp, ref_prob, ref_ent = np.empty((S, K)), np.empty((S, K)), np.empty(S)
        refresh_all(z_r, logp, prob, ent)
        refresh_all(zref_r, ref_logp, ref_prob, ref_ent)
        upd = np.zeros(N_UPD)
        row_buf = np.empty(n_cols)
        L = ip_r[I_LTOTAL]
        u = np.empty(max(L, 1))
        st = rng[r].copy()
        if t0 == 0:
            eval_row(prob, logp, ent, base_r, correct_r, fmt_r, label_r, top_r, passk, row_buf)
            for j in range(n_eval):
                metrics[r, 0, j] = row_buf[j]
        for i in range(n_steps):
            t = t0 + i
            for j in range(L):
                u[j] = next_double(st)
            ok = step_run(
                fp_r, ip_r, t, u, z_r, zref_r, m_r, v_r, at, logp, prob, ent, ref_logp,
                correct_r, fmt_r, label_r, ws, upd,
            )  # fmt: skip
            if not ok:
                failed[r] = t + 1
                break
            for j in range(N_UPD):
                if math.isfinite(upd[j]):
                    upd_sum[r, j] += upd[j]
                    upd_cnt[r, j] += 1
            row = row_of_step[t + 1]
            if row >= 0:
                eval_row(prob, logp, ent, base_r, correct_r, fmt_r, label_r, top_r, passk, row_buf)
                for j in range(n_eval):
                    metrics[r, row, j] = row_buf[j]
                for j in range(N_UPD):
                    metrics[r, row, n_eval + j] = (
                        upd_sum[r, j] / upd_cnt[r, j] if upd_cnt[r, j] > 0 else np.nan
                    )
                    upd_sum[r, j] = 0.0
                    upd_cnt[r, j] = 0
        rng[r, :] = st


# ---- python driver ---------------------------------------------------------------------
#: progress is reported after each block of runs; blocks are at most this many run-steps
BLOCK_RUN_STEPS = 20_000


def run_fast(specs, tasks, layouts, rows, names, progress):
    """Run a batch on the numba kernels; the same contract as batch._run_reference.

    Runs go in blocks (a multiple of the thread count) that each do all their steps, or
    chunks of BLOCK_RUN_STEPS steps for long runs, in one kernel call, so a run's state
    stays in cache; progress is reported between calls. Neither size changes any number.
    """
    from numba import get_num_threads

    from simrl.engine.batch import BatchResult, raise_first_failure
    from simrl.engine.packing import pack
    from simrl.engine.streams import run_generator

    R = len(specs)
    steps = specs[0].config.run.steps
    passk = np.array(specs[0].config.run.passk, dtype=np.int64)
    unique, task_of_run = [], np.empty(R, dtype=np.int64)
    for r, task in enumerate(tasks):
        for i, other in enumerate(unique):
            if other is task:
                task_of_run[r] = i
                break
        else:
            task_of_run[r] = len(unique)
            unique.append(task)
    base_logp = np.stack([t.base_logits for t in unique])
    correct = np.stack([t.correct for t in unique])
    fmt = np.stack([t.format_answer for t in unique])
    label = np.stack([t.incorrect_label for t in unique])
    top = np.stack([t.base_top for t in unique])
    fp, ip = pack([s.config for s in specs], layouts)
    rng = np.stack([state_of(run_generator(s.config, s.replicate)) for s in specs])

    z = base_logp[task_of_run].copy()
    zref = z.copy()
    m, v = np.zeros_like(z), np.zeros_like(z)
    adam_t = np.zeros(R, dtype=np.int64)
    metrics = np.full((R, rows.size, len(names)), np.nan)
    upd_sum, upd_cnt = np.zeros((R, N_UPD)), np.zeros((R, N_UPD), dtype=np.int64)
    failed = np.full(R, -1, dtype=np.int64)
    row_of_step = np.full(steps + 1, -1, dtype=np.int64)
    row_of_step[rows] = np.arange(rows.size)
    result = BatchResult(list(specs), rows, names, metrics, z, failed, list(tasks))

    threads = get_num_threads()
    block = max(1, BLOCK_RUN_STEPS // steps)
    block = min(R, -(-block // threads) * threads)
    chunk = max(1, min(steps, BLOCK_RUN_STEPS))
    done = 0
    for b0 in range(0, R, block):
        runs = slice(b0, min(R, b0 + block))
        for t0 in range(0, steps, chunk):
            n = min(chunk, steps - t0)
            run_chunk(
                t0, n, row_of_step, rng[runs], z[runs], zref[runs], m[runs], v[runs],
                adam_t[runs], base_logp, correct, fmt, label, top, task_of_run[runs], fp[runs],
                ip[runs], passk, metrics[runs], upd_sum[runs], upd_cnt[runs], failed[runs],
            )  # fmt: skip
            raise_first_failure(result)
            done += (runs.stop - runs.start) * n
            if progress:
                progress(done, R * steps)
    return result
