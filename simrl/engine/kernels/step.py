"""One step of one run (reference.step), and `run_chunk`: a chunk of steps for every run
of a batch, in parallel over runs."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from simrl.algorithms.tokens import (
    N_TF,
    N_TI,
    TF_ADV,
    TF_COUNT,
    TF_ENT_OLD,
    TF_LOGP_OLD,
    TF_STEER,
    TI_LEN,
    TI_SEQ,
)
from simrl.engine.kernels.audit import audit_step, expected_rewards
from simrl.engine.kernels.codes import (
    F_ENT_ADV_ALPHA,
    F_ENT_ADV_KAPPA,
    I_ADV_GREEDY,
    I_AUDIT,
    I_EPOCHS,
    I_EXACT,
    I_G,
    I_LTOTAL,
    I_MB,
    I_NTRAIN,
    I_OPT_EVERY,
    I_P,
    I_REFRESET,
    I_REW_UPDATES,
    N_EVAL_FIXED,
    N_UPD,
    STEER_PROB_FLOOR,
)
from simrl.engine.kernels.metrics import (
    all_finite,
    entropy_change,
    entropy_grad,
    eval_row,
    ppo_kl_mean,
    rows_finite,
    step_kl,
)
from simrl.engine.kernels.pcg64 import next_double
from simrl.engine.kernels.sampling import collect_batch, exact_batch
from simrl.engine.kernels.softmax import refresh_all
from simrl.engine.kernels.update import minibatch_step
from simrl.engine.kernels.workspace import BanditWorkspace


@njit(cache=True)
def step_run(
    fp,
    ip,
    lp,
    ap,
    op,
    algos,
    t,
    u,
    z,
    zref,
    m,
    v,
    adam_t,
    logp,
    prob,
    ent,
    ref,
    correct,
    fmt,
    label,
    ws,
    upd,
    pp,
    want_pp,
):
    """Step t of one run (reference.step). Returns False if a value became non-finite.
    algos holds the run's compiled policy loss, advantage estimator and optimiser
    (simrl.algorithms.Algorithms), lp, ap and op their parameters."""
    z0, logp_old, prob_old, ent_old = ws.z0, ws.logp_old, ws.prob_old, ws.ent_old
    g, csum, wsum, touched, rows, all_rows = (
        ws.g,
        ws.csum,
        ws.wsum,
        ws.touched,
        ws.rows,
        ws.all_rows,
    )
    bprompt, bans, brew, bcount, badv = ws.bprompt, ws.bans, ws.brew, ws.bcount, ws.badv
    order, cdf, counts, tok, ti, flags = ws.order, ws.cdf, ws.counts, ws.tok, ws.ti, ws.flags
    stats, tally, dh, aud, rbar = ws.stats, ws.tally, ws.dh, ws.aud, ws.rbar
    K = z.shape[1]
    if ip[I_REW_UPDATES] == 0:  # frozen: no update at all
        frozen_update(upd)
        return True
    snapshot(z, logp, prob, ent, (z0, logp_old, prob_old, ent_old, ws.gh_old))
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
        if ip[I_ADV_GREEDY] == 1:  # ReMax: the reward of the argmax answer (rbar = E[r | a])
            for j in range(n_groups):
                s = bprompt[j]
                best = 0
                for k in range(1, K):
                    if prob_old[s, k] > prob_old[s, best]:
                        best = k
                ws.bgreedy[j] = rbar[s, best]
        # lens: bcount is 1 per sampled answer, a bandit response's length
        algos.advantage(ap, brew, badv, n_groups, ip[I_G], bcount, ws.bgreedy)
    for i in range(tally.shape[0]):
        tally[i] = 0.0
    if ip[I_AUDIT] == 1:
        aud[:, :] = 0.0
    audit = ip[I_AUDIT] == 1
    ent_alpha, ent_kappa = fp[F_ENT_ADV_ALPHA], fp[F_ENT_ADV_KAPPA]
    pos = 0  # token arrays of the whole batch, in batch order, gathered once per step
    for j in range(n_groups):
        s = bprompt[j]
        for i in range(n_entries):
            tok[TF_LOGP_OLD, pos] = logp_old[s, bans[j, i]]
            a_tok = badv[j, i]
            if ent_alpha > 0.0:  # the entropy-based advantage (advantage.entropy_term)
                a_tok = a_tok + min(ent_alpha * ent_old[s], abs(a_tok) / ent_kappa)
            tok[TF_ADV, pos] = a_tok
            tok[TF_ENT_OLD, pos] = ent_old[s]
            tok[TF_COUNT, pos] = bcount[j, i]
            if audit:  # STEER's importance-weighted advantage A / pi_old(a), pi_old clamped
                tok[TF_STEER, pos] = a_tok / min(
                    max(prob_old[s, bans[j, i]], STEER_PROB_FLOOR), 1.0
                )
            pos += 1
    mb = ip[I_MB]
    first = True
    for epoch in range(ip[I_EPOCHS]):
        for b in range(mb):
            lo = (b * n_groups) // mb
            hi = ((b + 1) * n_groups) // mb
            if hi > lo:
                minibatch_step(
                    fp, ip, lp, op, algos, epoch, first, lo, hi, n_entries, bprompt, bans, badv,
                    bcount, u, z, logp, prob, ent, logp_old, ent_old, ref, m, v, adam_t, g, csum,
                    wsum, touched, rows, tok, ti, flags, tally, aud,
                )  # fmt: skip
                first = False
    S = z.shape[0]
    entropy_change(z, z0, ws.gh_old, ent_old, ent, all_rows, S, dh)
    step_metrics(ip, t, n_groups, z, zref, m, v, adam_t, logp, prob, stats, ref, tally, dh, upd)
    if ip[I_AUDIT] == 1:
        audit_step(
            fp, z, z0, prob_old, logp_old, ent_old, ent, aud, rbar, all_rows, S, upd[9:14], pp, t,
            want_pp,
        )  # fmt: skip
    else:
        upd[9:14] = np.nan
    upd[14] = ppo_kl_mean(tally, 5)  # metrics.STEP_KL_METRICS
    upd[15] = step_kl(z, z0, logp, all_rows, S)
    return kept_finite(ip, z, z0, m, v, all_rows, S, rows_finite(z, all_rows, S))


@njit(cache=True)
def frozen_update(upd):
    """The frozen anchor samples nothing and moves nothing (reference.frozen_update_metrics)."""
    upd[:] = np.nan
    upd[2] = upd[3] = upd[4] = upd[5] = upd[6] = 0.0


@njit(cache=True)
def snapshot(z, logp, prob, ent, old):
    """old = (z0, logp_old, prob_old, ent_old, gh_old): the logits and cache at the step's
    start, and each entry's metrics.entropy_grad (update.save_rows, every state)."""
    z0, logp_old, prob_old, ent_old, gh_old = old
    z0[:, :] = z
    logp_old[:, :] = logp
    prob_old[:, :] = prob
    ent_old[:] = ent
    for s in range(z.shape[0]):
        for k in range(z.shape[1]):
            gh_old[s, k] = entropy_grad(prob[s, k], logp[s, k], ent[s])


@njit(cache=True)
def step_metrics(
    ip, t, n_groups, z, zref, m, v, adam_t, logp, prob, stats, ref, tally, dh, upd
):  # fmt: skip
    """After the epochs (bandit and sequence steps alike): the ProRL reference reset, then
    update metrics 0..8: reward mean, zero-variance share, groups, the clip and selection
    fractions of tally (counted, low, high, dual, selected, ...), and dh: exact dH and
    first order over the moved states (metrics.entropy_change, or the sequence step's
    pass over its moved states)."""
    every = ip[I_REFRESET]
    if every > 0 and (t + 1) % every == 0:
        zref[:, :] = z
        m[:, :] = 0.0
        v[:, :] = 0.0
        adam_t[0] = 0
        ref[0][:, :] = logp  # the cache holds log softmax(z) and softmax(z)
        ref[1][:, :] = prob
    upd[0] = stats[0]
    upd[1] = stats[1]
    upd[2] = n_groups
    for i in range(4):
        upd[3 + i] = tally[1 + i] / tally[0] if tally[0] > 0 else 0.0
    upd[7] = dh[0]
    upd[8] = dh[1]


@njit(cache=True)
def kept_finite(ip, z, z0, m, v, rows, n_rows, rows_ok):
    """reference.is_finite of the new state, given rows_ok: are the logits of the states
    it may have changed (rows[:n_rows]) finite (metrics.rows_finite)? If not, restore the
    step's starting logits (the last finite ones; state rows[i] is saved in slot i of z0)
    and return False."""
    if rows_ok and (ip[I_OPT_EVERY] == 0 or (all_finite(m) and all_finite(v))):
        return True
    for i in range(n_rows):
        z[rows[i]] = z0[i]
    return False


@njit(cache=True)
def add_update(upd, upd_sum, upd_cnt):
    """Sum the step's finite update metrics until the next recorded row."""
    for j in range(upd.shape[0]):
        if math.isfinite(upd[j]):
            upd_sum[j] += upd[j]
            upd_cnt[j] += 1


@njit(cache=True)
def record_update(metrics_r, row, first_col, upd_sum, upd_cnt):
    """Means of the update metrics since the last recorded row into metrics row `row`
    (NaN where none was finite), then reset the sums."""
    for j in range(upd_sum.shape[0]):
        metrics_r[row, first_col + j] = upd_sum[j] / upd_cnt[j] if upd_cnt[j] > 0 else np.nan
        upd_sum[j] = 0.0
        upd_cnt[j] = 0


@njit(cache=True)
def workspace(S, K, P, G, N_max):
    """A run's scratch arrays (workspace.BanditWorkspace names them)."""
    n = max(G, K)
    return BanditWorkspace(
        np.empty((S, K)),  # z0
        np.empty((S, K)),  # logp_old
        np.empty((S, K)),  # prob_old
        np.empty(S),  # ent_old
        np.empty((S, K)),  # gh_old
        np.zeros((S, K)),  # g
        np.zeros(S),  # csum
        np.zeros(S),  # wsum
        np.zeros(S, dtype=np.bool_),  # touched
        np.zeros(S, dtype=np.int64),  # rows: the touched states of a minibatch, in order
        np.arange(S),  # all_rows: the states a step may move (the bandit saves them all)
        np.zeros(P + 1, dtype=np.int64),  # bprompt
        np.zeros((P + 1, n), dtype=np.int64),  # bans
        np.zeros((P + 1, n)),  # brew
        np.ones((P + 1, n)),  # bcount: 1 per sampled token; G pi_old(a) in exact mode
        np.zeros((P + 1, n)),  # badv
        np.zeros(max(P, S), dtype=np.int64),  # order
        np.zeros(K),  # cdf
        np.zeros(K, dtype=np.int64),  # counts
        np.zeros((N_TF, N_max)),  # tok: the float token table (algorithms/tokens.py)
        bandit_token_index(N_max),  # ti: token t is its own response, position 0, length 1
        np.zeros((N_max, 4), dtype=np.int8),  # flags
        np.zeros(2),  # stats
        np.zeros(7),  # tally: counted, low, high, dual, selected, ppo_kl sum, updates
        np.zeros(2),  # dh
        np.zeros((4, S)),  # aud (kernels/audit.py)
        np.zeros((S, K)),  # rbar: E[r | a], filled by run_chunk when auditing or for ReMax
        np.zeros(P + 1),  # bgreedy
    )


@njit(cache=True)
def bandit_token_index(n):
    """The int token table of a bandit batch (algorithms/tokens.py): an answer is a
    length-1 response, so token t has response index t, position 0 and length 1 (the
    parameter row and token rows are not read by the bandit kernels)."""
    ti = np.zeros((N_TI, n), dtype=np.int32)
    for t in range(n):
        ti[TI_SEQ, t] = t
        ti[TI_LEN, t] = 1
    return ti


@njit(cache=True)
def record_eval(metrics_r, row, n_eval, prob, logp, ent, task_r, passk, n_train, row_buf):
    """The exact eval metrics of the cached policy into metrics row `row` of one run."""
    base, correct, fmt, label, top = task_r
    eval_row(prob, logp, ent, base, correct, fmt, label, top, passk, n_train, row_buf)
    for j in range(n_eval):
        metrics_r[row, j] = row_buf[j]


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
    lp,
    ap,
    op,
    algos,
    passk,
    metrics,
    upd_sum,
    upd_cnt,
    failed,
    pp,
):
    """Advance runs by n_steps from step t0; write eval/update rows where row_of_step >= 0.
    Every run of the call has the policy loss, advantage estimator and optimiser of algos
    (their parameters: lp[r], ap[r], op[r]).

    Views of the shared arrays are taken once per run here, never per step: every view
    touches its parent's reference count, and threads contending for one count cost more
    than a step's arithmetic. Each run draws its step's uniforms from its own PCG64 state
    (rng[r], numpy's stream; see pcg64.py) into a private buffer.
    """
    R, S, K = z.shape
    n_eval = 2 + 2 * passk.shape[0] + N_EVAL_FIXED  # acc, pass@k (train, held-out), the rest
    n_cols = metrics.shape[2]
    for r in prange(R):
        if failed[r] >= 0:
            continue
        ti = task_of_run[r]
        fp_r, ip_r, lp_r, ap_r = fp[r].copy(), ip[r].copy(), lp[r].copy(), ap[r].copy()
        op_r = op[r].copy()
        want_pp = pp.shape[1] > 0  # the per-prompt audit: pp (R, steps, S, 7), or (R, 0, S, 7)
        pp_r = pp[r]
        z_r, zref_r, m_r, v_r, at = z[r], zref[r], m[r], v[r], adam_t[r : r + 1]
        correct_r, fmt_r, label_r = correct[ti], fmt[ti], label[ti]
        task_r = (base_logp[ti], correct_r, fmt_r, label_r, top[ti])
        P, G = ip_r[I_P], ip_r[I_G]
        ws = workspace(S, K, P, G, P * max(G, K))
        if ip_r[I_AUDIT] == 1 or ip_r[I_ADV_GREEDY] == 1:
            expected_rewards(fp_r, correct_r, fmt_r, label_r, ws.rbar)
        logp, prob, ent = np.empty((S, K)), np.empty((S, K)), np.empty(S)
        ref_logp, ref_prob, ref_ent = np.empty((S, K)), np.empty((S, K)), np.empty(S)
        refresh_all(z_r, logp, prob, ent)
        refresh_all(zref_r, ref_logp, ref_prob, ref_ent)
        ref = (ref_logp, ref_prob)
        upd = np.zeros(N_UPD)
        row_buf = np.empty(n_cols)
        L = ip_r[I_LTOTAL]
        u = np.empty(max(L, 1))
        st = rng[r].copy()
        upd_sum_r, upd_cnt_r = upd_sum[r], upd_cnt[r]
        if t0 == 0:
            record_eval(
                metrics[r], 0, n_eval, prob, logp, ent, task_r, passk, ip_r[I_NTRAIN], row_buf
            )
        for i in range(n_steps):
            t = t0 + i
            for j in range(L):
                u[j] = next_double(st)
            ok = step_run(
                fp_r, ip_r, lp_r, ap_r, op_r, algos, t, u, z_r, zref_r, m_r, v_r, at, logp, prob, ent, ref,
                correct_r, fmt_r, label_r, ws, upd, pp_r, want_pp,
            )  # fmt: skip
            if not ok:
                failed[r] = t + 1
                break
            add_update(upd, upd_sum_r, upd_cnt_r)
            row = row_of_step[t + 1]
            if row >= 0:
                record_eval(
                    metrics[r], row, n_eval, prob, logp, ent, task_r, passk, ip_r[I_NTRAIN], row_buf
                )
                record_update(metrics[r], row, n_eval, upd_sum_r, upd_cnt_r)
        rng[r, :] = st
