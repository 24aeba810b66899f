"""One minibatch update on a sequence task: reference.token_gradient on the minibatch's
tokens with sequence_ref.aggregation_weights, then the shared optimiser step
(update.apply_gradient)."""

from __future__ import annotations

import numpy as np
from numba import njit

from simrl.engine.kernels.codes import (
    F_ENT_COEF,
    F_KL_COEF,
    F_LOSS_SCALE,
    F_LR,
    FORK_TIE_TOL,
    I_AGG,
    I_AGG_PER_LENGTH,
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
    I_P,
    I_ROUNDS,
    I_TIS,
)
from simrl.engine.kernels.controllers import entropy_adaptive
from simrl.engine.kernels.dispatch import aggregation_weight, sampled_kl_grad
from simrl.engine.kernels.losses import token_losses
from simrl.engine.kernels.metrics import quantile_sorted
from simrl.engine.kernels.seq_apply import seq_apply_gradient
from simrl.engine.kernels.seq_sampling import (
    SP_FORK_Q,
    TF_COEF,
    TF_COUNT,
    TF_DLOGP,
    TF_ENT_OLD,
    TF_KEEP,
    TF_KEYS,
    TF_LOGP,
    TF_LOGP_OLD,
    TF_RATIO,
    TF_SORT,
    TF_STEER,
    TF_WEIGHT,
    TI_FORK,
    TI_LEN,
    TI_POS,
    TI_ROW,
    TI_SEQ,
    TI_TOK,
)
from simrl.engine.kernels.tis import apply_tis
from simrl.engine.kernels.update import add_entropy_grad


@njit(inline="always", cache=True)
def reads_entropy(run):
    """Does a step read a state's current H before its end? The forking rule (its
    threshold), the entropy bonus (its gradient) and the dH breakdown (row_spread) do. Otherwise
    the step's refreshes skip H, and the step computes it once per moved state at its end
    (seq_step.step_run_seq). The adaptive entropy coefficient reads it at every update
    (kernels/controllers.py)."""
    return (
        run.sp[SP_FORK_Q] < 1.0
        or run.fp[F_ENT_COEF] > 0
        or run.ip[I_BREAKDOWN] == 1
        or entropy_adaptive(run.cp)
    )


@njit(cache=True)
def forking_keep(sp, n, trow, ent, tsort, tkeep):
    """The forking-token rule (reference.token_gradient; TRL get_high_entropy_mask): keep
    the tokens whose state's current entropy is >= the (1 - forking_top_quantile) quantile
    (numpy 'linear') of the n tokens' entropies, less reference.FORK_TIE_TOL (a fraction
    < 1: with 1 every token is kept)."""
    q = sp[SP_FORK_Q]
    if n == 0:
        return
    for t in range(n):
        tsort[t] = ent[trow[t]]
    h = tsort[:n]
    h.sort()
    threshold = quantile_sorted(h, 1.0 - q) - FORK_TIE_TOL
    for t in range(n):
        tkeep[t] = 1.0 if ent[trow[t]] >= threshold else 0.0


@njit(cache=True)
def kept_count(N, exact, forking, tcount, tkeep):
    """The N tokens' count kept by the forking rule (all without it), weighted as in
    losses.clip_tally: an exact entry's expected count, or 1 (integer sums)."""
    if exact:
        n = 0.0
        for t in range(N):
            n += tcount[t] * (tkeep[t] if forking else 1.0)
        return n
    if not forking:
        return float(N)
    n = 0.0
    for t in range(N):
        n += tkeep[t]  # 0 or 1: exact
    return n


@njit(inline="always", cache=True)
def gather_ppo_kl(logp, trow, ttok, tlogp, tlogp_old, tcount, weighted, first, N, tally):
    """tlogp[:N] = log pi of the N tokens (log pi_old, tlogp_old, on the step's first
    update: the cache still holds pi_old) and metrics.minibatch_ppo_kl's mean of
    logp_old - logp into tally[8] (tally[9] counting the updates), in one pass: the same
    terms in the same order."""
    num = den = 0.0
    for t in range(N):
        lp = tlogp_old[t] if first else logp[trow[t], ttok[t]]
        tlogp[t] = lp
        c = tcount[t] if weighted else 1.0
        num += c * (tlogp_old[t] - lp)
        den += c
    if den > 0 and np.isfinite(num / den):  # reference.mean_or_nan: a non-finite value is left out
        tally[8] += num / den
        tally[9] += 1.0


@njit(inline="always", cache=True)
def seq_minibatch_step(
    run, algos, pol, ws, u, epoch, first, lo, hi, max_len, fuse, last, base_logp
):
    """One optimiser step on groups lo..hi-1 of the step's token table (the sequence
    workspace ws; run, pol and ws as workspace.py names them): seq_minibatch_gradient,
    then the optimiser step (seq_apply.seq_apply_gradient: update.apply_gradient with the
    moved rows' metrics on the step's last update, `last`, into fuse). Rows are saved in
    ws.saves before they change (seq_apply.seq_save_rows)."""
    n_rows = seq_minibatch_gradient(run, algos, pol, ws, u, epoch, first, lo, hi, max_len)
    seq_apply_gradient(
        run, algos.optimiser, pol, ws.grad, n_rows, ws.saves, reads_entropy(run), fuse, last,
        base_logp, ws.misc.kl_row,
    )  # fmt: skip


@njit(cache=True)
def seq_minibatch_gradient(run, algos, pol, ws, u, epoch, first, lo, hi, max_len):
    """The token part of seq_minibatch_step: the sums of ws.grad (update.apply_gradient's
    entry state) for groups lo..hi-1, the tallies and the breakdown's terms. Returns the
    number of touched rows (ws.grad.rows[:n_rows]).

    tally (8,): counted tokens, clip low, clip high, dual clip, cov-selected, kept by the
    forking rule (each weighted by the tokens' counts), then sum |d loss / d logp| of the
    tokens at forking states and of all tokens (sequence_ref.step's tally)."""
    fp, ip, sp = run.fp, run.ip, run.sp
    logp, prob, ent = pol.logp, pol.prob, pol.ent
    tf, ti, flags, gstart = ws.tf, ws.ti, ws.flags, ws.batch.gstart
    tally, aud = ws.misc.tally, ws.misc.aud
    grad = ws.grad
    g, csum, wsum, touched, rows = grad.g, grad.csum, grad.wsum, grad.touched, grad.rows
    ref_logp = pol.ref_logp
    G = ip[I_G]
    b0 = gstart[lo]
    N = gstart[hi] - b0
    # per-step token arrays (batch order)
    tlogp_old, tent, tcount = tf[TF_LOGP_OLD, b0:], tf[TF_ENT_OLD, b0:], tf[TF_COUNT, b0:]
    tsteer = tf[TF_STEER, b0:]
    trow, ttok, tfork = ti[TI_ROW, b0:], ti[TI_TOK, b0:], ti[TI_FORK, b0:]
    # per-minibatch arrays: the loss's rows at the same columns, the rest from column 0
    tlogp, tkeys, td, work = tf[TF_LOGP, b0:], tf[TF_KEYS, b0:], tf[TF_DLOGP, b0:], tf[TF_COEF, b0:]
    tw, tkeep = tf[TF_WEIGHT], tf[TF_KEEP]
    # log pi of the tokens and verl's ppo_kl at the policy before the update, in one pass
    gather_ppo_kl(logp, trow, ttok, tlogp, tlogp_old, tcount, ip[I_EXACT] == 1, first, N, tally)
    if ip[I_LCC] > 0:  # Clip-Cov's keys: per epoch and token slot (streams.py)
        cc_base = (
            ip[I_ROUNDS] * (ip[I_LSEL] + ip[I_LSAMPLE] + ip[I_LREWARD] + ip[I_LTIE])
            + epoch * ip[I_P] * G * max_len
        )
        tseq, tpos = ti[TI_SEQ, b0:], ti[TI_POS, b0:]
        for t in range(N):
            tkeys[t] = u[cc_base + tseq[t] * max_len + tpos[t]]
    token_losses(algos.loss, run.lp, tf, ti, b0, N, flags, first)
    if ip[I_TIS] == 1:  # the rollout sampler's TIS weights (kernels/tis.py)
        apply_tis(tf, b0, N)
    agg, exact, n_seq = ip[I_AGG], ip[I_EXACT] == 1, (hi - lo) * G
    tlen = ti[TI_LEN, b0:]
    forking = sp[SP_FORK_Q] < 1.0
    if forking:
        forking_keep(sp, N, trow, ent, tf[TF_SORT], tkeep)
    kl_coef = fp[F_KL_COEF]
    kind = ip[I_KLK]
    sampled_kl = kl_coef > 0 and ip[I_KL_SAMPLED] == 1
    breakdown = ip[I_BREAKDOWN] == 1  # the dH breakdown reads each token's weight and coefficient
    n_rows = np.int64(0)  # not Literal[int] (step.step_run)
    fork_mag = all_mag = 0.0
    # a token's weight under verl's agg_loss over the minibatch's (n_seq x max_len) mask
    # (sequence_ref.aggregation_weights), before its count; exact entries get the weight
    # of a full mask
    per_length = ip[I_AGG_PER_LENGTH] == 1 and not exact  # else one weight for all
    scale = fp[F_LOSS_SCALE] if fp[F_LOSS_SCALE] > 0 else float(max_len)  # the norm constant
    w_all = aggregation_weight(agg, exact, N, n_seq, max_len, 1, scale)
    # algo.entropy_agg = "kept-token-mean" (TRL): the bonus is the kept tokens' mean entropy
    ent_mean = fp[F_ENT_COEF] > 0 and ip[I_ENT_AGG] == 1
    ent_total = kept_count(N, exact, forking, tcount, tkeep) if ent_mean else 0.0
    state_terms = (kl_coef > 0 and not sampled_kl) or fp[F_ENT_COEF] > 0  # they read wsum
    fl = flags[b0:]
    n0 = n1 = n2 = n3 = n4 = 0.0  # losses.clip_tally's sums, in its order
    k1 = k2 = k3 = k4 = 0
    for t in range(N):
        row, a = trow[t], ttok[t]
        w_agg = (
            aggregation_weight(agg, exact, N, n_seq, max_len, tlen[t], scale)
            if per_length
            else w_all
        )
        tc = tcount[t] if exact else 1.0  # an exact entry's expected count; 1 sampled
        w = w_agg * tc
        if breakdown:
            tw[t] = w
        keep = tkeep[t] if forking else 1.0
        policy = w * td[t] * keep  # d loss / d logp_t
        c = policy
        if sampled_kl:
            c += (
                w
                * kl_coef
                * sampled_kl_grad(kind, tlogp[t] - ref_logp[row, a], tf[TF_RATIO, b0 + t])
            )
        # the touched states in order of first touch, without a branch: every token
        # writes its state at the end of the list, which only a new state keeps (rows has
        # room for one more than every state)
        new = not touched[row]
        touched[row] = True
        rows[n_rows] = row
        n_rows += new
        g[row, a] += c
        if ent_mean and ent_total > 0:  # -coef H_row / n per kept token (its expected count)
            e_w = (tcount[t] if exact else 1.0) * (tkeep[t] if forking else 1.0)
            add_entropy_grad(fp[F_ENT_COEF] * e_w / ent_total, prob, logp, ent, row, g)
        # a state's sums start at 0 at its first token (0.0 + c, as a reset then +=)
        csum[row] = (0.0 if new else csum[row]) + c
        if state_terms:
            wsum[row] = (0.0 if new else wsum[row]) + w
        if breakdown:
            work[t] = c
        mag = abs(policy)
        all_mag += mag
        fork_mag += mag if tfork[t] else 0.0  # the sums are >= 0: adding +0 is exact
        if exact:  # losses.clip_tally, weighted
            n0 += tc
            n1 += tc * fl[t, 0]
            n2 += tc * fl[t, 1]
            n3 += tc * fl[t, 2]
            n4 += tc * fl[t, 3]
        else:  # unweighted: integer counts
            k1 += fl[t, 0]
            k2 += fl[t, 1]
            k3 += fl[t, 2]
            k4 += fl[t, 3]
    if not exact:
        n0, n1, n2, n3, n4 = float(N), float(k1), float(k2), float(k3), float(k4)
    tally[0] += n0
    tally[1] += n1
    tally[2] += n2
    tally[3] += n3
    tally[4] += n4
    tally[5] += kept_count(N, exact, forking, tcount, tkeep)
    tally[6] += fork_mag
    tally[7] += all_mag
    hk = algos.hooks  # compiled only for a call whose runs use them (kernels/hooks.py)
    if breakdown:  # the token terms (breakdown.sequence_terms)
        hk.breakdown_tokens_sequence(
            fp[F_LR], pol, aud, trow, ttok, tw, work, tkeep, tlogp, tsteer, tent, N, forking
        )
    if run.cp.shape[0] > 0:  # the adaptive entropy's measure, the quadrant split
        hk.minibatch_sequence(
            run.cp, fp[F_LR], pol, ws.quad, tf, trow, ttok, tcount, tkeep, b0, N, exact,
            forking, rows, n_rows,
        )  # fmt: skip
    return n_rows
