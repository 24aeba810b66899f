"""One step of one run on a sequence task (sequence_ref.step), and `run_chunk_seq`: a chunk
of steps for every run of a call (the design of step.run_chunk)."""

from __future__ import annotations

import numpy as np
from numba import njit

from simrl.engine.kernels.codes import (
    F_ENT_ADV_ALPHA,
    F_ENT_ADV_KAPPA,
    F_LR,
    I_ADV_GREEDY,
    I_ADV_TOKEN,
    I_BREAKDOWN,
    I_EPOCHS,
    I_EXACT,
    I_G,
    I_LOSS_ENT,
    I_LTOTAL,
    I_MB,
    I_NTRAIN,
    I_P,
    I_REW_UPDATES,
    STEER_PROB_FLOOR,
)
from simrl.engine.kernels.copying import copy1
from simrl.engine.kernels.metrics import (
    EXPONENT_BITS,
    entropy_change_means,
    ppo_kl_mean,
    row_first_order_kl,
    row_moved,
    row_top_exponent,
)
from simrl.engine.kernels.pcg64 import next_double
from simrl.engine.kernels.quadrants import quadrant_sums
from simrl.engine.kernels.seq_apply import moved_sums, seq_fuse
from simrl.engine.kernels.seq_graph import leaf_rewards
from simrl.engine.kernels.seq_metrics import N_BUCKETS, N_EVAL_SEQ_FIXED, base_kl, eval_row_seq
from simrl.engine.kernels.seq_sampling import (
    N_TF,
    N_TI,
    SP_OVER_CACHE,
    SP_OVER_FACTOR,
    TF_ADV,
    TF_ENT_OLD,
    TF_LOGP_OLD,
    TF_STEER,
    TI_LEN,
    TI_ROW,
    TI_TOK,
    sampled_tokens,
)
from simrl.engine.kernels.seq_update import reads_entropy, seq_minibatch_step
from simrl.engine.kernels.softmax import row_dot_diff, row_entropy
from simrl.engine.kernels.step import (
    add_update,
    frozen_update,
    kept_finite,
    record_update,
    run_policy,
    step_metrics,
)
from simrl.engine.kernels.workspace import (
    GradSums,
    Saves,
    SeqBatch,
    SeqDP,
    SeqEval,
    SeqMisc,
    SeqWorkspace,
    StepStart,
    params_row,
    seq_task_row,
)

#: update metrics of a sequence task: the bandit's 14, then fork_grad_share,
#: forking_kept_frac, tokens_per_response (metrics_sequence.SEQUENCE_UPDATE_EXTRA)
N_UPD_SEQ = 19  # then metrics.STEP_KL_METRICS


@njit(cache=True)
def greedy_leaf(prob, graph, s, max_len):
    """The leaf of prompt s's greedy response: the argmax token of pi (the first of tied
    maxima) at every state from the root (sequence_ref.greedy_leaf)."""
    node_row, node_width, slot = graph.node_row, graph.node_width, graph.slot
    N = slot.shape[0]
    n = graph.root[s]
    for _ in range(max_len):
        row = node_row[n]
        best = 0
        for a in range(1, node_width[n]):
            if prob[row, a] > prob[row, best]:
                best = a
        c = slot[n, best]
        if c >= N:
            return c - N
        n = c
    return -1  # unreachable: every path ends in a leaf within max_len tokens


@njit(inline="always", cache=True)
def step_run_seq(run, algos, pol, task, ws, t, u, upd, pp, want_pp, fuse):
    """Step t of one run (sequence_ref.step). Returns False if a value became non-finite.
    algos holds the run's compiled policy loss, advantage estimator and optimiser
    (simrl.algorithms.Algorithms), run (a workspace.Params) their parameters; pol is the
    run's Policy, task its SeqTask, ws its SeqWorkspace (workspace.py). KL in the reward,
    the per-token baselines, the controllers, the quadrant split and the dH breakdown's
    kernels are algos.hooks (kernels/hooks.py: compiled only for a call that uses them)."""
    ip, sp = run.ip, run.sp
    hk = algos.hooks
    saves, misc, dp, ti, tf, batch = ws.saves, ws.misc, ws.dp, ws.ti, ws.tf, ws.batch
    old, saved, saved_rows, n_saved = saves.old, saves.saved, saves.saved_rows, saves.n_saved
    gstart, badv = batch.gstart, batch.badv
    tally, aud = misc.tally, misc.aud
    logp, prob, ent = pol.logp, pol.prob, pol.ent
    if ip[I_REW_UPDATES] == 0:  # frozen: no update at all
        frozen_update(upd)
        return True
    # the cache holds pi_old until the first update; each row is saved (saves.old) before
    # it changes (update.save_rows), and only the saved rows can have moved
    n_saved[0] = 0
    G = ip[I_G]
    if ip[I_EXACT] == 1:  # algo.exact's token table (a hook: kernels/hooks.py)
        n_groups = hk.exact_tokens(
            run.fp, ip, u, prob, task.graph, task.leaves, task.max_len, dp, batch.bprompt,
            gstart, batch.chosen, tf, ti, misc.stats,
        )  # fmt: skip
    else:
        n_groups = sampled_tokens(run, u, prob, task, ws, fuse.walk)
        if run.cp.shape[0] > 0:  # KL in the reward (kernels/controllers.py)
            hk.penalise_sequence(
                run.cp, gstart, batch.bresp, batch.brew, ti, logp, pol.ref_logp, n_groups, G
            )
        for j in range(n_groups):  # the responses' lengths, as the estimator reads them
            for i in range(G):
                batch.blen[j, i] = batch.bresp[1, j, i]
        if ip[I_ADV_GREEDY] == 1:  # ReMax: each prompt's greedy response's expected reward
            leaf_rewards(
                run.fp, task.leaves, task.max_len, int(sp[SP_OVER_CACHE]), sp[SP_OVER_FACTOR],
                dp.r_leaf,
            )  # fmt: skip
            for j in range(n_groups):
                leaf = greedy_leaf(prob, task.graph, batch.bprompt[j], task.max_len)
                batch.bgreedy[j] = dp.r_leaf[leaf]
        algos.advantage(run.ap, batch.brew, badv, n_groups, G, batch.blen, batch.bgreedy)
        for j in range(n_groups):  # the sequence's advantage, broadcast to its tokens
            k = gstart[j]
            for i in range(G):  # response i's tokens follow response i - 1's
                length = ti[TI_LEN, k]
                tf[TF_ADV, k : k + length] = badv[j, i]
                k += length
        if ip[I_ADV_TOKEN] == 1:  # per-token baselines (verl's optimal_token_baseline)
            hk.token_baselines_sequence(prob, tf, ti, gstart, batch.blen, batch.brew, n_groups, G)
    breakdown = ip[I_BREAKDOWN] == 1
    ent_alpha, ent_kappa = run.fp[F_ENT_ADV_ALPHA], run.fp[F_ENT_ADV_KAPPA]
    # H_old per token: a loss that reads it, the dH breakdown, the entropy-based advantage
    need_ent = breakdown or ip[I_LOSS_ENT] == 1 or ent_alpha > 0.0
    for k in range(gstart[n_groups]):  # token arrays of the whole batch, gathered once
        row, a = ti[TI_ROW, k], ti[TI_TOK, k]
        tf[TF_LOGP_OLD, k] = logp[row, a]
        if need_ent:
            tf[TF_ENT_OLD, k] = ent[row]
        if ent_alpha > 0.0:  # the entropy-based advantage (advantage.entropy_term)
            adv_k = tf[TF_ADV, k]
            tf[TF_ADV, k] = adv_k + min(ent_alpha * ent[row], abs(adv_k) / ent_kappa)
        if breakdown:  # STEER's importance-weighted advantage A / pi_old(a), pi_old clamped
            tf[TF_STEER, k] = tf[TF_ADV, k] / min(max(prob[row, a], STEER_PROB_FLOOR), 1.0)
    tally[:] = 0.0
    if breakdown:  # Theorem 1 needs each row's exact expected advantage under pi_old
        aud[:, :] = 0.0
        hk.breakdown_prepare_sequence(
            run.fp, task.leaves, task.max_len, int(sp[SP_OVER_CACHE]), sp[SP_OVER_FACTOR], prob,
            task.graph, dp, ip[I_NTRAIN], misc.qrow, misc.wrow,
        )  # fmt: skip
    mb, epochs = ip[I_MB], ip[I_EPOCHS]
    first = np.bool_(True)  # not Literal[bool] (step.step_run)
    base_logp = task.facts.base_logp
    for epoch in range(epochs):
        for b in range(mb):
            lo = (b * n_groups) // mb
            hi = ((b + 1) * n_groups) // mb
            if hi > lo:
                if run.cp.shape[0] > 0:  # the controllers (kernels/controllers.py)
                    hk.before_update(run.cp, run.fp)
                # the step's last update computes the moved rows' metrics (seq_apply.py)
                last = epoch == epochs - 1 and b == mb - 1
                seq_minibatch_step(
                    run, algos, pol, ws, u, epoch, first, lo, hi, task.max_len, fuse, last,
                    base_logp,
                )  # fmt: skip
                if run.cp.shape[0] > 0:
                    hk.after_update(run.cp, pol)
                first = False
    n = n_saved[0]
    rows_ok = moved_sums(
        pol, old, base_logp, saved_rows, n, not reads_entropy(run), misc.dh, misc.kl_row, fuse
    )
    step_metrics(ip, t, n_groups, pol, misc.stats, tally, misc.dh, upd)
    if breakdown:
        hk.breakdown_step(
            run.fp[F_LR], pol, old, aud, misc.qrow, saved_rows, n, upd[9:14], pp, t, want_pp
        )
    else:
        upd[9:14] = np.nan
    upd[14] = tally[6] / tally[7] if tally[7] > 0 else np.nan
    upd[15] = tally[5] / tally[0] if tally[0] > 0 else 0.0
    upd[16] = misc.stats[2]
    upd[17] = ppo_kl_mean(tally, 8)  # metrics.STEP_KL_METRICS
    upd[18] = misc.dh[2]  # kl_step_exact, from moved_rows' pass
    if run.cp.shape[0] > 0:  # the controllers' and the quadrant split's columns
        hk.step_end(run.cp, pol, old, ws.quad, saved_rows, n, upd, N_UPD_SEQ)
    ok = kept_finite(ip, pol, old.z0, saved_rows, n, rows_ok)
    for i in range(n):
        saved[saved_rows[i]] = False
    return ok


@njit(cache=True)
def moved_rows(pol, old, base_logp, rows, n_rows, with_ent, dh, kl_row):
    """One pass over the states the step saved, rows[:n_rows] (state rows[i] in slot i of
    old, a workspace.StepStart; the only ones it can have moved), each row read once for: its H when the step's
    refreshes skipped it (with_ent; softmax.entropies), exact dH, first order and the
    exact step KL into dh (metrics.entropy_change), KL(pi || base) into kl_row (base_kl) and the finiteness of
    its logits (metrics.rows_finite), which it returns. The arithmetic of each is theirs."""
    z, prob, logp, ent = pol.z, pol.prob, pol.logp, pol.ent
    z0, ent_old, gh_old, logp_old, prob_old = (
        old.z0,
        old.ent_old,
        old.gh_old,
        old.logp_old,
        old.prob_old,
    )
    bits = z.view(np.int64)
    top = 0
    n, dh_sum, fo, kl = 0, 0.0, 0.0, 0.0
    for i in range(n_rows):
        s = rows[i]
        if with_ent:
            ent[s] = row_entropy(prob, logp, s)
        kl_row[s] = row_dot_diff(prob, logp, base_logp, s)
        top = max(top, row_top_exponent(bits, s))
        if row_moved(z, z0, s, i):
            n += 1
            dh_sum += ent[s] - ent_old[i]
            f, k = row_first_order_kl(z, z0, gh_old, logp_old, prob_old, logp, s, i)
            fo -= f
            kl += k
    entropy_change_means(n, dh_sum, fo, dh)
    dh[2] = kl / n if n > 0 else np.nan
    return top != EXPONENT_BITS


@njit(cache=True)
def seq_workspace(M, V, N, L, S, A, P, G, max_len, num_modes, exact, cp):
    """A run's scratch arrays (workspace.SeqWorkspace and its groups); cp is the run's
    controllers' row (the quadrant split's sums are made only when it asks for them)."""
    n_cap = 2 * V * N if exact else (P + 1) * G * max_len
    # z0, logp_old, prob_old, ent_old, gh_old: the moved states' starting values by slot
    # (update.save_rows)
    old = StepStart(
        np.empty((M, V)), np.empty((M, V)), np.empty((M, V)), np.empty(M), np.empty((M, V))
    )
    saves = Saves(
        old,
        np.zeros(M, dtype=np.bool_),  # saved: rows saved in old this step
        np.zeros(M, dtype=np.int64),  # saved_rows
        np.zeros(1, dtype=np.int64),  # n_saved
    )
    grad = GradSums(
        np.zeros((M, V)),  # g
        np.zeros(M),  # csum
        np.zeros(M),  # wsum
        np.zeros(M, dtype=np.bool_),  # touched
        # rows: the touched rows of a minibatch, in order (+1: seq_update's branch-free append)
        np.zeros(M + 1, dtype=np.int64),
    )
    batch = SeqBatch(
        np.zeros(P + 1, dtype=np.int64),  # bprompt
        np.zeros((3, P + 1, G), dtype=np.int64),  # bresp: answer, length, format marker
        np.zeros((P + 1, G)),  # brew
        np.zeros((P + 1, G)),  # badv
        np.zeros(P + 2, dtype=np.int64),  # gstart
        np.zeros(max(P, S), dtype=np.int64),  # order
        np.zeros(A, dtype=np.int64),  # counts
        np.zeros(S, dtype=np.bool_),  # chosen
        np.ones((P + 1, G)),  # blen: the responses' lengths (advantage estimators read them)
        np.zeros(P + 1),  # bgreedy: the greedy responses' rewards (ReMax's baseline)
        np.zeros((P + 1, G)),  # blik: likelihoods under pi_old, for a reward that reads them
    )
    ext = np.zeros(N + L + 1)  # reach, then leaf probabilities, then a sink (forward_reach)
    dp = SeqDP(ext[:N], ext[N : N + L], np.zeros((N, V)), np.zeros(N), np.zeros(L), ext)
    ev = SeqEval(
        np.zeros(S),  # p_acc
        np.zeros(S),  # p_label
        np.zeros((S, max(num_modes, 1))),  # usage
        np.zeros(N),  # hv
        np.zeros(N),  # wv
        np.zeros(max_len),  # depth_w
        np.zeros(max_len),  # depth_wh
        np.zeros(N, dtype=np.int64),  # bucket
        np.zeros(N_BUCKETS),  # bucket_w
        np.zeros((2, N)),  # work
        np.zeros(N, dtype=np.int64),  # sub: refine's buckets
        np.zeros(N_BUCKETS),  # sub_w
    )
    misc = SeqMisc(
        np.zeros(3),  # stats: reward mean, zero-variance share, mean length
        np.zeros(10),  # tally (seq_update), then the ppo_kl sum and the updates
        np.zeros(3),  # dh: exact dH, first order, kl_step_exact (moved_rows)
        np.zeros((4, M)),  # aud (kernels/breakdown.py)
        np.zeros((M, V)),  # qrow
        np.zeros(M),  # wrow
        np.zeros(M),  # kl_row: KL(pi_row || base_row), kept with the cache
    )
    return SeqWorkspace(
        saves,
        grad,
        np.zeros((N_TF, n_cap)),
        np.zeros((N_TI, n_cap), dtype=np.int32),
        np.zeros((n_cap, 4), dtype=np.int8),
        batch,
        dp,
        ev,
        misc,
        quadrant_sums(cp, M, V),  # quad (kernels/quadrants.py)
    )


@njit(cache=True)
def record_eval_seq(metrics_r, row, n_eval, pol, task, passk, n_train, ws, row_buf, dist):
    """The exact eval metrics of the cached policy into metrics row `row` of one run."""
    eval_row_seq(
        pol.prob, pol.ent, ws.misc.kl_row, task.graph, task.leaves, task.facts, passk, n_train,
        task.num_modes, task.has_format, ws.dp, ws.ev, row_buf, dist,
    )  # fmt: skip
    for j in range(n_eval):
        metrics_r[row, j] = row_buf[j]


@njit(nogil=True, cache=True)
def run_chunk_seq(
    t0, n_steps, row_of_step, rng, learner, params, algos, tasks, task_of_run, passk, out
):
    """Advance runs by n_steps from step t0; write eval/update rows where row_of_step >= 0.

    The same arguments and structure as step.run_chunk (views of the shared arrays once
    per run, each run's uniforms from its own PCG64 state into a private buffer), with
    tasks a workspace.SeqTasks (the distinct tasks' arrays, stacked)."""
    R, M, V = learner.z.shape
    # tasks is flat, written for numba's parfor lowering (which could neither pass a tuple
    # of tuples nor rebuild a local one); the runs now go over threads (engine/threads.py)
    max_len, num_modes = tasks.max_len, tasks.num_modes
    N = tasks.node_row.shape[1]
    L = tasks.leaf_prompt.shape[1]
    S, A = tasks.correct.shape[1], tasks.correct.shape[2]
    n_eval = 2 + 2 * passk.shape[0] + N_EVAL_SEQ_FIXED + num_modes + max_len
    metrics, failed, pp = out.metrics, out.failed, out.pp
    n_cols = metrics.shape[2]
    controls = params.cp  # written back at the chunk's end, as step.run_chunk's
    for r in range(R):  # over threads: engine/threads.py
        if failed[r] >= 0:
            continue
        run = params_row(params, r)
        ip_r = run.ip
        # the per-row dH breakdown: pp (R, steps, M, 7), or (R, 0, M, 7)
        want_pp = pp.shape[1] > 0
        pp_r = pp[r]
        ti = task_of_run[r]
        task = seq_task_row(tasks, ti)
        P, G = ip_r[I_P], ip_r[I_G]
        ws = seq_workspace(M, V, N, L, S, A, P, G, max_len, num_modes, ip_r[I_EXACT] == 1, run.cp)
        pol = run_policy(learner, r, M, V)
        base_kl(pol.prob, pol.logp, task.facts.base_logp, ws.grad.rows, 0, True, ws.misc.kl_row)
        fuse = seq_fuse(M, V, G, max_len, S, A)
        upd = np.zeros(out.upd_sum.shape[1])  # N_UPD_SEQ, then the controllers' and quadrants'
        row_buf = np.empty(n_cols)
        L_u = ip_r[I_LTOTAL]
        u = np.empty(max(L_u, 1))
        st = rng[r].copy()
        upd_sum_r, upd_cnt_r = out.upd_sum[r], out.upd_cnt[r]
        n_train = ip_r[I_NTRAIN]
        if t0 == 0:
            record_eval_seq(
                metrics[r], np.int64(0), n_eval, pol, task, passk, n_train, ws, row_buf, fuse.dist
            )
        for i in range(n_steps):
            t = t0 + i
            for j in range(L_u):
                u[j] = next_double(st)
            ok = step_run_seq(run, algos, pol, task, ws, t, u, upd, pp_r, want_pp, fuse)
            if not ok:
                failed[r] = t + 1
                break
            add_update(upd, upd_sum_r, upd_cnt_r)
            row = row_of_step[t + 1]
            if row >= 0:
                record_eval_seq(
                    metrics[r], row, n_eval, pol, task, passk, n_train, ws, row_buf, fuse.dist
                )
                record_update(metrics[r], row, n_eval, upd_sum_r, upd_cnt_r)
        copy1(rng[r], st)
        copy1(controls[r], run.cp)  # the controllers' state, for the next chunk
