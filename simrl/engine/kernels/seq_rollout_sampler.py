"""The rollout sampler on sequence tasks (kernels/rollout_sampler.py describes it):
seq_step.step_run_seq and run_chunk_seq with the responses drawn from q, the loss at the
trained policy pi_T = softmax(z / T), and the TIS weights (sequence_ref.step)."""

from __future__ import annotations

import numpy as np
from numba import njit

from simrl.algorithms.tokens import TF_IS
from simrl.engine.kernels.codes import (
    F_ENT_ADV_ALPHA,
    F_ENT_ADV_KAPPA,
    I_ADV_GREEDY,
    I_ADV_TOKEN,
    I_EPOCHS,
    I_EXACT,
    I_G,
    I_LOSS_ENT,
    I_LTOTAL,
    I_MB,
    I_NTRAIN,
    I_P,
    I_REW_UPDATES,
    I_TIS,
)
from simrl.engine.kernels.copying import copy1
from simrl.engine.kernels.metrics import ppo_kl_mean
from simrl.engine.kernels.pcg64 import next_double
from simrl.engine.kernels.rollout_sampler import (
    FS_CLIP_MAX,
    FS_CLIP_MIN,
    FS_TEMP,
    SI_TIS,
    draw_sampler,
    sampler_apply,
    sampler_run,
    tempered_policy,
    tis_weights,
)
from simrl.engine.kernels.seq_apply import seq_fuse
from simrl.engine.kernels.seq_graph import leaf_rewards
from simrl.engine.kernels.seq_metrics import N_EVAL_SEQ_FIXED, base_kl
from simrl.engine.kernels.seq_sampling import (
    SP_OVER_CACHE,
    SP_OVER_FACTOR,
    TF_ADV,
    TF_ENT_OLD,
    TF_LOGP_OLD,
    TI_LEN,
    TI_ROW,
    TI_TOK,
    sampled_tokens,
)
from simrl.engine.kernels.seq_step import (
    greedy_leaf,
    moved_rows,
    record_eval_seq,
    seq_workspace,
)
from simrl.engine.kernels.seq_update import reads_entropy, seq_minibatch_gradient
from simrl.engine.kernels.step import (
    add_update,
    frozen_update,
    kept_finite,
    record_update,
    run_policy,
    step_metrics,
)
from simrl.engine.kernels.token_baseline import sequence_token_baselines
from simrl.engine.kernels.workspace import params_row, seq_task_row


@njit(cache=True)
def sampler_step_run_seq(run, algos, pol, tpol, task, ws, sr, t, u, upd, fuse):
    """seq_step.step_run_seq with the sampler: the responses drawn from q (ReMax's greedy
    response, the likelihoods and the token baselines from q, as the reference's
    pi_sample), the token table's old log-probs and entropies from the trained policy's
    cache tpol, the TIS weights, the minibatch gradient at tpol with
    rollout_sampler.sampler_apply; the exact metrics of softmax(z) as step_run_seq's. The
    config refuses the sampler with algo.exact and run.audit. Returns False if a value
    became non-finite."""
    ip, sp = run.ip, run.sp
    saves, misc, dp, ti, tf, batch = ws.saves, ws.misc, ws.dp, ws.ti, ws.tf, ws.batch
    old, saved, saved_rows, n_saved = saves.old, saves.saved, saves.saved_rows, saves.n_saved
    gstart, badv = batch.gstart, batch.badv
    tally = misc.tally
    if ip[I_REW_UPDATES] == 0:  # frozen: no update at all (nor a ring push: reference)
        frozen_update(upd)
        return True
    n_saved[0] = 0
    G = ip[I_G]
    T = sr.fs[FS_TEMP]
    draw_sampler(pol, tpol, sr, t)
    q = sr.q
    n_groups = sampled_tokens(run, u, q, task, ws, fuse.walk)
    for j in range(n_groups):  # the responses' lengths, as the estimator reads them
        for i in range(G):
            batch.blen[j, i] = batch.bresp[1, j, i]
    if ip[I_ADV_GREEDY] == 1:  # ReMax: each prompt's greedy response under q
        leaf_rewards(
            run.fp, task.leaves, task.max_len, int(sp[SP_OVER_CACHE]), sp[SP_OVER_FACTOR],
            dp.r_leaf,
        )  # fmt: skip
        for j in range(n_groups):
            leaf = greedy_leaf(q, task.graph, batch.bprompt[j], task.max_len)
            batch.bgreedy[j] = dp.r_leaf[leaf]
    algos.advantage(run.ap, batch.brew, badv, n_groups, G, batch.blen, batch.bgreedy)
    for j in range(n_groups):  # the sequence's advantage, broadcast to its tokens
        k = gstart[j]
        for i in range(G):
            length = ti[TI_LEN, k]
            tf[TF_ADV, k : k + length] = badv[j, i]
            k += length
    if ip[I_ADV_TOKEN] == 1:  # per-token baselines (verl's optimal_token_baseline)
        sequence_token_baselines(q, tf, ti, gstart, batch.blen, batch.brew, n_groups, G)
    ent_alpha, ent_kappa = run.fp[F_ENT_ADV_ALPHA], run.fp[F_ENT_ADV_KAPPA]
    need_ent = ip[I_LOSS_ENT] == 1 or ent_alpha > 0.0
    tis = ip[I_TIS] == 1
    logp_t, ent_t = tpol.logp, tpol.ent
    n_tok = gstart[n_groups]
    for k in range(n_tok):  # token arrays of the whole batch, at the trained policy
        row, a = ti[TI_ROW, k], ti[TI_TOK, k]
        tf[TF_LOGP_OLD, k] = logp_t[row, a]
        if need_ent:
            tf[TF_ENT_OLD, k] = ent_t[row]
        if ent_alpha > 0.0:  # the entropy-based advantage (advantage.entropy_term)
            adv_k = tf[TF_ADV, k]
            tf[TF_ADV, k] = adv_k + min(ent_alpha * ent_t[row], abs(adv_k) / ent_kappa)
        if tis:  # log pi_T,old(v) - log q(v)
            tf[TF_IS, k] = logp_t[row, a] - sr.logq[row, a]
    if tis:
        tis_weights(tf, ti, n_tok, sr.si[SI_TIS], sr.fs[FS_CLIP_MIN], sr.fs[FS_CLIP_MAX])
    tally[:] = 0.0
    with_ent = reads_entropy(run)
    mb = ip[I_MB]
    first = True
    for epoch in range(ip[I_EPOCHS]):
        for b in range(mb):
            lo = (b * n_groups) // mb
            hi = ((b + 1) * n_groups) // mb
            if hi > lo:
                n_rows = seq_minibatch_gradient(
                    run, algos, tpol, ws, u, epoch, first, lo, hi, task.max_len
                )
                sampler_apply(run, algos.optimiser, pol, tpol, ws.grad, n_rows, saves, with_ent, T)
                first = False
    n = n_saved[0]
    rows_ok = moved_rows(
        pol, old, task.facts.base_logp, saved_rows, n, not with_ent, misc.dh, misc.kl_row
    )
    step_metrics(ip, t, n_groups, pol, misc.stats, tally, misc.dh, upd)
    upd[9:14] = np.nan  # the dH breakdown (run.audit) is refused with the sampler
    upd[14] = tally[6] / tally[7] if tally[7] > 0 else np.nan
    upd[15] = tally[5] / tally[0] if tally[0] > 0 else 0.0
    upd[16] = misc.stats[2]
    upd[17] = ppo_kl_mean(tally, 8)  # metrics.STEP_KL_METRICS, at the trained policy
    upd[18] = misc.dh[2]
    ok = kept_finite(ip, pol, old.z0, saved_rows, n, rows_ok)
    for i in range(n):
        saved[saved_rows[i]] = False
    return ok


@njit(nogil=True, cache=True)
def run_chunk_seq_sampler(
    t0, n_steps, row_of_step, rng, learner, params, algos, tasks, task_of_run, passk, out, samp
):
    """seq_step.run_chunk_seq for runs with a rollout sampler: the same arguments, and
    samp (a rollout_sampler.Sampler: the runs' sampler fields and staleness rings)."""
    R, M, V = learner.z.shape
    max_len, num_modes = tasks.max_len, tasks.num_modes
    N = tasks.node_row.shape[1]
    L = tasks.leaf_prompt.shape[1]
    S, A = tasks.correct.shape[1], tasks.correct.shape[2]
    n_eval = 2 + 2 * passk.shape[0] + N_EVAL_SEQ_FIXED + num_modes + max_len
    metrics, failed = out.metrics, out.failed
    n_cols = metrics.shape[2]
    for r in range(R):  # over threads: engine/threads.py
        if failed[r] >= 0:
            continue
        run = params_row(params, r)
        ip_r = run.ip
        task = seq_task_row(tasks, task_of_run[r])
        P, G = ip_r[I_P], ip_r[I_G]
        ws = seq_workspace(M, V, N, L, S, A, P, G, max_len, num_modes, ip_r[I_EXACT] == 1, run.cp)
        fuse = seq_fuse(M, V, G, max_len, S, A)  # its walk and dist buffers
        pol = run_policy(learner, r, M, V)
        base_kl(pol.prob, pol.logp, task.facts.base_logp, ws.grad.rows, 0, True, ws.misc.kl_row)
        sr = sampler_run(samp, r, M, V)
        tpol = tempered_policy(pol, sr.fs[FS_TEMP])
        upd = np.zeros(out.upd_sum.shape[1])  # the sampler refuses the controllers
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
            ok = sampler_step_run_seq(run, algos, pol, tpol, task, ws, sr, t, u, upd, fuse)
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
