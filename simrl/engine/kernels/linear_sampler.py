"""The rollout sampler for a linear policy in the numba engine: temperature, top-k, top-p,
staleness and TIS (simrl/rollout_sampling.py; reference.step with RunParams.features is
the specification) on kernels/linear.py's step.

The tabular sampler's parts (kernels/rollout_sampler.py) apply as they are, since they
read only the step's logits z = theta_tab + Phi w and their caches: `sampler_prepare`
(the ring's push of z, q from the behaviour logits, the batch drawn from q, the token
table from the tempered cache, the TIS weights), `tempered_policy` and `temper_all`
(the cache of z / T), and update.minibatch_gradient at the tempered cache. What differs
is the seam (`linear_sampler_update`): with T != 1 the gradient's state terms are taken at
the tempered cache and d loss / dz = (1 / T) d loss / d(z / T) (reference.step:
grad / T), then linear.linear_apply steps theta_tab and w (npg's Fisher is softmax(z)'s,
as policy.npg_step reads z), recomputes z for every state and both caches. The step's
end is linear.linear_step_end's (the exact metrics of softmax(z), the held-out columns).

A run with a sampler runs on `run_chunk_linear_sampler` only (engine/fast_linear.py), so a
linear run without one neither compiles nor executes this module. The config refuses the
sampler with algo.exact, run.audit and the controllers, so neither appears here.
tests/engine/test_linear_fast.py holds it to the reference within 1e-9 after 50 steps.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from simrl.engine.kernels.breakdown import expected_rewards
from simrl.engine.kernels.codes import (
    I_ADV_GREEDY,
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
from simrl.engine.kernels.copying import copy1, copy2
from simrl.engine.kernels.linear import (
    linear_apply,
    linear_finite,
    linear_policy,
    linear_step_end,
    linear_update,
)
from simrl.engine.kernels.pcg64 import next_double
from simrl.engine.kernels.rollout_sampler import (
    FS_TEMP,
    sampler_prepare,
    sampler_run,
    temper_rows,
    tempered_policy,
)
from simrl.engine.kernels.softmax import refresh_rows
from simrl.engine.kernels.step import (
    add_update,
    frozen_update,
    record_eval,
    record_update,
    run_policy,
    workspace,
)
from simrl.engine.kernels.update import finish_gradient, minibatch_gradient
from simrl.engine.kernels.workspace import bandit_task_row, params_row


@njit(cache=True)
def linear_sampler_update(run, opt_fn, pol, tpol, lin, grad, n_rows, n_train, T):
    """linear.linear_update for a sampler step. T = 1: linear_update itself (tpol is pol).
    T != 1: the state terms of the gradient at the tempered cache tpol
    (update.finish_gradient), g / T, linear_apply (theta_tab, w, z and the run's cache of
    every state), then the tempered cache of every state (w moves them all)."""
    if T == 1.0:
        linear_update(run, opt_fn, pol, lin, grad, n_rows, n_train)
        return
    g, rows = grad.g, grad.rows
    K = g.shape[1]
    finish_gradient(run, tpol, grad, n_rows)
    for i in range(n_rows):
        s = rows[i]
        for k in range(K):
            g[s, k] = g[s, k] / T
    linear_apply(run, opt_fn, pol, lin, grad, n_rows, n_train)
    S = pol.z.shape[0]
    temper_rows(pol.z, tpol.z, T, lin.all_rows, S)
    refresh_rows(tpol.z, tpol.logp, tpol.prob, tpol.ent, lin.all_rows, S, np.bool_(True))


@njit(cache=True)
def linear_sampler_step(run, algos, pol, tpol, lin, task, ws, sr, t, u, upd):
    """Step t of one linear run with a rollout sampler (reference.step with
    RunParams.features and a sampler). Returns False if a value became non-finite (the
    logits restored to the step's start)."""
    ip = run.ip
    if ip[I_REW_UPDATES] == 0:  # frozen: no update at all (nor a ring push: reference)
        frozen_update(upd)
        return True
    copy2(lin.theta0, lin.theta)
    n_groups, n_entries = sampler_prepare(run, algos, pol, tpol, task, ws, sr, t, u)
    T = sr.fs[FS_TEMP]
    n_train = ip[I_NTRAIN]
    mb = ip[I_MB]
    first = np.bool_(True)
    for epoch in range(ip[I_EPOCHS]):
        for b in range(mb):
            lo = (b * n_groups) // mb
            hi = ((b + 1) * n_groups) // mb
            if hi > lo:
                n_rows = minibatch_gradient(
                    run, algos, tpol, ws, u, epoch, first, lo, hi, n_entries
                )
                linear_sampler_update(
                    run, algos.optimiser, pol, tpol, lin, ws.grad, n_rows, n_train, T
                )
                first = False
    linear_step_end(ip, pol, lin, ws, t, n_groups, upd)
    return linear_finite(ip, pol, lin, ws.old.z0)


@njit(nogil=True, cache=True)
def run_chunk_linear_sampler(
    t0, n_steps, row_of_step, rng, learner, lin_learner, params, algos, tasks, task_of_run,
    passk, out, phis, phits, phi_of_run, overlap, npg, samp,
):  # fmt: skip
    """linear.run_chunk_linear for runs with a rollout sampler: the same arguments, and
    samp (a rollout_sampler.Sampler: the runs' sampler fields and staleness rings)."""
    R, S, K = learner.z.shape
    n_eval = 2 + 2 * passk.shape[0] + N_EVAL_FIXED
    metrics, failed = out.metrics, out.failed
    n_cols = metrics.shape[2]
    col_overlap = n_eval + N_UPD
    for r in range(R):  # over threads: engine/threads.py
        if failed[r] >= 0:
            continue
        run = params_row(params, r)
        ip_r = run.ip
        task = bandit_task_row(tasks, task_of_run[r])
        P, G = ip_r[I_P], ip_r[I_G]
        ws = workspace(S, K, P, G, P * max(G, K), run.cp)
        if ip_r[I_ADV_GREEDY] == 1:
            expected_rewards(run.fp, task.correct, task.fmt, task.label, ws.rbar)
        pol = run_policy(learner, r, S, K)
        lin = linear_policy(lin_learner, r, phis, phits, phi_of_run, npg)
        sr = sampler_run(samp, r, S, K)
        tpol = tempered_policy(pol, sr.fs[FS_TEMP])
        upd = np.zeros(out.upd_sum.shape[1])  # the sampler refuses the controllers
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
            ok = linear_sampler_step(run, algos, pol, tpol, lin, task, ws, sr, t, u, upd)
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
