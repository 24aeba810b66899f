"""Executors: where units run. Local processes by default; Ray for clusters.

Both take the same units and yield (unit, {cell key: DataFrame}) as units finish; the
driver (runner.py) writes every cell to the store. Workers only compute, so a Ray
cluster needs no shared filesystem, only simrl installed on its nodes.

    local  --workers 1     in this process (the engine already runs runs in parallel
                           threads, engine/threads.py)
    local  --workers N     N processes (concurrent.futures, spawn), numba threads split
    ray    --address A     ray.init(address=A) (None: a local instance); one task per unit

A bridge study's unit is one cell run by simrl.bridge.study.bridge_outcomes (one torch
thread: BRIDGE_THREADS); --workers N runs N cells at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd

from simrl.config import Config
from simrl.engine.batch import RunSpec, run_batch
from simrl.errors import ConfigError
from simrl.prereg.grid import Unit
from simrl.prereg.study import BRIDGE_ENGINE

EXECUTORS = ("local", "ray")

Done = tuple[Unit, dict[str, pd.DataFrame]]


def run_unit(unit: Unit, threads: int = 0) -> dict[str, pd.DataFrame]:
    """Run every cell of a unit in one batched engine call; one tidy frame per cell:
    seed, step, failed_step, then the metric columns (unit.metrics, or all)."""
    if unit.engine == BRIDGE_ENGINE:
        return run_bridge_unit(unit)
    if threads > 0:
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    configs = [(key, Config.from_dict(d)) for key, d in unit.cells]
    specs = [RunSpec(cfg, i, label=key) for key, cfg in configs for i in range(unit.seeds)]
    batch = run_batch(specs, engine=unit.engine)
    names = list(batch.names)
    keep = [names.index(m) for m in unit.metrics] if unit.metrics else list(range(len(names)))
    n_rows = batch.row_steps.size
    out = {}
    for c, (key, _) in enumerate(configs):
        runs = slice(c * unit.seeds, (c + 1) * unit.seeds)
        values = batch.metrics[runs][:, :, keep].reshape(unit.seeds * n_rows, len(keep))
        df = pd.DataFrame(values, columns=[names[k] for k in keep])
        df.insert(0, "failed_step", np.repeat(batch.failed_step[runs], n_rows).astype(np.int64))
        df.insert(0, "step", np.tile(batch.row_steps, unit.seeds).astype(np.int64))
        df.insert(0, "seed", np.repeat(np.arange(unit.seeds), n_rows).astype(np.int64))
        out[key] = df
    return out


#: torch CPU threads of a bridge cell: one, whatever the workers, because a float32 matmul's
#: summation order (so its last bits) may depend on the thread count, and a cell's numbers
#: must not depend on how the grid was run
BRIDGE_THREADS = 1


def run_bridge_unit(unit: Unit) -> dict[str, pd.DataFrame]:
    """Each cell of a bridge unit through simrl.bridge.study.bridge_outcomes: the same
    frame layout as run_unit (seed, step, failed_step, metrics)."""
    import torch

    from simrl.bridge.config import BridgeRunConfig
    from simrl.bridge.run import TIMING_NAMES
    from simrl.bridge.study import bridge_outcomes

    torch.set_num_threads(BRIDGE_THREADS)
    out = {}
    for key, d in unit.cells:
        cfg = BridgeRunConfig.from_dict(d)
        progress, seeds = CellProgress(key), None
        if unit.partial:
            from simrl.prereg.seed_store import SeedStore

            def skip(r: int, progress: CellProgress = progress, steps: int = cfg.run.steps):
                progress.skip(steps)

            seeds = SeedStore(unit.partial, key, unit.code, on_load=skip)
        df = bridge_outcomes(cfg, trajectory=True, progress=progress, seed_store=seeds)
        # throughput is wall-clock, not a result: left out so that a cell is reproducible
        keep = list(unit.metrics) or [c for c in df.columns[3:] if c not in TIMING_NAMES]
        out[key] = df[["seed", "step", "failed_step", *keep]].reset_index(drop=True)
    return out


class CellProgress:
    """progress(done, total) of a bridge cell's run-steps: one line on stderr at most every
    PROGRESS_EVERY_S seconds and at the end, with the rate and the time left, so that a long
    cell run in the background (a log file, a spawned worker) shows that it moves. The
    times are wall-clock and go to stderr only, never into a cell."""

    def __init__(self, key: str, every_s: float | None = None):
        import time

        self.key, self.start = key, time.perf_counter()
        self.every = PROGRESS_EVERY_S if every_s is None else every_s
        self.last = self.start
        self.skipped = 0  # run-steps read back from seed checkpoints, not run here

    def skip(self, run_steps: int) -> None:
        """`run_steps` were read back, not run: left out of the rate behind the ETA."""
        self.skipped += run_steps

    def __call__(self, done: int, total: int) -> None:
        import sys
        import time

        now = time.perf_counter()
        if now - self.last < self.every and done < total:
            return
        self.last = now
        secs = now - self.start
        ran = done - self.skipped
        eta = secs / ran * (total - done) if ran > 0 else float("nan")
        sys.stderr.write(
            f"bridge cell {self.key[:12]}: run-step {done}/{total}, {secs:.0f} s, "
            f"ETA {eta:.0f} s (pid {os.getpid()})\n"
        )
        sys.stderr.flush()


#: seconds between two progress lines of a bridge cell
PROGRESS_EVERY_S = 60.0


def die_with_parent(parent: int) -> None:
    """A worker process ends when its driver does, even a driver killed with SIGKILL:
    Linux's PR_SET_PDEATHSIG where there is one, and everywhere a daemon thread that
    exits when the parent process id changes (the orphan is re-parented)."""
    import ctypes
    import signal
    import threading

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the driver died before prctl took effect
        os._exit(1)

    def watch() -> None:
        import time

        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _worker_init(threads: int, parent: int | None = None) -> None:
    if parent is not None:
        die_with_parent(parent)
    import numba

    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))


def local(
    units: list[Unit], workers: int, on_start: Callable[[Unit], None] | None = None
) -> Iterator[Done]:
    """In this process (workers = 1) or in `workers` spawned processes."""
    if workers <= 1 or len(units) <= 1:
        for unit in units:
            if on_start:
                on_start(unit)
            yield unit, run_unit(unit)
        return
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=mp.get_context("spawn"),
        initializer=_worker_init,
        initargs=(threads, os.getpid()),
    ) as pool:
        pending = {pool.submit(run_unit, u): u for u in units}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                unit = pending.pop(fut)
                yield unit, fut.result()


def _ray():
    try:
        import ray as ray_mod
    except ImportError:
        raise ConfigError(
            "--executor", "ray", 'needs ray: pip install "simrl[dist]" (or "ray>=2.9")'
        ) from None
    return ray_mod


def ray_init(address: str | None) -> int:
    """Connect to the cluster at `address` (None: start a local instance); its CPU count."""
    ray_mod = _ray()
    if not ray_mod.is_initialized():
        ray_mod.init(
            address=address,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    return int(ray_mod.cluster_resources().get("CPU", 1))


def ray(units: list[Unit], address: str | None, cpus_per_task: int = 1) -> Iterator[Done]:
    """One Ray task per unit on the cluster at `address` (None: start a local instance)."""
    ray_mod = _ray()
    started = not ray_mod.is_initialized()
    ray_init(address)
    try:
        task = ray_mod.remote(num_cpus=cpus_per_task)(run_unit)
        pending = {task.remote(u, cpus_per_task): u for u in units}
        while pending:
            done, _ = ray_mod.wait(list(pending), num_returns=1)
            ref = done[0]
            yield pending.pop(ref), ray_mod.get(ref)
    finally:
        if started:
            ray_mod.shutdown()
