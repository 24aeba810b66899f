"""The numba fast path: the reference step (simrl/engine/reference.py), batched over runs.

`run_fast` packs each run's config into arrays, seeds each run's PCG64 stream, and calls
`kernels.step.run_chunk`, which advances every run of a block in parallel over runs
(`prange`). Each run is computed by one thread from its own arrays and its own uniforms,
in a fixed order, without fastmath, so its numbers do not depend on which other runs share
the batch. The kernels keep a cache of log pi, pi and H per state, refreshed after every
optimiser step, so a softmax is computed once per state per update.

tests/engine/test_parity.py holds this path to the reference within 1e-9 after 50 steps
for every registry entry.
"""

from __future__ import annotations

import numpy as np

from simrl.engine.kernels.codes import N_UPD
from simrl.engine.kernels.pcg64 import state_of
from simrl.engine.kernels.step import run_chunk
from simrl.metrics import AUDIT_PROMPT_COLUMNS

#: progress is reported after each block of runs; blocks are at most this many run-steps
BLOCK_RUN_STEPS = 20_000


def run_fast(specs, tasks, layouts, rows, names, progress, audit_prompts=False):
    """Run a batch on the numba kernels; the same contract as batch._run_reference.

    Runs go in blocks (a multiple of the thread count) that each do all their steps, or
    chunks of BLOCK_RUN_STEPS steps for long runs, in one kernel call, so a run's state
    stays in cache; progress is reported between calls. Neither size changes any number.
    """
    from numba import get_num_threads

    from simrl.engine.batch import BatchResult, raise_first_failure
    from simrl.engine.packing import pack
    from simrl.engine.streams import run_generator

    R = len(specs)
    steps = specs[0].config.run.steps
    passk = np.array(specs[0].config.run.passk, dtype=np.int64)
    unique, task_of_run = [], np.empty(R, dtype=np.int64)
    for r, task in enumerate(tasks):
        for i, other in enumerate(unique):
            if other is task:
                task_of_run[r] = i
                break
        else:
            task_of_run[r] = len(unique)
            unique.append(task)
    base_logp = np.stack([t.base_logits for t in unique])
    correct = np.stack([t.correct for t in unique])
    fmt = np.stack([t.format_answer for t in unique])
    label = np.stack([t.incorrect_label for t in unique])
    top = np.stack([t.base_top for t in unique])
    fp, ip = pack([s.config for s in specs], layouts)
    rng = np.stack([state_of(run_generator(s.config, s.replicate)) for s in specs])

    z = base_logp[task_of_run].copy()
    zref = z.copy()
    m, v = np.zeros_like(z), np.zeros_like(z)
    adam_t = np.zeros(R, dtype=np.int64)
    metrics = np.full((R, rows.size, len(names)), np.nan)
    upd_sum, upd_cnt = np.zeros((R, N_UPD)), np.zeros((R, N_UPD), dtype=np.int64)
    failed = np.full(R, -1, dtype=np.int64)
    row_of_step = np.full(steps + 1, -1, dtype=np.int64)
    row_of_step[rows] = np.arange(rows.size)
    S = z.shape[1]
    pp = np.full((R, steps if audit_prompts else 0, S, len(AUDIT_PROMPT_COLUMNS)), np.nan)
    result = BatchResult(
        list(specs), rows, names, metrics, z, failed, list(tasks), pp if audit_prompts else None
    )

    threads = get_num_threads()
    block = max(1, BLOCK_RUN_STEPS // steps)
    block = min(R, -(-block // threads) * threads)
    chunk = max(1, min(steps, BLOCK_RUN_STEPS))
    done = 0
    for b0 in range(0, R, block):
        runs = slice(b0, min(R, b0 + block))
        for t0 in range(0, steps, chunk):
            n = min(chunk, steps - t0)
            run_chunk(
                t0, n, row_of_step, rng[runs], z[runs], zref[runs], m[runs], v[runs],
                adam_t[runs], base_logp, correct, fmt, label, top, task_of_run[runs], fp[runs],
                ip[runs], passk, metrics[runs], upd_sum[runs], upd_cnt[runs], failed[runs],
                pp[runs],
            )  # fmt: skip
            raise_first_failure(result)
            done += (runs.stop - runs.start) * n
            if progress:
                progress(done, R * steps)
    return result
