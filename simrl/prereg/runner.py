"""`simrl prereg run`: check the lock, expand the grid, run the missing cells, store them.

The estimate of `--dry-run` is measured, not guessed: a short probe (a few replicates of
a few cells of each shape group, a few steps, after one warm-up call) gives seconds per
run-step, scaled to the grid's run-steps and divided by the workers.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from simrl import memory
from simrl.engine.batch import RunSpec, run_batch
from simrl.errors import ConfigError
from simrl.prereg import executors, seed_store
from simrl.prereg.fingerprint import code_fingerprint
from simrl.prereg.grid import Cell, expand, shape_key, units
from simrl.prereg.lock import check, utc_now
from simrl.prereg.spec import load_study
from simrl.prereg.store import Store
from simrl.prereg.study import BRIDGE_ENGINE, Study

Progress = Callable[[int, int], None]


@dataclass
class RunReport:
    cells: int
    runs: int
    stored_before: int
    ran_cells: int
    ran_runs: int
    wall_s: float
    units: int
    set_aside: int = 0  # stored cells that failed a check or came from other code
    differ: list[str] = field(default_factory=list)  # recomputed cells unlike the set-aside ones


@dataclass
class DryRun:
    cells: int
    runs: int
    stored: int
    missing_cells: int
    missing_runs: int
    units: int
    run_steps: int
    estimate_s: float
    memory: int = 0  # estimated peak bytes (simrl/memory.py)
    available: int = 0  # bytes available now
    compile_s: float = 0.0  # numba compile of the cold kernels (simrl/engine/compile_cost.py)
    compile_note: str = ""  # which kernels, where they are cached
    checkpointed: int = 0  # runs (bridge seeds) of the missing cells held in results/partial


def prepare(study_path, require_lock: bool = True) -> tuple[Study, dict | None, list[Cell], Store]:
    study = load_study(study_path)
    lock = check(study.path) if require_lock else None
    cells = expand(study)
    store = Store(study.path)
    if require_lock:
        require_manifest(study, store, lock)
    return study, lock, cells, store


def require_manifest(study: Study, store: Store, lock: dict) -> None:
    """Cell files without a manifest have lost what vouched for them: refuse until the
    loss is recorded as a deviation (then `run` sets the files aside and recomputes)."""
    if store.has_manifest() or not store.cell_files():
        return
    if any(am.get("acknowledges") == "manifest lost" for am in lock.get("amendments", [])):
        return
    raise ConfigError(
        str(store.root / "manifest.json"),
        "missing",
        f"{len(store.cell_files())} cell files exist without the manifest that vouches for "
        f'them; record the loss first: simrl prereg register {study.path} --amend "reason"',
    )


def set_aside_bad(
    cells: list[Cell], store: Store, code: str, log: Callable[[str], None]
) -> dict[str, tuple[str, Path]]:
    """Move aside every stored cell that fails verification or was computed by other code;
    each is named on one line. Returns key -> (why, where it went)."""
    why = store.check_cells(cells)
    for key, reason in store.stale(cells, code).items():
        why.setdefault(key, reason)
    by_key = {c.key: c for c in cells}
    moved = {}
    for key, reason in why.items():
        dest = store.set_aside(key, reason)
        moved[key] = (reason, dest)
        labels = ", ".join(f"{k}={v}" for k, v in by_key[key].labels.items())
        log(f"cell {key} ({labels}): {reason}; moved to {dest} and recomputed")
    store.record_set_aside(moved)
    return moved


def _warn(msg: str) -> None:
    print(f"simrl: {msg}", file=sys.stderr, flush=True)


def run_study(
    study_path,
    workers: int = 1,
    executor: str = "local",
    address: str | None = None,
    progress: Progress | None = None,
    runs_per_unit: int | None = None,
    log: Callable[[str], None] = _warn,
    max_memory: int | None = None,
) -> RunReport:
    """Run the missing cells of a registered study and store each as it finishes. Stored
    cells that fail verification or came from other code are set aside first and run."""
    if executor not in executors.EXECUTORS:
        raise ConfigError(
            "--executor", executor, "must be one of " + ", ".join(executors.EXECUTORS)
        )
    if workers < 1:
        raise ConfigError("--workers", workers, "must be an integer >= 1")
    study, lock, cells, store = prepare(study_path)
    store.clean()
    code = code_fingerprint(study.backend)
    moved = set_aside_bad(cells, store, code, log)
    missing = store.missing(cells)
    kwargs = {} if runs_per_unit is None else {"runs_per_unit": runs_per_unit}
    parallel = workers
    if executor == "ray" and missing:
        parallel = max(workers, executors.ray_init(address))  # a unit per cluster CPU at least
    todo = units(study, missing, parallel, **kwargs)
    if executor == "local":  # bridge cells keep each finished seed (seed_store.py)
        partial = str(store.root / seed_store.PARTIAL)
        todo = [
            replace(u, partial=partial, code=code) if u.engine == BRIDGE_ENGINE else u for u in todo
        ]
    memory.check(grid_memory(todo, cells, workers), max_memory, f"study {study.name}")
    total = sum(c.runs for c in cells)
    done = total - sum(c.runs for c in missing)
    spec_sha = lock["amendments"][-1]["spec_sha256"] if lock["amendments"] else lock["spec_sha256"]
    start = time.perf_counter()
    if progress:
        progress(done, total)
    if executor == "ray":
        stream = executors.ray(todo, address)
    else:
        stream = executors.local(todo, workers)
    last = start
    differ = []
    for unit, frames in stream:
        now = time.perf_counter()
        finished = utc_now()
        per_cell = (now - last) / max(1, len(frames))
        timing = {"finished_utc": finished, "wall_s_share": round(per_cell, 4)}

        def record(hashes: dict[str, str], timing: dict = timing) -> None:
            written = {k: {"sha256": h, "code": code, "timing": timing} for k, h in hashes.items()}
            store.update_manifest(cells, spec_sha, written)

        store.write_cells(frames, record)
        for key in frames:
            seed_store.SeedStore(store.root / seed_store.PARTIAL, key, code).clear()
        differ += [k for k, df in frames.items() if k in moved and not same_frames(df, moved[k][1])]
        last = now
        done += unit.runs
        if progress:
            progress(done, total)
    wall = time.perf_counter() - start
    if missing:
        store.update_manifest(cells, spec_sha, {}, _run_info(executor, workers, len(missing), wall))
    return RunReport(
        cells=len(cells),
        runs=total,
        stored_before=len(cells) - len(missing),
        ran_cells=len(missing),
        ran_runs=sum(c.runs for c in missing),
        wall_s=wall,
        units=len(todo),
        set_aside=len(moved),
        differ=differ,
    )


def same_frames(df: pd.DataFrame, path: Path) -> bool:
    """Bitwise: the same columns, dtypes and bytes as the cell file at path (False when
    that file cannot be read)."""
    try:
        old = pd.read_parquet(path)
    except Exception:  # the set-aside file may be the garbage that was set aside
        return False
    return same_table(df, old)


def same_table(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return False
    return all(
        a[c].dtype == b[c].dtype and a[c].to_numpy().tobytes() == b[c].to_numpy().tobytes()
        for c in a.columns
    )


def table_difference(a: pd.DataFrame, b: pd.DataFrame) -> str:
    """How two cell tables differ, in one line: shapes, or per numeric column the largest
    absolute difference (NaN against a number counts as a difference)."""
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return f"shape {a.shape} against {b.shape} (columns equal: {list(a.columns) == list(b.columns)})"
    worst = []
    for c in a.columns:
        x, y = a[c].to_numpy(), b[c].to_numpy()
        if x.tobytes() == y.tobytes():
            continue
        if x.dtype.kind in "fiu" and y.dtype.kind in "fiu":
            x, y = x.astype(float), y.astype(float)
            nan = np.isnan(x) != np.isnan(y)
            both = ~np.isnan(x) & ~np.isnan(y)
            d = np.abs(x[both] - y[both]).max() if both.any() else 0.0
            worst.append((np.inf if nan.any() else d, c))
        else:
            worst.append((np.inf, c))
    worst.sort(reverse=True)
    top = ", ".join(f"{c} {d:.3g}" for d, c in worst[:3])
    return f"{len(worst)} of {len(a.columns)} columns differ; largest |difference|: {top}"


def _run_info(executor: str, workers: int, n_cells: int, wall: float) -> dict:
    """Provenance of one run: time, executor, and the state of the simrl source it ran."""
    import simrl
    from simrl.prereg.lock import git_state

    package = Path(simrl.__file__).parent
    state = git_state(package)  # is simrl/ committed unchanged, at which commit
    return {
        "finished_utc": utc_now(),
        "executor": executor,
        "workers": workers,
        "cells": n_cells,
        "wall_s": round(wall, 2),
        "git_commit": state["git_commit"],
        "simrl_source_committed": state["spec_committed"],
        "simrl_source_state": state["git_state"],
    }


def grid_memory(todo: list, cells: list[Cell], workers: int) -> int:
    """Peak bytes of running these units, `workers` at a time (simrl/memory.py), from the
    cells' config shapes: nothing is built."""
    by_key = {c.key: c.config for c in cells}
    return memory.grid_bytes([(by_key[u.cells[0][0]], u.runs) for u in todo], workers)


def dry_run(study_path, workers: int = 1, probe: bool = True, limit: int | None = None) -> DryRun:
    """Cells, runs, what is stored, the memory estimate and a measured estimate of the
    time left (needs no lock: it stores nothing, so a study can be sized before it is
    registered). The memory is checked before the probe runs anything."""
    study, _, cells, store = prepare(study_path, require_lock=False)
    missing = store.missing(cells)
    todo = units(study, missing, workers)
    need = grid_memory(units(study, cells, workers), cells, workers)  # the whole grid's peak
    memory.check(need, limit, f"study {study.name}")
    compile_s, compile_note = 0.0, ""
    if study.backend != "bridge" and missing:
        from simrl.engine import compile_cost

        # read before the probe compiles them: the estimate is the run's from the cache now
        kernels = compile_cost.needed([c.config for c in missing], study.engine)
        compile_s = compile_cost.cold_seconds(kernels)
        compile_note = compile_cost.describe(kernels) if compile_s else ""
    estimate = _estimate(study, missing, workers) if (probe and missing) else 0.0
    runs = sum(c.runs for c in missing)
    held = 0  # a bridge cell's finished seeds, read back by the run (seed_store.py)
    if study.backend == "bridge" and missing:
        held = sum(
            seed_store.checkpointed(store.root, missing, code_fingerprint("bridge")).values()
        )
        estimate *= (runs - held) / runs
    return DryRun(
        cells=len(cells),
        runs=sum(c.runs for c in cells),
        stored=len(cells) - len(missing),
        missing_cells=len(missing),
        missing_runs=runs - held,
        units=len(todo),
        run_steps=(runs - held) * study.steps,
        estimate_s=estimate,
        checkpointed=held,
        memory=need,
        available=memory.available(),
        compile_s=compile_s,
        compile_note=compile_note,
    )


#: the probe: replicates per probed cell, cells per shape group, steps (the short probe;
#: the long one runs twice as many)
PROBE_SEEDS, PROBE_CELLS, PROBE_STEPS = 4, 6, 20


def _estimate(study: Study, missing: list[Cell], workers: int) -> float:
    """Seconds to run the missing cells, compile excluded (dry_run adds it). Per shape
    group, a few cells' probe runs twice, for PROBE_STEPS and twice as many steps, after a
    one-seed warm-up of every policy loss, advantage and optimiser among them (a kernel
    compiled inside the timed call once made estimates ~10x too long): the difference
    gives the seconds per run-step, the rest of the short probe the fixed cost of a call
    (task build, packing, per-call set-up), charged once per unit. Before 2026-12-07 the
    whole short probe was divided by its run-steps, which charged a call's fixed cost to
    every run-step of the real, much larger units."""
    if study.backend == "bridge":
        return _estimate_bridge(study, missing, workers)
    groups: dict[tuple, list[Cell]] = {}
    cache: dict = {}
    for cell in missing:
        groups.setdefault(shape_key(cell.config, cache), []).append(cell)
    total = 0.0
    for group in groups.values():
        pick = group[:: max(1, len(group) // PROBE_CELLS)][:PROBE_CELLS]
        s1 = min(PROBE_STEPS, study.steps)
        s2 = min(2 * s1, study.steps)

        def specs(steps, pick=pick):
            cfgs = [c.config.replace(**{"run.steps": steps, "run.eval_every": steps}) for c in pick]
            return [RunSpec(cfg, i) for cfg in cfgs for i in range(PROBE_SEEDS)]

        warm = {}
        for spec in specs(s1):  # compile or load every kernel the probe calls, untimed
            a = spec.config.algo
            warm.setdefault((a.loss, a.advantage, spec.config.optim.kind), spec)
        for spec in warm.values():
            run_batch([spec], engine=study.engine)
        n = len(pick) * PROBE_SEEDS
        t0 = time.perf_counter()
        run_batch(specs(s1), engine=study.engine)
        t1 = time.perf_counter() - t0
        per_run_step = t1 / (n * s1)
        fixed = 0.0
        if s2 > s1:
            t0 = time.perf_counter()
            run_batch(specs(s2), engine=study.engine)
            t2 = time.perf_counter() - t0
            if t2 > t1:  # else the host's noise hid the difference: the short probe's mean
                per_run_step = (t2 - t1) / (n * (s2 - s1))
                fixed = max(0.0, t1 - per_run_step * n * s1)
        calls = len(units(study, group, workers))
        total += per_run_step * sum(c.runs for c in group) * study.steps + fixed * calls
    return total / min(workers, max(1, len(missing)))


#: the bridge probe: cells probed (spread over the grid order)
PROBE_BRIDGE_CELLS = 4


def _estimate_bridge(study: Study, missing: list[Cell], workers: int) -> float:
    """Per probed cell, one seed for one step (E evals + one update U) and the same with the
    frozen reward (two evals, no update): E = frozen / 2, U = cell - frozen; a cell costs
    seeds x (rows x E + steps x U). Unprobed cells cost the probed cells' mean. The tiny
    model is pretrained (and cached) first when it is not, outside the timing, after which
    one untimed warm-up call."""
    import torch

    from simrl.bridge.model import load_policy
    from simrl.bridge.pretrain import pretrain_folder
    from simrl.bridge.run import run_bridge
    from simrl.engine.batch import record_steps

    torch.set_num_threads(executors.BRIDGE_THREADS)
    pick = missing[:: max(1, len(missing) // PROBE_BRIDGE_CELLS)][:PROBE_BRIDGE_CELLS]
    rows = len(record_steps(study.steps, study.eval_every))
    costs = []
    for i, cell in enumerate(pick):
        one = cell.config.replace(**{"run.seeds": 1, "run.steps": 1, "run.eval_every": 1})
        if one.bridge.model == "" and not (pretrain_folder(one) / "meta.json").is_file():
            print(
                f"pretraining the tiny model for bridge.prior_mix = {one.bridge.prior_mix} "
                "first (minutes on CPU; cached, not counted in the estimate)",
                file=sys.stderr,
                flush=True,
            )
        load_policy(one)  # pretrains the tiny model once (cached) when it is not yet
        if i == 0:  # warm-up: torch's first forward passes are slower
            run_bridge(one.replace(**{"reward.kind": "frozen"}))
        t0 = time.perf_counter()
        run_bridge(one.replace(**{"reward.kind": "frozen"}))
        t1 = time.perf_counter()
        run_bridge(one)
        t2 = time.perf_counter()
        evals, update = (t1 - t0) / 2, max(0.0, (t2 - t1) - (t1 - t0))
        costs.append(study.seeds * (rows * evals + study.steps * update))
    mean = sum(costs) / len(costs)
    return mean * len(missing) / min(workers, max(1, len(missing)))
