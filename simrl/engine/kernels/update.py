"""One minibatch update: the loss gradient chained to the logits, and the optimiser step
(reference.minibatch_gradient and simrl/optim.py)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from simrl.algorithms.tokens import (
    TF_COEF,
    TF_COUNT,
    TF_DLOGP,
    TF_ENT_OLD,
    TF_KEYS,
    TF_LOGP,
    TF_STEER,
)
from simrl.engine.kernels.audit import audit_minibatch
from simrl.engine.kernels.codes import (
    F_B1,
    F_B2,
    F_ENT_COEF,
    F_EPS,
    F_KL_COEF,
    F_LR,
    G_SUM_NORM,
    I_AGG,
    I_AUDIT,
    I_G,
    I_KLK,
    I_LCC,
    I_LREWARD,
    I_LSAMPLE,
    I_LSEL,
    I_LTIE,
    I_OPT,
    I_P,
    I_ROUNDS,
    K_FORWARD,
    K_K1,
    K_K2,
    K_K3,
    K_REVERSE,
    NPG_PI_FLOOR,
    O_ADAM,
    O_NPG,
    O_SGD,
)
from simrl.engine.kernels.fastmath import fast_exp
from simrl.engine.kernels.losses import clip_tally, token_losses
from simrl.engine.kernels.metrics import entropy_grad
from simrl.engine.kernels.softmax import refresh_rows


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
    lp,
    loss_fn,
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
    ref,
    m,
    v,
    adam_t,
    g,
    csum,
    wsum,
    touched,
    rows,
    tok,
    ti,
    flags,
    tally,
    aud,
):
    """One optimiser step on groups lo..hi-1 (reference.minibatch_gradient + optimiser).
    The minibatch is columns b0 .. b0 + N - 1 of the token tables tok and ti
    (simrl/algorithms/tokens.py's rows); lp and loss_fn are the run's policy loss."""
    G = ip[I_G]
    ref_logp = ref[0]
    N = (hi - lo) * n_entries
    # per-step token arrays (batch order), gathered once per step by step_run
    b0 = lo * n_entries
    tent, tcount = tok[TF_ENT_OLD, b0:], tok[TF_COUNT, b0:]
    # per-minibatch arrays, at the same columns
    tlogp, tkeys, td, work = (
        tok[TF_LOGP, b0:],
        tok[TF_KEYS, b0:],
        tok[TF_DLOGP, b0:],
        tok[TF_COEF, b0:],
    )
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
    token_losses(loss_fn, lp, tok, ti, b0, N, flags, first)
    w_seq = 1.0 if ip[I_AGG] == G_SUM_NORM else 1.0 / ((hi - lo) * G)
    kl_coef = fp[F_KL_COEF]
    kind = ip[I_KLK]
    sampled_kl = kl_coef > 0 and kind <= K_K3
    n_rows = 0
    for j in range(lo, hi):
        s = bprompt[j]
        if not touched[s]:
            touched[s] = True
            rows[n_rows] = s
            n_rows += 1
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
            work[t] = c  # kept for the audit
            cs += c
            wt += w
            t += 1
        csum[s] += cs
        wsum[s] += wt
    clip_tally(N, True, tcount, flags[b0:], tally)
    if ip[I_AUDIT] == 1:
        audit_minibatch(
            fp[F_LR], lo, hi, n_entries, bprompt, bans, tlogp, tok[TF_STEER, b0:], tent, tcount,
            work, w_seq, prob, logp, ent, aud,
        )  # fmt: skip
    apply_gradient(
        fp, ip, z, g, csum, wsum, touched, rows, n_rows, logp, prob, ent, ref, m, v, adam_t, None,
        True,
    )  # fmt: skip


@njit(cache=True)
def apply_gradient(
    fp, ip, z, g, csum, wsum, touched, rows, n_rows, logp, prob, ent, ref, m, v, adam_t, saves,
    with_ent,
):  # fmt: skip
    """Finish the gradient of the touched states rows[:n_rows] and take the optimiser step
    (reference.token_gradient's state terms, then simrl/optim.py); shared by the bandit and
    the sequence kernels.

    On entry g[s] holds sum_t coef_t e_{a_t}, csum[s] = sum_t coef_t and wsum[s] = sum_t w_t
    over the tokens at state s; the chain rule d logp_a / dz = e_a - pi subtracts csum pi,
    and the exact KL (kl.py) and entropy-bonus terms are weighted by wsum. ref = (log pi_ref,
    pi_ref), the reference's cache (the same arithmetic as the policy's, so that the KL
    gradient is exactly 0 where pi = pi_ref, as the reference's). Leaves g zero, the
    touched flags clear, and the cache of every state that moved refreshed (H too with
    with_ent; without, the caller computes it before it is read: softmax.entropies). With saves
    (see save_rows), each state's logits and cache are saved before its first change in
    the step; saves = None when the step saved them all at its start.
    """
    S, K = z.shape
    ref_logp, ref_prob = ref
    kl_coef = fp[F_KL_COEF]
    kind = ip[I_KLK]
    ent_coef = fp[F_ENT_COEF]
    sgd = ip[I_OPT] == O_SGD
    every_row = ip[I_OPT] == O_ADAM or n_rows == S
    if saves is not None:  # adam moves every entry
        save_rows(z, logp, prob, ent, rows, n_rows, ip[I_OPT] == O_ADAM, ip[I_AUDIT] == 1, saves)
    lr = fp[F_LR]
    for i in range(n_rows):
        s = rows[i]
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
                g[s, k] += kl_coef * wsum[s] * (prob[s, k] - ref_prob[s, k])
        if ent_coef > 0:  # loss -= coef H, dH/dz = -pi (l + H)
            for k in range(K):
                g[s, k] += ent_coef * wsum[s] * (prob[s, k] * (logp[s, k] + ent[s]))
        if sgd:  # the step and the reset of g while the row is in cache (same arithmetic)
            for k in range(K):
                z[s, k] -= lr * g[s, k]
                g[s, k] = 0.0
    if not sgd:
        optimiser_step(fp, ip, z, g, prob, m, v, adam_t, rows, n_rows)
    for i in range(n_rows):
        s = rows[i]
        touched[s] = False
        if not sgd:
            for k in range(K):
                g[s, k] = 0.0
    if every_row:
        refresh_rows(z, logp, prob, ent, np.arange(S), S, with_ent)
    else:
        refresh_rows(z, logp, prob, ent, rows, n_rows, with_ent)


@njit(cache=True)
def save_rows(z, logp, prob, ent, rows, n_rows, every, full, saves):
    """Save the logits and cache of the states rows[:n_rows] (every state with every) that
    this step has not saved yet: saves = ((z0, logp_old, prob_old, ent_old, gh_old), saved
    (S,) flags, saved_rows (S,), n_saved (1,)), the step's starting values of the states
    it changes (copy on write: a sequence task's step touches a fraction of its rows).
    gh_old is each entry's metrics.entropy_grad (what the first-order entropy change
    reads); log pi and pi themselves only with full (the audit reads them).

    The old arrays are indexed by slot, not by state: slot i holds state saved_rows[i], so
    the saved rows lie together at the front of the arrays in the order they were saved
    (a small working set that later passes read in order). The bandit's snapshot saves
    every state s in slot s (step.snapshot), which is the same layout with
    saved_rows = 0..S-1."""
    old, saved, saved_rows, n_saved = saves
    z0, logp_old, prob_old, ent_old, gh_old = old
    S, K = z.shape
    n = n_saved[0]
    for i in range(S if every else n_rows):
        s = i if every else rows[i]
        if saved[s]:
            continue
        saved[s] = True
        saved_rows[n] = s
        h = ent[s]
        for k in range(K):
            z0[n, k] = z[s, k]
            gh_old[n, k] = entropy_grad(prob[s, k], logp[s, k], h)
        if full:
            for k in range(K):
                logp_old[n, k] = logp[s, k]
                prob_old[n, k] = prob[s, k]
        ent_old[n] = h
        n += 1
    n_saved[0] = n


@njit(cache=True)
def optimiser_step(fp, ip, z, g, prob, m, v, adam_t, rows, n_rows):
    """npg (on the touched states rows[:n_rows]) and adam (every entry) (simrl/optim.py);
    sgd is applied row by row in apply_gradient."""
    S, K = z.shape
    lr = fp[F_LR]
    code = ip[I_OPT]
    if code == O_NPG:
        for i in range(n_rows):
            s = rows[i]
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
