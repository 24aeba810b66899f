"""The fast engines' parallelism over runs: Python threads, each calling a kernel that
releases the GIL (`@njit(nogil=True)`) on its own contiguous slice of a block's runs.

The chunk kernels (kernels/step.run_chunk, seq_step.run_chunk_seq, linear.run_chunk_linear)
were `parallel=True` with a `prange` over runs. numba's parfor lowering compiles the loop
body into a gufunc of its own, and that gufunc's library and the kernel's each link,
optimise and generate machine code for the whole step kernel below it: from an empty
cache it was about 30 of the bandit kernel's 98 CPU seconds (docs/performance.md,
"Compile time"). The runs of a call share nothing (each reads and writes its own rows and
draws from its own PCG64 stream), so splitting them over threads here computes every
number exactly as the prange did, whatever the split.

The thread count is numba's (`numba.get_num_threads()`: NUMBA_NUM_THREADS, or
numba.set_num_threads), so the knobs that set the prange's threads set these.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

_POOLS: dict[int, ThreadPoolExecutor] = {}


def _pool(n: int) -> ThreadPoolExecutor:
    if n not in _POOLS:
        _POOLS[n] = ThreadPoolExecutor(max_workers=n, thread_name_prefix="simrl-runs")
    return _POOLS[n]


def split(runs: slice, n: int) -> list[slice]:
    """runs cut into at most n contiguous, non-empty slices of near-equal length (the
    first ones one longer), in order."""
    size = runs.stop - runs.start
    n = max(1, min(n, size))
    base, extra = divmod(size, n)
    out, lo = [], runs.start
    for i in range(n):
        hi = lo + base + (1 if i < extra else 0)
        out.append(slice(lo, hi))
        lo = hi
    return out


def over_threads(call: Callable[[slice], None], runs: slice) -> None:
    """call(part) for each part of split(runs, numba's thread count), concurrently on a
    thread pool (call must release the GIL to run in parallel); a single part runs on
    this thread. Re-raises the first part's exception, after every part has finished."""
    from numba import get_num_threads

    parts = split(runs, get_num_threads())
    if len(parts) == 1:
        call(parts[0])
        return
    futures = [_pool(len(parts)).submit(call, part) for part in parts]
    errors = [f.exception() for f in futures]
    for error in errors:
        if error is not None:
            raise error
