"""One step of one run (reference.step), and `run_chunk`: a chunk of steps for every run
of a call (engine/threads.py splits a block's runs over threads, one call each)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from simrl.algorithms.tokens import (
    N_TF,
    TF_ADV,
    TF_COUNT,
    TF_ENT_OLD,
    TF_LOGP_OLD,
    TF_STEER,
)
from simrl.engine.kernels.breakdown import expected_rewards
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
from simrl.engine.kernels.copying import copy1, copy2
from simrl.engine.kernels.metrics import (
    all_finite,
    entropy_change,
    entropy_grad,
    eval_row,
    ppo_kl_mean,
    rows_finite,
)
from simrl.engine.kernels.pcg64 import next_double
from simrl.engine.kernels.quadrants import has_quadrants, quadrant_sums
from simrl.engine.kernels.sampling import collect_batch
from simrl.engine.kernels.softmax import refresh_all
from simrl.engine.kernels.update import minibatch_step
from simrl.engine.kernels.workspace import (
    BanditWorkspace,
    GradSums,
    Policy,
    StepStart,
    bandit_task_row,
    bandit_token_index,
    params_row,
    reset_workspace,
)


@njit(inline="always", cache=True)
def step_run(run, algos, pol, task, ws, t, u, upd, pp, want_pp):
    """Step t of one run (reference.step). Returns False if a value became non-finite.
    algos holds the run's compiled policy loss, advantage estimator and optimiser
    (simrl.algorithms.Algorithms), run (a workspace.Params) their parameters; pol is the
    run's Policy, task its BanditTask, ws its BanditWorkspace (workspace.py). The
    controllers, the quadrant split and the dH breakdown are algos.hooks (kernels/hooks.py:
    compiled only for a call whose runs use them)."""
    ip = run.ip
    hk = algos.hooks
    old = ws.old
    ent_old, tally, aud = old.ent_old, ws.tally, ws.aud
    breakdown = ip[I_BREAKDOWN] == 1
    z = pol.z
    if ip[I_REW_UPDATES] == 0:  # frozen: no update at all
        frozen_update(upd)
        return True
    n_groups, n_entries = prepare_step(run, algos, pol, task, ws, u)
    mb = ip[I_MB]
    # np.bool_(True), np.int64(0), not the literals True, 0: an argument that is a literal
    # on type inference's first pass (Literal[bool](True)) makes numba compile the callee
    # (and all below it) once for the literal and once more for bool; docs/performance.md
    first = np.bool_(True)
    for epoch in range(ip[I_EPOCHS]):
        for b in range(mb):
            lo = (b * n_groups) // mb
            hi = ((b + 1) * n_groups) // mb
            if hi > lo:
                if run.cp.shape[0] > 0:  # the controllers (kernels/controllers.py)
                    hk.before_update(run.cp, run.fp)
                minibatch_step(run, algos, pol, ws, u, epoch, first, lo, hi, n_entries)
                if run.cp.shape[0] > 0:
                    hk.after_update(run.cp, pol)
                first = False
    S = z.shape[0]
    entropy_change(
        z, old.z0, old.gh_old, ent_old, pol.ent, old.logp_old, old.prob_old, pol.logp,
        ws.all_rows, S, ws.dh,
    )  # fmt: skip
    step_metrics(ip, t, n_groups, pol, ws.stats, tally, ws.dh, upd)
    if breakdown:
        hk.breakdown_step(
            run.fp[F_LR], pol, old, aud, ws.rbar, ws.all_rows, S, upd[9:14], pp, t, want_pp
        )
    else:
        upd[9:14] = np.nan
    upd[14] = ppo_kl_mean(tally, 5)  # metrics.STEP_KL_METRICS
    upd[15] = ws.dh[2]  # kl_step_exact, from entropy_change's pass
    if run.cp.shape[0] > 0:  # the controllers' and the quadrant split's columns
        hk.step_end(run.cp, pol, old, ws.quad, ws.all_rows, S, upd, N_UPD)
    return kept_finite(ip, pol, old.z0, ws.all_rows, S, rows_finite(z, ws.all_rows, S))


@njit(inline="always", cache=True)
def prepare_step(run, algos, pol, task, ws, u):
    """The start of a bandit step before its updates (step_run; kernels/linear.py's step
    too): snapshot the policy, draw (or enumerate) the batch, its advantages, and the
    step's token table. Returns (n_groups, n_entries per group). The exact batch, KL in
    the reward and the per-token baselines are algos.hooks (kernels/hooks.py)."""
    ip = run.ip
    hk = algos.hooks
    old = ws.old
    logp_old, prob_old, ent_old = old.logp_old, old.prob_old, old.ent_old
    bprompt, bans, bcount, badv, tok = ws.bprompt, ws.bans, ws.bcount, ws.badv, ws.tok
    tally, aud = ws.tally, ws.aud
    K = pol.z.shape[1]
    snapshot(pol, old)
    exact = ip[I_EXACT] == 1
    if exact:
        n_groups = hk.exact_batch(
            ip, u, prob_old, task.correct, task.fmt, task.label, bprompt, bans, ws.brew,
            bcount, badv, ws.stats, ws.blik,
        )  # fmt: skip
        n_entries = K
    else:
        n_groups = collect_batch(run, u, prob_old, task, ws)
        n_entries = ip[I_G]
        if run.cp.shape[0] > 0:  # KL in the reward (kernels/controllers.py)
            hk.penalise_bandit(
                run.cp, bprompt, bans, ws.brew, logp_old, pol.ref_logp, n_groups, ip[I_G]
            )
        if ip[I_ADV_GREEDY] == 1:  # ReMax: the reward of the argmax answer (rbar = E[r | a])
            for j in range(n_groups):
                s = bprompt[j]
                best = 0
                for k in range(1, K):
                    if prob_old[s, k] > prob_old[s, best]:
                        best = k
                ws.bgreedy[j] = ws.rbar[s, best]
        # lens: bcount is 1 per sampled answer, a bandit response's length
        algos.advantage(run.ap, ws.brew, badv, n_groups, ip[I_G], bcount, ws.bgreedy)
        if ip[I_ADV_TOKEN] == 1:  # a per-token baseline (verl's optimal_token_baseline)
            hk.token_baselines_bandit(prob_old, bprompt, bans, ws.brew, badv, n_groups, ip[I_G])
    for i in range(tally.shape[0]):
        tally[i] = 0.0
    breakdown = ip[I_BREAKDOWN] == 1
    if breakdown:
        aud[:, :] = 0.0
    ent_alpha, ent_kappa = run.fp[F_ENT_ADV_ALPHA], run.fp[F_ENT_ADV_KAPPA]
    # token arrays of the whole batch, in batch order, gathered once per step: one row of
    # the table at a time (each loop a plain gather or copy)
    t_lo, t_adv, t_ent, t_cnt = tok[TF_LOGP_OLD], tok[TF_ADV], tok[TF_ENT_OLD], tok[TF_COUNT]
    for j in range(n_groups):
        s = bprompt[j]
        b = j * n_entries
        h = ent_old[s]
        for i in range(n_entries):
            t_lo[b + i] = logp_old[s, bans[j, i]]
            t_ent[b + i] = h
            t_cnt[b + i] = bcount[j, i]
            t_adv[b + i] = badv[j, i]
    if ent_alpha > 0.0:  # the entropy-based advantage (advantage.entropy_term)
        for j in range(n_groups):
            a_ent = ent_alpha * ent_old[bprompt[j]]
            for i in range(n_entries):
                a_tok = t_adv[j * n_entries + i]
                t_adv[j * n_entries + i] = a_tok + min(a_ent, abs(a_tok) / ent_kappa)
    if breakdown:  # STEER's importance-weighted advantage A / pi_old(a), pi_old clamped
        for j in range(n_groups):
            s = bprompt[j]
            for i in range(n_entries):
                pos = j * n_entries + i
                tok[TF_STEER, pos] = tok[TF_ADV, pos] / min(
                    max(prob_old[s, bans[j, i]], STEER_PROB_FLOOR), 1.0
                )
    return n_groups, n_entries


@njit(inline="always", cache=True)
def frozen_update(upd):
    """The frozen anchor samples nothing and moves nothing (reference.frozen_update_metrics)."""
    upd[:] = np.nan
    upd[2] = upd[3] = upd[4] = upd[5] = upd[6] = 0.0


@njit(inline="always", cache=True)
def snapshot(pol, old):
    """old (a workspace.StepStart): the logits and cache at the step's start, and each
    entry's metrics.entropy_grad (update.save_rows, every state)."""
    z, logp, prob, ent = pol.z, pol.logp, pol.prob, pol.ent
    z0, logp_old, prob_old, ent_old, gh_old = (
        old.z0,
        old.logp_old,
        old.prob_old,
        old.ent_old,
        old.gh_old,
    )
    copy2(z0, z)
    copy2(logp_old, logp)
    copy2(prob_old, prob)
    copy1(ent_old, ent)
    for s in range(z.shape[0]):
        for k in range(z.shape[1]):
            gh_old[s, k] = entropy_grad(prob[s, k], logp[s, k], ent[s])


@njit(inline="always", cache=True)
def step_metrics(ip, t, n_groups, pol, stats, tally, dh, upd):
    """After the epochs (bandit and sequence steps alike): the ProRL reference reset, then
    update metrics 0..8: reward mean, zero-variance share, groups, the clip and selection
    fractions of tally (counted, low, high, dual, selected, ...), and dh: exact dH and
    first order over the moved states (metrics.entropy_change, or the sequence step's
    pass over its moved states)."""
    every = ip[I_REFRESET]
    if every > 0 and (t + 1) % every == 0:
        copy2(pol.zref, pol.z)
        pol.m[:, :] = 0.0
        pol.v[:, :] = 0.0
        pol.adam_t[0] = 0
        copy2(pol.ref_logp, pol.logp)  # the cache holds log softmax(z) and softmax(z)
        copy2(pol.ref_prob, pol.prob)
    upd[0] = stats[0]
    upd[1] = stats[1]
    upd[2] = n_groups
    for i in range(4):
        upd[3 + i] = tally[1 + i] / tally[0] if tally[0] > 0 else 0.0
    upd[7] = dh[0]
    upd[8] = dh[1]


@njit(inline="always", cache=True)
def kept_finite(ip, pol, z0, rows, n_rows, rows_ok):
    """reference.is_finite of the new state, given rows_ok: are the logits of the states
    it may have changed (rows[:n_rows]) finite (metrics.rows_finite)? If not, restore the
    step's starting logits (the last finite ones; state rows[i] is saved in slot i of z0)
    and return False."""
    if rows_ok and (ip[I_OPT_EVERY] == 0 or (all_finite(pol.m) and all_finite(pol.v))):
        return True
    for i in range(n_rows):
        copy1(pol.z[rows[i]], z0[i])
    return False


@njit(inline="always", cache=True)
def add_update(upd, upd_sum, upd_cnt):
    """Sum the step's finite update metrics until the next recorded row."""
    for j in range(upd.shape[0]):
        if math.isfinite(upd[j]):
            upd_sum[j] += upd[j]
            upd_cnt[j] += 1


@njit(inline="always", cache=True)
def record_update(metrics_r, row, first_col, upd_sum, upd_cnt):
    """Means of the update metrics since the last recorded row into metrics row `row`
    (NaN where none was finite), then reset the sums."""
    for j in range(upd_sum.shape[0]):
        metrics_r[row, first_col + j] = upd_sum[j] / upd_cnt[j] if upd_cnt[j] > 0 else np.nan
        upd_sum[j] = 0.0
        upd_cnt[j] = 0


@njit(cache=True)
def workspace(S, K, P, G, N_max, cp):
    """A run's scratch arrays (workspace.BanditWorkspace names them); cp is the run's
    controllers' row (the quadrant split's sums are made only when it asks for them).
    N_max = P n, n the entries of one group: G sampled answers, or all K in exact mode
    (token_width); the batch arrays are n wide and the token tables N_max long."""
    n = N_max // P if P > 0 else max(G, K)
    old = StepStart(
        np.empty((S, K)),  # z0
        np.empty((S, K)),  # logp_old
        np.empty((S, K)),  # prob_old
        np.empty(S),  # ent_old
        np.empty((S, K)),  # gh_old
    )
    grad = GradSums(
        np.zeros((S, K)),  # g
        np.zeros(S),  # csum
        np.zeros(S),  # wsum
        np.zeros(S, dtype=np.bool_),  # touched
        np.zeros(S, dtype=np.int64),  # rows: the touched states of a minibatch, in order
    )
    return BanditWorkspace(
        old,
        grad,
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
        np.zeros(3),  # dh: exact dH, first order, kl_step_exact (metrics.entropy_change)
        np.zeros((4, S)),  # aud (kernels/breakdown.py)
        np.zeros((S, K)),  # rbar: E[r | a], filled by run_chunk for the dH breakdown or ReMax
        np.zeros(P + 1),  # bgreedy
        np.zeros((P + 1, n)),  # blik: likelihoods under pi_old, for a reward that reads them
        quadrant_sums(cp, S, K),  # quad (kernels/quadrants.py)
    )


@njit(inline="always", cache=True)
def token_width(ip, K):
    """The entries of one group of a bandit run: all K answers in exact mode, else its G
    samples (the width of its batch arrays; its token tables hold P of them)."""
    return K if ip[I_EXACT] == 1 else ip[I_G]


@njit(inline="always", cache=True)
def record_eval(metrics_r, row, n_eval, pol, task, passk, n_train, row_buf):
    """The exact eval metrics of the cached policy into metrics row `row` of one run."""
    eval_row(
        pol.prob, pol.logp, pol.ent, task.base_logp, task.correct, task.fmt, task.label,
        task.top, passk, n_train, row_buf,
    )  # fmt: skip
    for j in range(n_eval):
        metrics_r[row, j] = row_buf[j]


@njit(inline="always", cache=True)
def run_policy(learner, r, S, K):
    """Run r's Policy (workspace.py): views of its rows of the batch's Learner, and fresh
    caches of its policy and of its KL reference (softmax.refresh_all)."""
    return run_policy_in(learner, r, policy_caches(S, K))


@njit(inline="always", cache=True)
def policy_caches(S, K):
    """The caches of a run's Policy: log pi, pi, H of the policy and of its KL reference
    (run_policy_in fills them; a thread part's runs share one set, run_chunk)."""
    return (
        np.empty((S, K)), np.empty((S, K)), np.empty(S),
        np.empty((S, K)), np.empty((S, K)), np.empty(S),
    )  # fmt: skip


@njit(inline="always", cache=True)
def run_policy_in(learner, r, caches):
    """run_policy with the caches given (policy_caches): every entry is refreshed from
    run r's logits (softmax.refresh_all writes each), so a previous run's values in them
    are all overwritten."""
    logp, prob, ent, ref_logp, ref_prob, ref_ent = caches
    z_r, zref_r = learner.z[r], learner.zref[r]
    refresh_all(z_r, logp, prob, ent)
    refresh_all(zref_r, ref_logp, ref_prob, ref_ent)
    return Policy(
        z_r, zref_r, learner.m[r], learner.v[r], learner.adam_t[r : r + 1], logp, prob, ent,
        ref_logp, ref_prob,
    )  # fmt: skip


@njit(nogil=True, cache=True)
def run_chunk(
    t0, n_steps, row_of_step, rng, learner, params, algos, tasks, task_of_run, passk, out
):
    """Advance runs by n_steps from step t0; write eval/update rows where row_of_step >= 0.
    Every run of the call has the policy loss, advantage estimator and optimiser of algos
    (their parameters: the rows of params, a workspace.Params); learner (a Learner) holds
    the runs' logits and optimiser state, tasks (a BanditTask) the distinct tasks' arrays,
    task_of_run each run's, and out (a ChunkOut) what the call writes.

    Views of the shared arrays are taken once per run here, never per step: every view
    touches its parent's reference count, and threads contending for one count cost more
    than a step's arithmetic. Each run draws its step's uniforms from its own PCG64 state
    (rng[r], numpy's stream; see pcg64.py) into a private buffer.
    """
    R, S, K = learner.z.shape
    n_eval = 2 + 2 * passk.shape[0] + N_EVAL_FIXED  # acc, pass@k (train, held-out), the rest
    metrics, failed, pp = out.metrics, out.failed, out.pp
    n_cols = metrics.shape[2]
    # each run's controllers' state, written back at the chunk's end through this view
    # (inside a prange, as this loop once was, a write to a field of an argument's named
    # tuple went to a copy: numba 0.68's parfor lowering)
    controls = params.cp
    # one workspace and one set of policy caches for this part's runs, allocated for the
    # first run and reset (reset_workspace) for each next run of the same sizes, instead
    # of a fresh allocation per run: at K = 4096 those were most of a call's time, in
    # page faults (docs/performance.md, "Memory and small calls")
    ip0 = params.ip[0]
    key = (ip0[I_P], ip0[I_G], token_width(ip0, K), has_quadrants(controls[0]))
    ws = workspace(S, K, key[0], key[1], key[0] * key[2], controls[0])
    fresh = True
    caches = policy_caches(S, K)
    for r in range(R):  # over threads: engine/threads.py
        if failed[r] >= 0:
            continue
        run = params_row(params, r)
        ip_r = run.ip
        # the per-state dH breakdown: pp (R, steps, S, 7), or (R, 0, S, 7)
        want_pp = pp.shape[1] > 0
        pp_r = pp[r]
        task = bandit_task_row(tasks, task_of_run[r])
        P, G, n = ip_r[I_P], ip_r[I_G], token_width(ip_r, K)
        key_r = (P, G, n, has_quadrants(run.cp))
        if key_r != key:
            key = key_r
            ws = workspace(S, K, P, G, P * n, run.cp)
        elif not fresh:
            reset_workspace(ws, S)
        fresh = False
        if ip_r[I_BREAKDOWN] == 1 or ip_r[I_ADV_GREEDY] == 1:
            expected_rewards(run.fp, task.correct, task.fmt, task.label, ws.rbar)
        pol = run_policy_in(learner, r, caches)
        upd = np.zeros(out.upd_sum.shape[1])  # N_UPD, then the controllers' and quadrants'
        row_buf = np.empty(n_cols)
        L = ip_r[I_LTOTAL]
        u = np.empty(max(L, 1))
        st = rng[r].copy()
        upd_sum_r, upd_cnt_r = out.upd_sum[r], out.upd_cnt[r]
        if t0 == 0:
            record_eval(metrics[r], np.int64(0), n_eval, pol, task, passk, ip_r[I_NTRAIN], row_buf)
        for i in range(n_steps):
            t = t0 + i
            for j in range(L):
                u[j] = next_double(st)
            ok = step_run(run, algos, pol, task, ws, t, u, upd, pp_r, want_pp)
            if not ok:
                failed[r] = t + 1
                break
            add_update(upd, upd_sum_r, upd_cnt_r)
            row = row_of_step[t + 1]
            if row >= 0:
                record_eval(metrics[r], row, n_eval, pol, task, passk, ip_r[I_NTRAIN], row_buf)
                record_update(metrics[r], row, n_eval, upd_sum_r, upd_cnt_r)
        copy1(rng[r], st)
        copy1(controls[r], run.cp)  # the controllers' state, for the next chunk
