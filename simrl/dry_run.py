"""`simrl run --dry-run`: what a run would do and how long it would take, without writing.

The time is measured as `simrl prereg run --dry-run` measures it (simrl/prereg/runner.py):
a probe of at most PROBE_SEEDS seeds for PROBE_STEPS and for twice as many steps, after a
one-seed warm-up call, gives the seconds per run-step (scaled to the run's seeds x steps)
and the call's fixed cost; the compile time of
the kernels that are cold before the probe is added from the measured per-kernel table
(simrl/engine/compile_cost.py).
"""

from __future__ import annotations

import time

PROBE_SEEDS, PROBE_STEPS = 4, 20


def probe_seconds(config, engine: str, task=None) -> float:
    """Estimated seconds of running config's seeds x steps (compile excluded): the probe
    runs for PROBE_STEPS and for twice as many steps after a one-seed warm-up; their
    difference gives the seconds per run-step, the rest of the short probe the call's
    fixed cost, charged once (as simrl/prereg/runner.py's estimate does)."""
    from simrl.simulate import simulate

    s1 = min(PROBE_STEPS, config.run.steps)
    s2 = min(2 * s1, config.run.steps)
    seeds = min(PROBE_SEEDS, config.run.seeds)

    def timed(steps):
        probe = config.replace(**{"run.steps": steps, "run.eval_every": steps, "run.seeds": seeds})
        t0 = time.perf_counter()
        simulate(probe, engine=engine, task=task)
        return time.perf_counter() - t0

    simulate(  # compile or load the kernels, untimed
        config.replace(**{"run.steps": s1, "run.eval_every": s1, "run.seeds": 1}),
        engine=engine,
        task=task,
    )
    t1 = timed(s1)
    per_run_step, fixed = t1 / (seeds * s1), 0.0
    if s2 > s1:
        t2 = timed(s2)
        if t2 > t1:  # else the host's noise hid the difference: the short probe's mean
            per_run_step = (t2 - t1) / (seeds * (s2 - s1))
            fixed = max(0.0, t1 - per_run_step * seeds * s1)
    return per_run_step * config.run.seeds * config.run.steps + fixed


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
