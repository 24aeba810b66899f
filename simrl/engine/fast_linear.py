"""The numba fast path for runs with a linear policy (simrl/policy.py; kernels/linear.py):
fast.run_fast's packing and blocks, with each run's features, theta_tab and w.

The batch's distinct feature arrays Phi (S, K, d_r) are stacked zero-padded to the
largest d (a zero feature adds exact zeros: its w entry never moves and adds 0.0 to z,
and npg_w drops its null direction), so runs of different families, strengths and
overlaps share one kernel call (an overlap sweep is one call); each run's
policy_overlap is computed once per distinct Phi.

A batch with a rollout sampler runs on kernels/linear_sampler.py, one with a controller or
run.audit on kernels/linear_audit.py, the rest on kernels/linear.py (`chunk_kernel_linear`;
batch.run_batch never puts runs with and without a sampler in one call, and a batch
agrees on its controllers).

tests/engine/test_linear_fast.py holds this path to the reference within 1e-9 after 50
steps, and to the tabular numba run bitwise at Phi = 0.
"""

from __future__ import annotations

import numpy as np

from simrl.engine.fast import (
    algorithms,
    bandit_tasks,
    batch_arrays,
    distinct_tasks,
    rows_of,
    run_blocks,
)
from simrl.engine.kernels.controllers import extra_update_columns, pack_controls
from simrl.engine.kernels.linear import N_UPD_LINEAR, LinLearner, run_chunk_linear
from simrl.engine.kernels.workspace import Params
from simrl.engine.threads import over_threads
from simrl.policy import overlap


def stack_features(features) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(phis (n, S, K, d_max) zero-padded, each run's index into them, each run's
    policy_overlap), one entry per distinct array (by identity)."""
    unique, of_run = distinct_tasks(features)
    d = max(f.shape[2] for f in unique)
    S, K = unique[0].shape[:2]
    phis = np.zeros((len(unique), S, K, d))
    for i, f in enumerate(unique):
        phis[i, :, :, : f.shape[2]] = f
    return phis, of_run, unique


def chunk_kernel_linear(samp, cp, configs, runs: slice):
    """(kernel, extra arguments) of a chunk of the runs `runs`: kernels/linear_sampler.py's
    with a rollout sampler (samp, a rollout_sampler.Sampler, or None), else
    kernels/linear_audit.py's when a run has a controller (cp, the controllers' rows, not
    empty) or run.audit, else the plain linear.run_chunk_linear. Only the kernel a batch
    uses is imported and compiled."""
    if samp is not None:  # the config refuses the sampler with the controllers and the audit
        from simrl.engine.fast import rows_of
        from simrl.engine.kernels.linear_sampler import run_chunk_linear_sampler

        return run_chunk_linear_sampler, (rows_of(samp, runs),)
    if cp.shape[1] > 0 or any(c.run.audit for c in configs):
        from simrl.engine.kernels.linear_audit import run_chunk_linear_audit

        return run_chunk_linear_audit, ()
    return run_chunk_linear, ()


def run_fast_linear(specs, tasks, layouts, rows, names, progress, audit_prompts, features):
    """Run a batch of linear-policy bandit runs that share a policy loss, an advantage
    estimator and an optimiser on the numba kernels (fast.run_fast's contract; features:
    each run's Phi, batch.build_all_features)."""
    from simrl.engine.fast_sampler import sampler_arrays
    from simrl.engine.packing import pack

    steps = specs[0].config.run.steps
    passk = np.array(specs[0].config.run.passk, dtype=np.int64)
    task_arrays, task_of_run = bandit_tasks(tasks)
    configs = [s.config for s in specs]
    fp, ip, lp, ap, op = pack(configs, layouts)
    cp = pack_controls(configs)  # the controllers' rows, (R, 0) without any
    algos = algorithms(specs, "bandit", ip, cp)  # with the hooks of the runs' features
    n_upd = N_UPD_LINEAR + extra_update_columns(configs[0])  # the batch agrees on them
    a, result = batch_arrays(
        specs, tasks, rows, names, task_arrays.base_logp[task_of_run].copy(), n_upd,
        audit_prompts,
    )  # fmt: skip
    phis, phi_of_run, unique_phi = stack_features(features)
    ov_unique = {}
    ov = np.empty(len(specs))
    for r in range(len(specs)):
        key = (phi_of_run[r], task_of_run[r])
        if key not in ov_unique:
            ov_unique[key] = overlap(unique_phi[phi_of_run[r]], tasks[r].base_logits)
        ov[r] = ov_unique[key]
    phits = np.ascontiguousarray(phis.transpose(0, 1, 3, 2))  # (n, S, d, K): linear_logits
    R, d = len(specs), phis.shape[3]
    lin = LinLearner(
        theta=a.learner.z.copy(),
        w=np.zeros((R, 1, d)),
        wm=np.zeros((R, 1, d)),
        wv=np.zeros((R, 1, d)),
        w_t=np.zeros(R, dtype=np.int64),
    )
    npg = int(specs[0].config.optim.kind == "npg")  # one optimiser per call (fast.algorithms)
    params = Params(fp, ip, np.zeros((R, 0)), lp, ap, op, cp)  # the bandit has no sp
    # the rollout sampler's arrays, or None (engine/fast_sampler.py)
    samp = sampler_arrays(configs, task_arrays.base_logp.shape[1:])

    def part(runs: slice, t0: int, n: int) -> None:
        kernel, extra = chunk_kernel_linear(samp, cp, configs, runs)
        kernel(
            t0, n, a.row_of_step, a.rng[runs], rows_of(a.learner, runs), rows_of(lin, runs),
            rows_of(params, runs), algos, task_arrays, task_of_run[runs], passk,
            rows_of(a.out, runs), phis, phits, phi_of_run[runs], ov[runs], npg, *extra,
        )  # fmt: skip

    def advance(runs: slice, t0: int, n: int) -> None:
        over_threads(lambda sub: part(sub, t0, n), runs)

    run_blocks(result, steps, progress, advance)
    return result
