"""`simrl run --dry-run`: what a run would do and how long it would take, without writing.

The time is measured as `simrl prereg run --dry-run` measures it (simrl/prereg/runner.py):
a short probe (at most PROBE_SEEDS seeds for PROBE_STEPS steps, after a one-seed warm-up
call) gives seconds per run-step, scaled to the run's seeds x steps; the compile time of
the kernels that are cold before the probe is added from the measured per-kernel table
(simrl/engine/compile_cost.py).
"""

from __future__ import annotations

import time

PROBE_SEEDS, PROBE_STEPS = 4, 20


def probe_seconds(config, engine: str, task=None) -> float:
    """Estimated seconds of running config's seeds x steps (compile excluded)."""
    from simrl.simulate import simulate

    steps = min(PROBE_STEPS, config.run.steps)
    seeds = min(PROBE_SEEDS, config.run.seeds)
    probe = config.replace(**{"run.steps": steps, "run.eval_every": steps, "run.seeds": seeds})
    simulate(probe.replace(**{"run.seeds": 1}), engine=engine, task=task)  # compile or load
    t0 = time.perf_counter()
    simulate(probe, engine=engine, task=task)
    per_run_step = (time.perf_counter() - t0) / (seeds * steps)
    return per_run_step * config.run.seeds * config.run.steps


def dry_run_lines(config, engine: str, need: int, limit: int | None, task=None) -> list[str]:
    """The lines `simrl run --dry-run` prints."""
    from simrl import memory
    from simrl.engine import compile_cost

    kernels = compile_cost.needed([config], engine)
    compile_s = compile_cost.cold_seconds(kernels)
    note = compile_cost.describe(kernels) if compile_s else ""
    run_s = probe_seconds(config, engine, task)
    mem = f"memory: estimated peak {memory.gib(need)}, available {memory.gib(memory.available())}"
    if limit is not None:
        mem += f", --max-memory {memory.gib(limit)}"
    return [
        mem,
        f"{config.run.seeds} runs x {config.run.steps} steps on engine {engine!r}; "
        + compile_cost.estimate_phrase(run_s, compile_s, note, 1, True),
    ]
