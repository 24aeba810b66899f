"""The numba fast path: the reference step (simrl/engine/reference.py), batched over runs.

`run_fast` packs each run's config into arrays, seeds each run's PCG64 stream, and calls
`kernels.step.run_chunk`, which advances runs of a block; the block's runs are split over
numba's thread count, each part a `run_chunk` call on its own thread (the kernel releases
the GIL; engine/threads.py). Each run is computed by one thread from its own arrays and its own uniforms,
in a fixed order, without fastmath, so its numbers do not depend on which other runs share
the batch. The kernels keep a cache of log pi, pi and H per state, refreshed after every
optimiser step, so a softmax is computed once per state per update.

The batch arrays and the loop over blocks of runs and chunks of steps are shared with the
sequence tasks' fast path (simrl/engine/fast_sequence.py).

tests/engine/test_parity.py holds this path to the reference within 1e-9 after 50 steps
for every registry entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from simrl.engine.kernels.codes import N_UPD
from simrl.engine.kernels.controllers import extra_update_columns, pack_controls
from simrl.engine.kernels.step import run_chunk
from simrl.engine.kernels.workspace import BanditTask, ChunkOut, Learner, Params
from simrl.engine.result import BatchResult, raise_first_failure
from simrl.engine.threads import over_threads
from simrl.metrics import AUDIT_PROMPT_COLUMNS

#: progress is reported after each block of runs; blocks are at most this many run-steps
BLOCK_RUN_STEPS = 20_000


@dataclass
class BatchArrays:
    """What the kernels advance, one leading run axis each (R, ...), in the kernels' named
    structures (kernels/workspace.py)."""

    rng: np.ndarray  # (R, 4) PCG64 states
    learner: Learner  # logits z (R, S, K), zref, Adam's m, v, adam_t (R,)
    out: ChunkOut  # metrics (R, n_rows, n_names), upd_sum, upd_cnt, failed, pp
    row_of_step: np.ndarray  # (steps + 1,) metric row of each step, -1 if not recorded


def rows_of(nt, runs: slice):
    """The runs' rows of every field of a kernels' named tuple (views)."""
    return nt._make(x[runs] for x in nt)


def distinct_tasks(tasks) -> tuple[list, np.ndarray]:
    """The batch's distinct task objects (by identity) and each run's index into them."""
    unique, task_of_run = [], np.empty(len(tasks), dtype=np.int64)
    for r, task in enumerate(tasks):
        for i, other in enumerate(unique):
            if other is task:
                task_of_run[r] = i
                break
        else:
            task_of_run[r] = len(unique)
            unique.append(task)
    return unique, task_of_run


def batch_arrays(specs, tasks, rows, names, z0: np.ndarray, n_upd: int, audit_prompts: bool):
    """The batch's arrays, every run starting from logits z0 (R, S, K), and the BatchResult
    that views them."""
    from simrl.algorithms.optimiser import OPTIMIZERS
    from simrl.engine.streams import run_states

    R = len(specs)
    steps = specs[0].config.run.steps
    # Adam's moments only for an optimiser that keeps them (the call runs one optimiser)
    moments = OPTIMIZERS[specs[0].config.optim.kind].moments
    row_of_step = np.full(steps + 1, -1, dtype=np.int64)
    row_of_step[rows] = np.arange(rows.size)
    arrays = BatchArrays(
        rng=run_states(specs),  # state_of(run_generator(.)) of each run, all at once
        learner=Learner(
            z=z0,
            zref=z0.copy(),
            m=np.zeros_like(z0) if moments else np.zeros((R, 0, 0)),
            v=np.zeros_like(z0) if moments else np.zeros((R, 0, 0)),
            adam_t=np.zeros(R, dtype=np.int64),
        ),
        out=ChunkOut(
            metrics=np.full((R, rows.size, len(names)), np.nan),
            upd_sum=np.zeros((R, n_upd)),
            upd_cnt=np.zeros((R, n_upd), dtype=np.int64),
            failed=np.full(R, -1, dtype=np.int64),
            # the per-state dH breakdown (run_batch's audit_prompts), or (R, 0, S, 7)
            pp=np.full(
                (R, steps if audit_prompts else 0, z0.shape[1], len(AUDIT_PROMPT_COLUMNS)),
                np.nan,
            ),
        ),
        row_of_step=row_of_step,
    )
    out = arrays.out
    result = BatchResult(
        list(specs),
        rows,
        names,
        out.metrics,
        arrays.learner.z,
        out.failed,
        list(tasks),
        out.pp if audit_prompts else None,
    )
    return arrays, result


def run_blocks(result, steps: int, progress, advance: Callable[[slice, int, int], None]) -> None:
    """Call advance(runs, t0, n) over blocks of runs (a multiple of the thread count) that
    each do all their steps, or chunks of BLOCK_RUN_STEPS steps for long runs, so a run's
    state stays in cache; raise a run's failure and report progress between calls. Neither
    size changes any number."""
    from numba import get_num_threads

    R = len(result.specs)
    threads = get_num_threads()
    block = max(1, BLOCK_RUN_STEPS // steps)
    block = min(R, -(-block // threads) * threads)
    chunk = max(1, min(steps, BLOCK_RUN_STEPS))
    done = 0
    for b0 in range(0, R, block):
        runs = slice(b0, min(R, b0 + block))
        for t0 in range(0, steps, chunk):
            n = min(chunk, steps - t0)
            advance(runs, t0, n)
            raise_first_failure(result)
            done += (runs.stop - runs.start) * n
            if progress:
                progress(done, R * steps)


def algorithms(specs, family: str, ip: np.ndarray, cp: np.ndarray):
    """The compiled numba forms of the batch's one policy loss, advantage estimator and
    optimiser (simrl.algorithms.compiled), with the hooks of the features its runs use
    (kernel family 'bandit' or 'sequence'; ip and cp the packed ints and controllers' rows:
    kernels/hooks.py)."""
    from simrl.algorithms import compiled
    from simrl.engine.kernels.hooks import hooks_for

    kinds = {(s.config.algo.loss, s.config.algo.advantage, s.config.optim.kind) for s in specs}
    if len(kinds) != 1:
        raise ValueError(
            f"a kernel call runs one loss, advantage and optimiser, got {sorted(kinds)}"
        )
    return compiled(*kinds.pop())._replace(hooks=hooks_for(family, ip, cp))


def bandit_tasks(tasks) -> tuple[BanditTask, np.ndarray]:
    """The batch's distinct bandit tasks stacked for the kernels, and each run's index
    into them (run_fast and fast_linear.run_fast_linear)."""
    unique, task_of_run = distinct_tasks(tasks)
    return (
        BanditTask(
            np.stack([t.base_logits for t in unique]),
            np.stack([t.correct for t in unique]),
            np.stack([t.format_answer for t in unique]),
            np.stack([t.incorrect_label for t in unique]),
            np.stack([t.base_top for t in unique]),
        ),
        task_of_run,
    )


def run_fast(specs, tasks, layouts, rows, names, progress, audit_prompts=False):
    """Run a batch of bandit runs that share a policy loss and an advantage estimator on
    the numba kernels; the same contract as batch._run_reference (batch.run_batch splits
    a batch by them)."""
    from simrl.engine.fast_sampler import chunk_kernel, sampler_arrays
    from simrl.engine.packing import pack

    steps = specs[0].config.run.steps
    passk = np.array(specs[0].config.run.passk, dtype=np.int64)
    task_arrays, task_of_run = bandit_tasks(tasks)
    fp, ip, lp, ap, op = pack([s.config for s in specs], layouts)
    n_upd = N_UPD + extra_update_columns(specs[0].config)  # the batch agrees on them
    a, result = batch_arrays(
        specs, tasks, rows, names, task_arrays.base_logp[task_of_run], n_upd, audit_prompts
    )
    cp = pack_controls([s.config for s in specs])  # the controllers, the quadrant split
    algos = algorithms(specs, "bandit", ip, cp)
    params = Params(fp, ip, np.zeros((len(specs), 0)), lp, ap, op, cp)  # the bandit has no sp

    # the rollout sampler's arrays, or None (engine/fast_sampler.py)
    samp = sampler_arrays([s.config for s in specs], task_arrays.base_logp.shape[1:])

    def part(runs: slice, t0: int, n: int) -> None:
        kernel, extra = chunk_kernel(run_chunk, "bandit", samp, runs)
        kernel(
            t0, n, a.row_of_step, a.rng[runs], rows_of(a.learner, runs), rows_of(params, runs),
            algos, task_arrays, task_of_run[runs], passk, rows_of(a.out, runs), *extra,
        )  # fmt: skip

    def advance(runs: slice, t0: int, n: int) -> None:
        over_threads(lambda sub: part(sub, t0, n), runs)

    run_blocks(result, steps, progress, advance)
    return result
