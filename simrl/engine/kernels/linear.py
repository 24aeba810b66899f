"""A linear policy in the numba engine (simrl/policy.py; theory/NOTES.md "Shared
parameters"): z(s, .) = theta_tab(s, .) + Phi(s, ., :) w, w in R^d shared by every state.

The step is the bandit's (step.prepare_step, update.minibatch_gradient: the per-state
logit gradient g (S, K) of every loss, advantage, KL and entropy term, unchanged), then
the policy class's seam (policy.apply_gradient): theta_tab steps with g (the run's
optimiser, its moments the Learner's m, v), w with Phi^T g = sum_{s,a} g(s, a) Phi(s, a, :)
(the same optimiser, its own moments and step count), and z = theta_tab + Phi w is
recomputed for every state (every state moves through w) with its cache. npg steps
theta_tab with the tabular natural step (the cached pi of z) and w with the exact Fisher
of w (npg_w; theory/NOTES.md "The natural step", option (c)).

The step's end: the moved states are those whose theta_tab moved (step_end.finish_step),
their exact dH, first order, step KL; the states outside the batch get dH_heldout and
dH_spill_first_order. policy_overlap (a constant per run, computed in Python from Phi and
the base policy) is written at every eval row.

This module's `run_chunk_linear` is the plain kernel: a run with a rollout sampler runs on
kernels/linear_sampler.py's kernel, a run with a controller or run.audit on
kernels/linear_audit.py's (engine/fast_linear.py picks one per call), so a run without them
neither compiles nor executes their code. Those kernels reuse this module's parts
(linear_policy, linear_update / linear_apply, linear_step_end, linear_finite).

With Phi = 0 every added term is an exact zero (Phi^T g = 0, w stays 0, z = theta_tab +
0.0): the tabular run bitwise (tests/engine/test_linear_fast.py).
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from simrl.engine.kernels.codes import (
    I_ADV_GREEDY,
    I_BREAKDOWN,
    I_EPOCHS,
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
)
from simrl.engine.kernels.copying import copy1, copy2
from simrl.engine.kernels.metrics import all_finite, ppo_kl_mean, row_first_order_kl
from simrl.engine.kernels.pcg64 import next_double
from simrl.engine.kernels.softmax import refresh_rows
from simrl.engine.kernels.step import (
    add_update,
    expected_rewards,
    frozen_update,
    policy_caches,
    prepare_step,
    record_eval,
    record_update,
    reset_workspace,
    run_policy_in,
    step_metrics,
    token_width,
    workspace,
)
from simrl.engine.kernels.update import finish_gradient, minibatch_gradient
from simrl.engine.kernels.workspace import bandit_task_row, params_row

#: update metrics of a linear run: the bandit's N_UPD, then policy_overlap (written at
#: the eval rows, NaN here), dH_heldout, dH_spill_first_order (policy.policy_metric_names)
N_UPD_LINEAR = N_UPD + 3
#: npg on w: eigen-directions of F_w below this fraction of its largest eigenvalue are
#: its null space (Phi^T g has no component there up to rounding; policy.NPG_W_RCOND)
NPG_W_RCOND = 1e-10

#: a linear policy's learned state over the runs (R, ...): theta_tab (R, S, K), w and its
#: optimiser's moments (R, 1, d), w's step count (R,). The Learner's z holds the logits
#: theta_tab + Phi w, its m, v, adam_t theta_tab's optimiser state
LinLearner = namedtuple("LinLearner", ["theta", "w", "wm", "wv", "w_t"])

#: one run's linear policy in the step kernels: its LinLearner views (w_t a (1,) view),
#: its features phi (S, K, d) and phit, the same transposed (S, d, K), and scratch: theta_tab at the step's start, Phi^T g (1, d),
#: the row index 0 (1,) (w's optimiser steps "row 0" of w), the batch's prompts' flags (S,),
#: npg (1: w takes npg_w's step), and w1, gw1 the (d,) views of w, gw and all_rows
#: 0..S-1, taken once per run (a view taken per update would touch the shared parent's
#: reference count from every thread: step.run_chunk's note)
LinPolicy = namedtuple(
    "LinPolicy",
    "theta w wm wv w_t phi phit theta0 gw wrow inb npg w1 gw1 all_rows".split(),
)


@njit(cache=True)
def linear_logits(theta, phit, w, z):
    """z = theta_tab + Phi w for every state (policy.logits), from phit = Phi transposed
    (S, d, K): the dot products accumulate in z over j with the answers innermost, a loop
    that vectorises (one dot product per entry, summed over j in order, would be a chain
    of d dependent adds per entry), then theta_tab is added."""
    S, d, K = phit.shape
    for s in range(S):
        for k in range(K):
            z[s, k] = 0.0
        for j in range(d):
            wj = w[j]
            for k in range(K):
                z[s, k] += phit[s, j, k] * wj
        for k in range(K):
            z[s, k] = theta[s, k] + z[s, k]


@njit(cache=True)
def npg_w(lr, phi, prob, gw, w, n_train):
    """w <- w - lr F_w^+ Phi^T g with the exact Fisher of w over the training states,
    F_w = sum_{s < n_train} Phi_s^T (diag pi_s - pi_s pi_s^T) Phi_s (theory/NOTES.md, "The
    natural step", option (c); policy.npg_w_step is the numpy form): an eigendecomposition
    of the d x d F_w, directions below NPG_W_RCOND times its largest eigenvalue dropped
    (the minimum-norm solution). Cost O(n_train K d^2 + d^3) per update."""
    K, d = phi.shape[1], phi.shape[2]
    f = np.zeros((d, d))
    a = np.empty(d)
    for s in range(n_train):
        for i in range(d):
            a[i] = 0.0
        for k in range(K):
            p = prob[s, k]
            for i in range(d):
                a[i] += p * phi[s, k, i]
                pi_i = p * phi[s, k, i]
                for j in range(d):
                    f[i, j] += pi_i * phi[s, k, j]
        for i in range(d):
            for j in range(d):
                f[i, j] -= a[i] * a[j]
    for i in range(d):  # symmetric up to rounding: use the mean of the two triangles
        for j in range(i + 1, d):
            m = 0.5 * (f[i, j] + f[j, i])
            f[i, j] = m
            f[j, i] = m
    lam, vec = np.linalg.eigh(f)
    top = lam[d - 1]
    if not top > 0.0:
        return
    cut = NPG_W_RCOND * top
    for e in range(d):
        if lam[e] <= cut:
            continue
        c = 0.0
        for j in range(d):
            c += vec[j, e] * gw[j]
        c /= lam[e]
        for j in range(d):
            w[j] -= lr * c * vec[j, e]


@njit(cache=True)
def linear_update(run, opt_fn, pol, lin, grad, n_rows, n_train):
    """The policy-class seam of one minibatch update (policy.apply_gradient): finish g on
    the touched states (update.finish_gradient), then linear_apply."""
    finish_gradient(run, pol, grad, n_rows)
    linear_apply(run, opt_fn, pol, lin, grad, n_rows, n_train)


@njit(inline="always", cache=True)
def linear_apply(run, opt_fn, pol, lin, grad, n_rows, n_train):
    """The optimiser's part of linear_update, from the finished logit gradient g of the
    touched states: Phi^T g, the optimiser's steps of theta_tab and of w (npg: npg_w for
    w, from the same pre-update pi = the cache of softmax(z)), then z and the cache of
    every state (kernels/linear_sampler.py calls it with g divided by T). Inlined, so the
    plain kernel's update is one function as before the split (docs/performance.md)."""
    z, logp, prob, ent = pol.z, pol.logp, pol.prob, pol.ent
    g, touched, rows = grad.g, grad.touched, grad.rows
    phi = lin.phi
    S, K = z.shape
    d = phi.shape[2]
    gw = lin.gw1
    for j in range(d):
        gw[j] = 0.0
    for i in range(n_rows):
        s = rows[i]
        for k in range(K):
            gsk = g[s, k]
            for j in range(d):
                gw[j] += phi[s, k, j] * gsk
    if lin.npg:
        npg_w(run.op[0], phi, prob, gw, lin.w1, n_train)
    opt_fn(run.op, lin.theta, g, prob, pol.m, pol.v, pol.adam_t, rows, n_rows)  # leaves g zero
    if not lin.npg:
        opt_fn(run.op, lin.w, lin.gw, prob, lin.wm, lin.wv, lin.w_t, lin.wrow, 1)
    for i in range(n_rows):
        touched[rows[i]] = False
    linear_logits(lin.theta, lin.phit, lin.w1, z)
    refresh_rows(z, logp, prob, ent, lin.all_rows, S, np.bool_(True))


@njit(cache=True)
def linear_step(run, algos, pol, lin, task, ws, t, u, upd, state):
    """Step t of one run with a linear policy (reference.step with RunParams.features).
    Returns False if a value became non-finite (the logits restored to the step's start)."""
    ip = run.ip
    old = ws.old
    if ip[I_REW_UPDATES] == 0:  # frozen: no update at all, no held-out change
        frozen_update(upd)
        return True
    copy2(lin.theta0, lin.theta)
    n_groups, n_entries = prepare_step(run, algos, pol, task, ws, u)
    n_train = ip[I_NTRAIN]
    mb = ip[I_MB]
    first = np.bool_(True)  # not Literal[bool] (step.step_run)
    for epoch in range(ip[I_EPOCHS]):
        for b in range(mb):
            lo = (b * n_groups) // mb
            hi = ((b + 1) * n_groups) // mb
            if hi > lo:
                n_rows = minibatch_gradient(run, algos, pol, ws, u, epoch, first, lo, hi, n_entries)
                linear_update(run, algos.optimiser, pol, lin, ws.grad, n_rows, n_train)
                first = False
    linear_step_end(ip, pol, lin, ws, t, n_groups, upd)
    return linear_finite(ip, pol, lin, old.z0)


@njit(inline="always", cache=True)
def linear_step_end(ip, pol, lin, ws, t, n_groups, upd):
    """The end of a linear step after its updates (step_end.finish_step): ProRL's reset of
    w's optimiser state, the entropy columns (linear_changes), step.step_metrics, verl's
    ppo_kl and the exact step KL; upd[9:14] (the dH breakdown) NaN, which
    kernels/linear_audit.py then fills for a run with run.audit."""
    every = ip[I_REFRESET]
    if every > 0 and (t + 1) % every == 0:  # ProRL: w's optimiser state resets too
        lin.wm[:, :] = 0.0
        lin.wv[:, :] = 0.0
        lin.w_t[0] = 0
    kl = linear_changes(pol, lin, ws.old, ws, n_groups, upd)
    step_metrics(ip, t, n_groups, pol, ws.stats, ws.tally, ws.dh, upd)
    upd[9:14] = np.nan
    upd[14] = ppo_kl_mean(ws.tally, 5)
    upd[15] = kl
    upd[N_UPD] = np.nan  # policy_overlap: written at the eval rows


@njit(cache=True)
def linear_changes(pol, lin, old, ws, n_groups, upd):
    """step_end.finish_step's entropy columns for a linear policy: exact dH and first order
    over the states whose theta_tab moved (into ws.dh), and their step KL (returned); then
    dH_heldout and dH_spill_first_order over the states outside the step's batch (into
    upd[N_UPD + 1], upd[N_UPD + 2]; NaN when every state was in it)."""
    z, ent, logp = pol.z, pol.ent, pol.logp
    z0, ent_old, gh_old, logp_old, prob_old = (
        old.z0, old.ent_old, old.gh_old, old.logp_old, old.prob_old
    )  # fmt: skip
    theta, theta0, inb = lin.theta, lin.theta0, lin.inb
    S, K = z.shape
    n, dh, fo, kl = 0, 0.0, 0.0, 0.0
    for s in range(S):
        moved = False
        for k in range(K):
            if theta[s, k] != theta0[s, k]:
                moved = True
                break
        if not moved:
            continue
        n += 1
        dh += ent[s] - ent_old[s]
        f, k_s = row_first_order_kl(z, z0, gh_old, logp_old, prob_old, logp, s, s)
        fo -= f
        kl += k_s
    ws.dh[0] = dh / n if n > 0 else np.nan
    ws.dh[1] = fo / n if n > 0 else np.nan
    for s in range(S):
        inb[s] = False
    for j in range(n_groups):
        inb[ws.bprompt[j]] = True
    nh, hh, hf = 0, 0.0, 0.0
    for s in range(S):
        if inb[s]:
            continue
        nh += 1
        hh += ent[s] - ent_old[s]
        hf -= row_first_order_kl(z, z0, gh_old, logp_old, prob_old, logp, s, s)[0]
    upd[N_UPD + 1] = hh / nh if nh > 0 else np.nan
    upd[N_UPD + 2] = hf / nh if nh > 0 else np.nan
    return kl / n if n > 0 else np.nan


@njit(cache=True)
def linear_finite(ip, pol, lin, z0):
    """step_end.is_finite of a linear run's new state; if not finite, restore the logits
    of the step's start (every state) and return False."""
    ok = all_finite(pol.z) and all_finite(lin.theta) and all_finite(lin.w)
    if ok and ip[I_OPT_EVERY] == 1:
        ok = all_finite(pol.m) and all_finite(pol.v) and all_finite(lin.wm) and all_finite(lin.wv)
    if ok:
        return True
    copy2(pol.z, z0)
    return False


@njit(cache=True)
def linear_policy(lin_learner, r, phis, phits, phi_of_run, npg):
    """Run r's LinPolicy: views of its rows of the batch's LinLearner and of its features,
    fresh scratch (run_chunk_linear and the kernels of linear_sampler.py, linear_audit.py)."""
    S, K, d = phis.shape[1], phis.shape[2], phis.shape[3]
    w_r, gw_r = lin_learner.w[r], np.zeros((1, d))
    return LinPolicy(
        lin_learner.theta[r], w_r, lin_learner.wm[r], lin_learner.wv[r],
        lin_learner.w_t[r : r + 1], phis[phi_of_run[r]], phits[phi_of_run[r]],
        np.empty((S, K)), gw_r, np.zeros(1, dtype=np.int64), np.zeros(S, dtype=np.bool_),
        npg == 1, w_r[0], gw_r[0], np.arange(S),
    )  # fmt: skip


def chunk_loop(start, step, finish):
    """The chunk loop of the three linear kernels (step.run_chunk's, for a linear policy)
    with a kernel's own parts, numba functions: `start(extra, out, r, pol)` returns a
    run's own state (the sampler's ring and tempered cache; the audit's moved mask and
    breakdown rows), `step(run, algos, pol, lin, task, ws, t, u, upd, state)` advances it
    one step (False: a non-finite value), `finish(params, r, run)` ends the run's chunk.
    run_chunk_linear below and the kernels of linear_sampler.py and linear_audit.py each
    call the loop made for their parts, a global of their module.

    The parts are the closure's constants, not arguments: numba types a function argument
    by its dispatcher, an object of this process, so a kernel passing one holds a pointer
    ("dynamic globals") and cannot be cached (measured: every process compiled it again);
    a closure's free functions are called directly. The loop is inline="always", compiled
    into the entry kernel that calls it (which is cached): as its own library it linked
    and optimised the whole step once more (a cold linear run: 73.7 CPU s, inlined 55.1).

    lin_learner (a LinLearner) holds each run's theta_tab and w, phis (n_phi, S, K, d) the
    batch's distinct features (zero-padded to one d), phits the same transposed
    (n_phi, S, d, K), phi_of_run each run's, overlap (R,) each run's policy_overlap, npg 1
    when the optimiser is npg. As in step.run_chunk, a thread part's runs share one
    workspace and one set of policy caches, reset for each next run of the same sizes."""

    @njit(inline="always")
    def loop(
        t0, n_steps, row_of_step, rng, learner, lin_learner, params, algos, tasks,
        task_of_run, passk, out, phis, phits, phi_of_run, overlap, npg, extra,
    ):  # fmt: skip
        R, S, K = learner.z.shape
        n_eval = 2 + 2 * passk.shape[0] + N_EVAL_FIXED
        metrics, failed = out.metrics, out.failed
        n_cols = metrics.shape[2]
        col_overlap = n_eval + N_UPD
        ip0 = params.ip[0]
        key = (ip0[I_P], ip0[I_G], token_width(ip0, K))
        ws = workspace(S, K, key[0], key[1], key[0] * key[2], params.cp[0])
        fresh = True
        caches = policy_caches(S, K)
        for r in range(R):  # over threads: engine/threads.py
            if failed[r] >= 0:
                continue
            run = params_row(params, r)
            ip_r = run.ip
            task = bandit_task_row(tasks, task_of_run[r])
            P, G, n = ip_r[I_P], ip_r[I_G], token_width(ip_r, K)
            if (P, G, n) != key:
                key = (P, G, n)
                ws = workspace(S, K, P, G, P * n, run.cp)
            elif not fresh:
                reset_workspace(ws, S)
            fresh = False
            if ip_r[I_BREAKDOWN] == 1 or ip_r[I_ADV_GREEDY] == 1:
                expected_rewards(run.fp, task.correct, task.fmt, task.label, ws.rbar)
            pol = run_policy_in(learner, r, caches)
            lin = linear_policy(lin_learner, r, phis, phits, phi_of_run, npg)
            state = start(extra, out, r, pol)
            upd = np.zeros(out.upd_sum.shape[1])  # N_UPD_LINEAR, then the controllers'
            row_buf = np.empty(n_cols)
            L = ip_r[I_LTOTAL]
            u = np.empty(max(L, 1))
            st = rng[r].copy()
            upd_sum_r, upd_cnt_r = out.upd_sum[r], out.upd_cnt[r]
            if t0 == 0:
                record_eval(
                    metrics[r], np.int64(0), n_eval, pol, task, passk, ip_r[I_NTRAIN], row_buf
                )
                metrics[r, 0, col_overlap] = overlap[r]
            for i in range(n_steps):
                t = t0 + i
                for j in range(L):
                    u[j] = next_double(st)
                ok = step(run, algos, pol, lin, task, ws, t, u, upd, state)
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
            finish(params, r, run)

    return loop


@njit(cache=True)
def no_state(extra, out, r, pol):
    """chunk_loop's `start` of the plain kernel: no state of its own."""
    return 0


@njit(cache=True)
def no_finish(params, r, run):
    """chunk_loop's `finish` of a kernel without controllers: nothing to write back."""
    return


_plain_loop = chunk_loop(no_state, linear_step, no_finish)


@njit(nogil=True, cache=True)
def run_chunk_linear(
    t0, n_steps, row_of_step, rng, learner, lin_learner, params, algos, tasks, task_of_run,
    passk, out, phis, phits, phi_of_run, overlap, npg,
):  # fmt: skip
    """step.run_chunk for runs with a linear policy and neither a rollout sampler, a
    controller nor run.audit (chunk_loop with the plain step)."""
    _plain_loop(
        t0, n_steps, row_of_step, rng, learner, lin_learner, params, algos, tasks, task_of_run,
        passk, out, phis, phits, phi_of_run, overlap, npg, np.int64(0),
    )  # fmt: skip
