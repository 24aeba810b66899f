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

from simrl.engine.kernels.codes import (
    I_EPOCHS,
    I_MB,
    I_NTRAIN,
    I_REW_UPDATES,
)
from simrl.engine.kernels.copying import copy2
from simrl.engine.kernels.linear import (
    chunk_loop,
    linear_apply,
    linear_finite,
    linear_step_end,
    linear_update,
    no_finish,
)
from simrl.engine.kernels.rollout_sampler import (
    FS_TEMP,
    sampler_prepare,
    sampler_run,
    temper_rows,
    tempered_policy,
)
from simrl.engine.kernels.softmax import refresh_rows
from simrl.engine.kernels.step import (
    frozen_update,
)
from simrl.engine.kernels.update import finish_gradient, minibatch_gradient


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
def linear_sampler_step(run, algos, pol, lin, task, ws, t, u, upd, state):
    """Step t of one linear run with a rollout sampler (reference.step with
    RunParams.features and a sampler); state = (sr, tpol), sampler_start's. Returns False
    if a value became non-finite (the logits restored to the step's start)."""
    sr, tpol = state
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


@njit(cache=True)
def sampler_start(samp, out, r, pol):
    """linear.chunk_loop's `start`: run r's sampler row and ring (rollout_sampler.Sampler)
    and its tempered cache."""
    S, K = pol.z.shape
    sr = sampler_run(samp, r, S, K)
    return sr, tempered_policy(pol, sr.fs[FS_TEMP])


_loop = chunk_loop(sampler_start, linear_sampler_step, no_finish)


@njit(nogil=True, cache=True)
def run_chunk_linear_sampler(
    t0, n_steps, row_of_step, rng, learner, lin_learner, params, algos, tasks, task_of_run,
    passk, out, phis, phits, phi_of_run, overlap, npg, samp,
):  # fmt: skip
    """linear.run_chunk_linear for runs with a rollout sampler: the same arguments, and
    samp (a rollout_sampler.Sampler: the runs' sampler fields and staleness rings). The
    sampler refuses the controllers, so there is nothing to write back."""
    _loop(
        t0, n_steps, row_of_step, rng, learner, lin_learner, params, algos, tasks, task_of_run,
        passk, out, phis, phits, phi_of_run, overlap, npg, samp,
    )  # fmt: skip
