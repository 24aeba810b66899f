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

from simrl.engine.kernels.breakdown import breakdown_over
from simrl.engine.kernels.codes import (
    F_LR,
    I_BREAKDOWN,
    I_EPOCHS,
    I_MB,
    I_NTRAIN,
    I_REW_UPDATES,
)
from simrl.engine.kernels.controllers import after_update, before_update, controls_end
from simrl.engine.kernels.copying import copy1, copy2
from simrl.engine.kernels.linear import (
    N_UPD_LINEAR,
    chunk_loop,
    linear_finite,
    linear_step_end,
    linear_update,
)
from simrl.engine.kernels.step import (
    frozen_update,
    prepare_step,
)
from simrl.engine.kernels.update import minibatch_gradient


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
def linear_audit_step(run, algos, pol, lin, task, ws, t, u, upd, state):
    """Step t of one linear run with controllers and/or the dH breakdown (reference.step
    with RunParams.features); state = (moved, pp, want_pp), audit_start's: moved (S,) is
    scratch for the breakdown's moved states, pp, want_pp as step.step_run's. Returns False
    if a value became non-finite."""
    moved, pp, want_pp = state
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


@njit(cache=True)
def audit_start(extra, out, r, pol):
    """linear.chunk_loop's `start`: the moved-states scratch, run r's rows of the
    per-state breakdown out.pp (R, steps, S, 7), or (R, 0, S, 7), and whether it is kept."""
    return np.zeros(pol.z.shape[0], dtype=np.bool_), out.pp[r], out.pp.shape[1] > 0


@njit(cache=True)
def controls_back(params, r, run):
    """linear.chunk_loop's `finish`: the controllers' state, for the next chunk."""
    copy1(params.cp[r], run.cp)


_loop = chunk_loop(audit_start, linear_audit_step, controls_back)


@njit(nogil=True, cache=True)
def run_chunk_linear_audit(
    t0, n_steps, row_of_step, rng, learner, lin_learner, params, algos, tasks, task_of_run,
    passk, out, phis, phits, phi_of_run, overlap, npg,
):  # fmt: skip
    """linear.run_chunk_linear for runs with a controller or run.audit: the same
    arguments; params.cp holds the controllers' rows (written back at each run's chunk
    end), out.pp the per-state breakdown when run_batch's audit_prompts asks for it."""
    _loop(
        t0, n_steps, row_of_step, rng, learner, lin_learner, params, algos, tasks, task_of_run,
        passk, out, phis, phits, phi_of_run, overlap, npg, np.int64(0),
    )  # fmt: skip
