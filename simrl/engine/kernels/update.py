"""One minibatch update: the loss gradient chained to the logits, and the optimiser step
(reference.minibatch_gradient, then the run's optimiser, simrl/algorithms/optimisers/)."""

from __future__ import annotations

import numpy as np
from numba import njit

from simrl.algorithms.tokens import (
    TF_COEF,
    TF_COUNT,
    TF_DLOGP,
    TF_KEYS,
    TF_LOGP,
    TF_LOGP_OLD,
    TF_RATIO,
)
from simrl.engine.kernels.codes import (
    F_ENT_COEF,
    F_KL_COEF,
    F_LOSS_SCALE,
    F_LR,
    I_AGG,
    I_BREAKDOWN,
    I_ENT_AGG,
    I_EXACT,
    I_G,
    I_KL_SAMPLED,
    I_KLK,
    I_LCC,
    I_LREWARD,
    I_LSAMPLE,
    I_LSEL,
    I_LTIE,
    I_OPT_EVERY,
    I_P,
    I_ROUNDS,
    I_TIS,
)
from simrl.engine.kernels.dispatch import aggregation_weight, exact_kl_grad, sampled_kl_grad
from simrl.engine.kernels.losses import add_tally, clip_tally, token_losses
from simrl.engine.kernels.metrics import add_ppo_kl, entropy_grad
from simrl.engine.kernels.softmax import refresh_rows
from simrl.engine.kernels.tis import apply_tis


@njit(inline="always", cache=True)
def minibatch_step(run, algos, pol, ws, u, epoch, first, lo, hi, n_entries):
    """One optimiser step on groups lo..hi-1 (reference.minibatch_gradient + optimiser).
    The minibatch is columns b0 .. b0 + N - 1 of the token tables ws.tok and ws.ti
    (simrl/algorithms/tokens.py's rows); algos holds the run's policy loss and optimiser
    (simrl.algorithms.Algorithms), run.lp and run.op their parameters (workspace.py names
    run, pol and ws). A linear policy takes the same gradient and its own step
    (kernels/linear.py)."""
    n_rows = minibatch_gradient(run, algos, pol, ws, u, epoch, first, lo, hi, n_entries)
    apply_gradient(run, algos.optimiser, pol, ws.grad, n_rows, None, np.bool_(True))


@njit(cache=True)
def minibatch_gradient(run, algos, pol, ws, u, epoch, first, lo, hi, n_entries):
    """The token part of minibatch_step: the sums of ws.grad (apply_gradient's entry
    state) for groups lo..hi-1, the tallies and the breakdown's terms. Returns the number
    of touched states (ws.grad.rows[:n_rows])."""
    fp, ip = run.fp, run.ip
    bprompt, bans, tok, flags = ws.bprompt, ws.bans, ws.tok, ws.flags
    grad = ws.grad
    g, csum, wsum, touched, rows = grad.g, grad.csum, grad.wsum, grad.touched, grad.rows
    logp, ref_logp = pol.logp, pol.ref_logp
    G = ip[I_G]
    N = (hi - lo) * n_entries
    # per-step token arrays (batch order), gathered once per step by step_run
    b0 = lo * n_entries
    tcount = tok[TF_COUNT, b0:]
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
    # a sampled token counts 1 (bcount), so the unweighted sums are the same values
    # (1.0 * x == x, and sums of 1.0 are exact), in loops that vectorise
    exact = ip[I_EXACT] == 1
    # the tokens' log pi, and verl's ppo_kl summed in the same loop (metrics.
    # minibatch_ppo_kl's sums, token by token in its order)
    tlogp_old = tok[TF_LOGP_OLD, b0:]
    num = den = 0.0
    if first and not exact:
        # the step's first update: pi is pi_old (step.snapshot copied the cache), so each
        # token's log pi is its log pi_old and each term of num is 0.0 (sampled tokens
        # count 1: den = N); the same values without the gather
        for t in range(N):
            tlogp[t] = tlogp_old[t]
        den = float(N)
    else:
        t = 0
        for j in range(lo, hi):
            s = bprompt[j]
            for i in range(n_entries):
                lt = logp[s, bans[j, i]]
                tlogp[t] = lt
                c = tcount[t] if exact else 1.0
                num += c * (tlogp_old[t] - lt)
                den += c
                t += 1
    add_ppo_kl(num, den, ws.tally, 5)
    if has_keys:
        for t in range(N):
            tkeys[t] = u[cc_base + b0 + t]
    token_losses(algos.loss, run.lp, tok, ws.ti, b0, N, flags, first)
    if ip[I_TIS] == 1:  # the rollout sampler's TIS weights (kernels/tis.py)
        apply_tis(tok, b0, N)
    # one-token responses: every token has the same weight (max_len = length = 1)
    scale = fp[F_LOSS_SCALE] if fp[F_LOSS_SCALE] > 0 else 1.0  # the norm modes' constant
    w_seq = aggregation_weight(ip[I_AGG], exact, N, (hi - lo) * G, 1, 1, scale)
    # algo.entropy_agg = "kept-token-mean" (TRL): the bonus is the tokens' mean entropy
    ent_mean = fp[F_ENT_COEF] > 0 and ip[I_ENT_AGG] == 1
    ent_total = 0.0
    if ent_mean:
        for t in range(N):
            ent_total += tcount[t]
    kl_coef = fp[F_KL_COEF]
    kind = ip[I_KLK]
    sampled_kl = kl_coef > 0 and ip[I_KL_SAMPLED] == 1
    n_rows = 0
    for j in range(lo, hi):
        s = bprompt[j]
        if not touched[s]:
            touched[s] = True
            rows[n_rows] = s
            n_rows += 1
            csum[s] = 0.0
            wsum[s] = 0.0
    plain = not sampled_kl and not (ent_mean and ent_total > 0)
    if plain:  # the plain loop, the same sums (and the clip tally, when unweighted)
        k1, k2, k3, k4 = accumulate(
            bprompt, bans, lo, hi, n_entries, w_seq, tcount, td, g, work, csum, wsum,
            flags[b0:], not exact,
        )  # fmt: skip
        if not exact:  # losses.clip_tally's integer counts, taken in the loop above
            add_tally(ws.tally, float(N), float(k1), float(k2), float(k3), float(k4))
    else:
        t = 0
        for j in range(lo, hi):
            s = bprompt[j]
            cs, wt = 0.0, 0.0
            for i in range(n_entries):
                w = w_seq * tcount[t]
                c = w * td[t]
                if sampled_kl:
                    c += (
                        w
                        * kl_coef
                        * sampled_kl_grad(
                            kind, tlogp[t] - ref_logp[s, bans[j, i]], tok[TF_RATIO, b0 + t]
                        )
                    )
                g[s, bans[j, i]] += c
                if ent_mean and ent_total > 0:  # loss -= coef H_s / n, dH/dz = -pi (l + H)
                    add_entropy_grad(
                        fp[F_ENT_COEF] * tcount[t] / ent_total, pol.prob, logp, pol.ent, s, g
                    )
                work[t] = c  # kept for the dH breakdown
                cs += c
                wt += w
                t += 1
            csum[s] += cs
            wsum[s] += wt
    if exact or not plain:
        clip_tally(N, exact, tcount, flags[b0:], ws.tally)
    hk = algos.hooks  # compiled only for a call whose runs use them (kernels/hooks.py)
    if ip[I_BREAKDOWN] == 1:
        hk.breakdown_minibatch(fp[F_LR], pol, tok, bprompt, bans, ws.aud, lo, hi, n_entries, w_seq)
    if run.cp.shape[0] > 0:  # the adaptive entropy's measure, the quadrant split
        hk.minibatch_bandit(
            run.cp, fp[F_LR], pol, tok, bprompt, bans, ws.quad, lo, hi, n_entries, rows, n_rows
        )
    return n_rows


@njit(inline="always", cache=True)
def accumulate(bprompt, bans, lo, hi, n_entries, w_seq, tcount, td, g, work, csum, wsum, flags,
               count):  # fmt: skip
    """minibatch_gradient's token loop without the sampled KL and the per-token entropy
    bonus: the same values in the same order, without their tests in the loop. With
    count, it also counts the tokens' flags (clip low, high, dual, selected: the integer
    counts of losses.clip_tally's unweighted path) and returns them; else zeros."""
    k1 = k2 = k3 = k4 = 0
    t = 0
    for j in range(lo, hi):
        s = bprompt[j]
        cs, wt = 0.0, 0.0
        for i in range(n_entries):
            w = w_seq * tcount[t]
            c = w * td[t]
            g[s, bans[j, i]] += c
            work[t] = c  # kept for the dH breakdown
            cs += c
            wt += w
            if count:
                k1 += flags[t, 0]
                k2 += flags[t, 1]
                k3 += flags[t, 2]
                k4 += flags[t, 3]
            t += 1
        csum[s] += cs
        wsum[s] += wt
    return k1, k2, k3, k4


@njit(cache=True)
def add_entropy_grad(scale, prob, logp, ent, s, g):
    """g[s] += scale pi (l + H): the gradient of -scale H_s (the entropy bonus of one
    token under algo.entropy_agg = "kept-token-mean"; apply_gradient adds the bonus
    aggregated like the loss)."""
    for k in range(g.shape[1]):
        g[s, k] += scale * (prob[s, k] * (logp[s, k] + ent[s]))


@njit(cache=True)
def apply_gradient(run, opt_fn, pol, grad, n_rows, saves, with_ent):
    """Finish the gradient of the touched states grad.rows[:n_rows] and take the optimiser
    step (reference.token_gradient's state terms, then the run's optimiser opt_fn with its
    parameters run.op, simrl/algorithms/optimisers/); shared by the bandit and the sequence
    kernels.

    On entry g[s] holds sum_t coef_t e_{a_t}, csum[s] = sum_t coef_t and wsum[s] = sum_t w_t
    over the tokens at state s (grad, a workspace.GradSums); the chain rule
    d logp_a / dz = e_a - pi subtracts csum pi, and the exact KL (the estimator's numba
    form) and entropy-bonus terms are weighted by wsum. pol.ref_logp, pol.ref_prob are the
    reference's cache (the same arithmetic as the policy's, so that the KL gradient is
    exactly 0 where pi = pi_ref, as the reference's). Leaves g zero, the touched flags
    clear, and the cache of every state that moved refreshed (H too with with_ent;
    without, the caller computes it before it is read: softmax.entropies). With saves (a
    workspace.Saves; see save_rows), each state's logits and cache are saved before its
    first change in the step; saves = None when the step saved them all at its start.
    """
    ip = run.ip
    z, logp, prob, ent = pol.z, pol.logp, pol.prob, pol.ent
    g, touched, rows = grad.g, grad.touched, grad.rows
    S = z.shape[0]
    every = ip[I_OPT_EVERY] == 1  # the optimiser may move every entry (adam)
    every_row = every or n_rows == S
    if saves is not None:
        save_rows(z, logp, prob, ent, rows, n_rows, every, saves)
    finish_gradient(run, pol, grad, n_rows)
    opt_fn(run.op, z, g, prob, pol.m, pol.v, pol.adam_t, rows, n_rows)  # leaves g zero
    for i in range(n_rows):
        touched[rows[i]] = False
    # each state's refresh is its own (softmax.refresh_rows), so when every state was
    # touched, rows (all of them, in the order they were touched) gives the same values
    if every_row and n_rows < S:
        refresh_rows(z, logp, prob, ent, np.arange(S), S, with_ent)
    else:
        refresh_rows(z, logp, prob, ent, rows, n_rows, with_ent)


@njit(cache=True)
def finish_gradient(run, pol, grad, n_rows):
    """The state terms of apply_gradient's gradient (the chain rule's - csum pi, the exact
    KL and the entropy bonus) on the touched states grad.rows[:n_rows], at the cached
    policy pol (shared with the linear policy's step, kernels/linear.py)."""
    fp, ip = run.fp, run.ip
    logp, prob, ent = pol.logp, pol.prob, pol.ent
    g, csum, wsum, rows = grad.g, grad.csum, grad.wsum, grad.rows
    K = g.shape[1]
    kl_coef = fp[F_KL_COEF]
    exact_kl = kl_coef > 0 and ip[I_KL_SAMPLED] == 0
    kind = ip[I_KLK]
    ent_coef = fp[F_ENT_COEF]
    for i in range(n_rows):
        s = rows[i]
        for k in range(K):
            g[s, k] -= csum[s] * prob[s, k]
        if exact_kl:
            exact_kl_grad(kind, kl_coef * wsum[s], logp, prob, pol.ref_logp, pol.ref_prob, s, g)
        if ent_coef > 0 and ip[I_ENT_AGG] == 0:  # loss -= coef H, dH/dz = -pi (l + H)
            for k in range(K):
                g[s, k] += ent_coef * wsum[s] * (prob[s, k] * (logp[s, k] + ent[s]))


@njit(cache=True)
def save_rows(z, logp, prob, ent, rows, n_rows, every, saves):
    """Save the logits and cache of the states rows[:n_rows] (every state with every) that
    this step has not saved yet into saves (a workspace.Saves: the StepStart slots, saved
    (S,) flags, saved_rows (S,), n_saved (1,)), the step's starting values of the states
    it changes (copy on write: a sequence task's step touches a fraction of its rows).
    gh_old is each entry's metrics.entropy_grad (what the first-order entropy change
    reads); log pi and pi are what the step KL (metrics.row_first_order_kl) and the dH breakdown read.

    The old arrays are indexed by slot, not by state: slot i holds state saved_rows[i], so
    the saved rows lie together at the front of the arrays in the order they were saved
    (a small working set that later passes read in order). The bandit's snapshot saves
    every state s in slot s (step.snapshot), which is the same layout with
    saved_rows = 0..S-1."""
    saved, saved_rows, n_saved = saves.saved, saves.saved_rows, saves.n_saved
    z0, logp_old, prob_old, ent_old, gh_old = (
        saves.old.z0, saves.old.logp_old, saves.old.prob_old, saves.old.ent_old, saves.old.gh_old
    )  # fmt: skip
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
            logp_old[n, k] = logp[s, k]
            prob_old[n, k] = prob[s, k]
        ent_old[n] = h
        n += 1
    n_saved[0] = n
