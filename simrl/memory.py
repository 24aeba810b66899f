"""Peak-memory estimates from config shapes alone, checked before any work starts.

Nothing here builds a task, allocates an array or imports the engine: the estimate reads
the config's sizes (prompts, answers or the sequence tree's states, group size, steps,
seeds, recorded rows, metrics) and multiplies them by the arrays the engine holds per
run. It is an upper bound by construction (a sequence task is counted as a full tree of
vocab ** depth states per prompt, though shared states make it smaller; every per-state
array is counted as float64), so it refuses a job that cannot fit and never one that
fits by much:

    per run   8 B x (STATE_ARRAYS x states x actions + SAMPLE_ARRAYS x prompts x G x length
                     + rows x metrics)
    a batch   BASELINE + 8 B x TASK_ARRAYS x states x actions + runs x per run

The constants are measured, with margin: `simrl run` of the bandit with 8 prompts x
200,000 answers peaked at 1.03 GB resident with 2 seeds and 1.33 GB with 8 (so about 4
arrays of 8 B per state-action per run, and about 64 for the task and the batch's shared
work, above the 0.11 GB of an interpreter with simrl imported); 8 x 10^6 state-actions
and 2 seeds peaked at 4.2 GB.

The available memory is the kernel's MemAvailable (Linux /proc/meminfo), else the free
physical pages; `--max-memory` sets the limit instead.
"""

from __future__ import annotations

import os
import re
from typing import Any

from simrl.errors import ConfigError

BYTES = 8
#: per (state, action) float64 arrays a run holds (measured about 4: logits, old-policy
#: logits, gradient, Adam moments, probabilities)
STATE_ARRAYS = 8
#: per (state, action) float64 arrays held once per batch: the task's tables and the
#: exact metrics' work arrays (measured about 64)
TASK_ARRAYS = 80
#: the interpreter with numpy, pandas, numba and simrl loaded, and the compiled kernels
BASELINE = 256 * 2**20
#: per sampled token arrays: the response, reward, advantage, ratio, clip mask, weight
SAMPLE_ARRAYS = 6
#: the bridge: float32 logits over the vocabulary per generated token, and activations
BRIDGE_VOCAB, BRIDGE_FLOAT = 64, 4

_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 2**10, "kib": 2**10, "m": 2**20, "mb": 2**20,
          "mib": 2**20, "g": 2**30, "gb": 2**30, "gib": 2**30, "t": 2**40, "tb": 2**40,
          "tib": 2**40}  # fmt: skip


def gib(n: float) -> str:
    """Bytes in words: 1.5 GiB, 12 MiB, 3 KiB."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def parse_size(text: str) -> int:
    """'8GiB', '512 MB', '2g', '1000000' -> bytes (binary units)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", str(text))
    if not m or m.group(2).lower() not in _UNITS or float(m.group(1)) <= 0:
        raise ConfigError("--max-memory", text, "must be a positive size such as 8GiB, 512MB or 2g")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def available() -> int:
    """Bytes of memory available to a new allocation now."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2**62  # unknown: do not refuse on a guess


def recorded_rows(steps: int, eval_every: int) -> int:
    """Metric rows of a run: step 0, every multiple of eval_every, and the last step
    (simrl.engine.batch.record_steps), counted without building them."""
    return 1 + steps // eval_every + (steps % eval_every != 0)


def _states_actions(task: Any) -> tuple[int, int, int]:
    """(states x actions, prompts, response length) of a task config, from its sizes."""
    from simrl.tasks.family import family

    return family(task.kind).table_size(task)


def run_bytes(cfg: Any, metrics: int = 64) -> int:
    """Upper bound on the bytes one simulator run holds (its share of a batch)."""
    table, prompts, length = _states_actions(cfg.task)
    rows = recorded_rows(cfg.run.steps, cfg.run.eval_every)
    per_step = prompts * cfg.algo.group_size * length
    return BYTES * (STATE_ARRAYS * table + SAMPLE_ARRAYS * per_step + rows * metrics)


def bridge_bytes(cfg: Any, metrics: int = 64) -> int:
    """A bridge run: the generated tokens' logits of one evaluation pass, plus its rows."""
    b = cfg.bridge
    tokens = max(b.eval_samples, cfg.algo.group_size) * (b.eval_prompts + b.train_prompts)
    tokens *= b.max_new_tokens
    rows = recorded_rows(cfg.run.steps, cfg.run.eval_every)
    return BRIDGE_FLOAT * tokens * (BRIDGE_VOCAB + 4 * b.d_model) + BYTES * rows * metrics


def estimate(cfg: Any, runs: int | None = None) -> int:
    """Peak bytes of `runs` runs of cfg in one batch (default: cfg.run.seeds)."""
    runs = cfg.run.seeds if runs is None else runs
    if hasattr(cfg, "bridge"):
        return BASELINE + bridge_bytes(cfg)  # the bridge runs its seeds one after another
    table = _states_actions(cfg.task)[0]
    return BASELINE + BYTES * TASK_ARRAYS * table + runs * run_bytes(cfg)


def check(needed: int, limit: int | None, what: str) -> None:
    """Refuse, in one line, a job whose estimate exceeds the limit (default: available)."""
    have = available() if limit is None else limit
    if needed > have:
        source = "--max-memory" if limit is not None else "available memory"
        raise ConfigError(
            what,
            f"needs about {gib(needed)}",
            f"more than the {source}, {gib(have)}: make it smaller (fewer seeds, steps, "
            "rows or answers) or raise --max-memory",
        )


def grid_bytes(unit_runs: list[tuple[Any, int]], workers: int) -> int:
    """Peak bytes of a grid run as units: the largest units, `workers` at a time (each
    unit is (a config of its shape, its runs))."""
    sizes = sorted((estimate(cfg, runs) for cfg, runs in unit_runs), reverse=True)
    return sum(sizes[: max(1, workers)])


def cap_workers(workers: int, force: bool) -> int:
    """--workers above the core count is refused unless forced (each worker is a process
    with its own copy of the engine and its batch)."""
    cores = os.cpu_count() or 1
    if workers > cores and not force:
        raise ConfigError(
            "--workers", workers, f"must be at most the {cores} cores here (--force to allow more)"
        )
    return workers
