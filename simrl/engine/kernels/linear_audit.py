"""The controllers and the dH breakdown for a linear policy in the numba engine: KL in the
reward (fixed and adaptive), TR-DPO's reference mixing, Skywork-OR1's adaptive entropy
coefficient (kernels/controllers.py; simrl/controllers.py is the rule) and run.audit
(kernels/breakdown.py; engine/dh_breakdown.py), on kernels/linear.py's step.
reference.step with RunParams.features is the specification.

The tabular hooks apply as they are, since they read only the step's logits
z = theta_tab + Phi w and their caches: the penalty in step.prepare_step, the
entropy's measure and the breakdown's per-token terms in update.minibatch_gradient (all
three behind the run's flags), `before_update` / `after_update` around each update (the
TR-DPO mix blends the reference's logits with z, as controllers.after_update does with the
reference's z) and `controls_end` at the step's end (the controllers' row Params.cp
carried across chunks). The one difference is the step end's moved states: a linear
policy's are those whose theta_tab moved (step_end.finish_step), not those whose logits
moved (every state moves through w), so the breakdown's means run over that mask
(breakdown.breakdown_over). run.audit_quadrants is refused with a linear policy by the
config (a quadrant's displacement is its tokens' sgd step on the logits).

A linear run with a controller or run.audit runs on `run_chunk_linear_audit` only
(engine/fast_linear.py), so a linear run without them neither compiles nor executes this
module. tests/engine/test_linear_fast.py holds it to the reference within 1e-9 after 50
steps.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from simrl.engine.kernels.breakdown import breakdown_over, expected_rewards
from simrl.engine.kernels.codes import (
    F_LR,
    I_ADV_GREEDY,
    I_BREAKDOWN,
    I_EPOCHS,
    I_G,
    I_LTOTAL,
    I_MB,
    I_NTRAIN,
    I_P,
    I_REW_UPDATES,
    N_EVAL_FIXED,
    N_UPD,
)
from simrl.engine.kernels.controllers import after_update, before_update, controls_end
from simrl.engine.kernels.copying import copy1, copy2
from simrl.engine.kernels.linear import (
    N_UPD_LINEAR,
    linear_finite,
    linear_policy,
    linear_step_end,
    linear_update,
)
from simrl.engine.kernels.pcg64 import next_double
from simrl.engine.kernels.step import (
    add_update,
    frozen_update,
    prepare_step,
    record_eval,
    record_update,
    run_policy,
    workspace,
)
from simrl.engine.kernels.update import minibatch_gradient
from simrl.engine.kernels.workspace import bandit_task_row, params_row


@njit(cache=True)
def theta_moved(theta, theta0, moved):
    """moved[s]: did state s's theta_tab change in the step (step_end.finish_step's rule
    for a linear policy; linear.linear_changes's)?"""
    S, K = theta.shape
    for s in range(S):
        m = False
        for k in range(K):
            if theta[s, k] != theta0[s, k]:
                m = True
                break
        moved[s] = m


@njit(cache=True)
def linear_audit_step(run, algos, pol, lin, task, ws, t, u, upd, moved, pp, want_pp):
    """Step t of one linear run with controllers and/or the dH breakdown (reference.step
    with RunParams.features). moved (S,) is scratch for the breakdown's moved states;
    pp, want_pp as step.step_run's. Returns False if a value became non-finite."""
    ip = run.ip
    cp = run.cp
    ctl = cp.shape[0] > 0
    if ip[I_REW_UPDATES] == 0:  # frozen: no update at all, no held-out change
        frozen_update(upd)
        return True
    copy2(lin.theta0, lin.theta)
    n_groups, n_entries = prepare_step(run, algos, pol, task, ws, u)
    n_train = ip[I_NTRAIN]
    mb = ip[I_MB]
    first = np.bool_(True)
    for epoch in range(ip[I_EPOCHS]):
        for b in range(mb):
            lo = (b * n_groups) // mb
            hi = ((b + 1) * n_groups) // mb
            if hi > lo:
                if ctl:
                    before_update(cp, run.fp)
                n_rows = minibatch_gradient(run, algos, pol, ws, u, epoch, first, lo, hi, n_entries)
                linear_update(run, algos.optimiser, pol, lin, ws.grad, n_rows, n_train)
                if ctl:
                    after_update(cp, pol)
                first = False
    linear_step_end(ip, pol, lin, ws, t, n_groups, upd)
    if ip[I_BREAKDOWN] == 1:
        S = pol.z.shape[0]
        theta_moved(lin.theta, lin.theta0, moved)
        breakdown_over(
            run.fp[F_LR], pol, ws.old, ws.aud, ws.rbar, ws.all_rows, S, moved, upd[9:14], pp,
            t, want_pp,
        )  # fmt: skip
    if ctl:  # the controllers' columns after the linear policy's (batch.names_for)
        controls_end(cp, pol, upd, N_UPD_LINEAR)
    return linear_finite(ip, pol, lin, ws.old.z0)


@njit(nogil=True, cache=True)
def run_chunk_linear_audit(
    t0, n_steps, row_of_step, rng, learner, lin_learner, params, algos, tasks, task_of_run,
    passk, out, phis, phits, phi_of_run, overlap, npg,
):  # fmt: skip
    """linear.run_chunk_linear for runs with a controller or run.audit: the same
    arguments; params.cp holds the controllers' rows (written back at the chunk's end),
    out.pp the per-state breakdown when run_batch's audit_prompts asks for it."""
    R, S, K = learner.z.shape
    n_eval = 2 + 2 * passk.shape[0] + N_EVAL_FIXED
    metrics, failed, pp = out.metrics, out.failed, out.pp
    n_cols = metrics.shape[2]
    col_overlap = n_eval + N_UPD
    controls = params.cp
    for r in range(R):  # over threads: engine/threads.py
        if failed[r] >= 0:
            continue
        run = params_row(params, r)
        ip_r = run.ip
        want_pp = pp.shape[1] > 0
        pp_r = pp[r]
        task = bandit_task_row(tasks, task_of_run[r])
        P, G = ip_r[I_P], ip_r[I_G]
        ws = workspace(S, K, P, G, P * max(G, K), run.cp)
        if ip_r[I_BREAKDOWN] == 1 or ip_r[I_ADV_GREEDY] == 1:
            expected_rewards(run.fp, task.correct, task.fmt, task.label, ws.rbar)
        pol = run_policy(learner, r, S, K)
        lin = linear_policy(lin_learner, r, phis, phits, phi_of_run, npg)
        moved = np.zeros(S, dtype=np.bool_)
        upd = np.zeros(out.upd_sum.shape[1])  # N_UPD_LINEAR, then the controllers'
        row_buf = np.empty(n_cols)
        L = ip_r[I_LTOTAL]
        u = np.empty(max(L, 1))
        st = rng[r].copy()
        upd_sum_r, upd_cnt_r = out.upd_sum[r], out.upd_cnt[r]
        if t0 == 0:
            record_eval(metrics[r], np.int64(0), n_eval, pol, task, passk, ip_r[I_NTRAIN], row_buf)
            metrics[r, 0, col_overlap] = overlap[r]
        for i in range(n_steps):
            t = t0 + i
            for j in range(L):
                u[j] = next_double(st)
            ok = linear_audit_step(run, algos, pol, lin, task, ws, t, u, upd, moved, pp_r, want_pp)
            if not ok:
                failed[r] = t + 1
                break
            add_update(upd, upd_sum_r, upd_cnt_r)
            row = row_of_step[t + 1]
            if row >= 0:
                record_eval(metrics[r], row, n_eval, pol, task, passk, ip_r[I_NTRAIN], row_buf)
                record_update(metrics[r], row, n_eval, upd_sum_r, upd_cnt_r)
                metrics[r, row, col_overlap] = overlap[r]
        copy1(rng[r], st)
        copy1(controls[r], run.cp)  # the controllers' state, for the next chunk
