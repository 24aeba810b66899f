"""Which numba kernels a run will compile, for how long, and a notice on stderr when it does.

A fast-engine run needs one entry kernel per task family (the bandit step's `run_chunk`,
the sequence step's `run_chunk_seq`; their callees are compiled into them), the cfuncs
of its policy loss, advantage estimator and optimiser (simrl.algorithms.compiled), and
the cfuncs of the optional features its runs use (kernels/hooks.py: `hook.exact_batch`,
...; the other features' stubs together as `hook.stubs`). Each is
*cold* when neither this process has compiled it nor numba's on-disk cache holds a fresh
entry for this CPU: the cache index (`<module>.<function>-<line>.pyXY.nbi`, in the
source's __pycache__ or under NUMBA_CACHE_DIR) is missing, stale (its source stamp or
numba's version differs) or has no entry built for this machine's codegen. The check reads
the index only; it compiles nothing.

The time of a cold kernel is the one measured from an empty cache and stored in
compile_times.toml beside this file (scripts/measure_compile.py writes it, with the date
and the host; docs/performance.md, "Compile time"); a loss, estimator or optimiser not in
that table counts as the median of its group. It is an estimate on another machine's
clock: a busy or slower host takes longer.
"""

from __future__ import annotations

import os
import sys
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

#: the entry kernel of each task family on the fast engine: (module, function)
ENTRY = {
    "bandit": ("simrl.engine.kernels.step", "run_chunk"),
    "sequence": ("simrl.engine.kernels.seq_step", "run_chunk_seq"),
    # runs with a rollout sampler (engine/fast_sampler.py)
    "bandit_sampler": ("simrl.engine.kernels.rollout_sampler", "run_chunk_sampler"),
    "sequence_sampler": ("simrl.engine.kernels.seq_rollout_sampler", "run_chunk_seq_sampler"),
    # a linear policy's runs (engine/fast_linear.py chunk_kernel_linear: the plain kernel,
    # the sampler's, or the controllers' and run.audit's)
    "linear": ("simrl.engine.kernels.linear", "run_chunk_linear"),
    "linear_sampler": ("simrl.engine.kernels.linear_sampler", "run_chunk_linear_sampler"),
    "linear_audit": ("simrl.engine.kernels.linear_audit", "run_chunk_linear_audit"),
}
#: the kernel an entry kernel not measured yet is estimated by (the same parts)
STAND_IN = {
    "bandit_sampler": "bandit",
    "sequence_sampler": "sequence",
    "linear": "bandit",
    "linear_sampler": "bandit_sampler",
    "linear_audit": "bandit",
}
TIMES_FILE = Path(__file__).with_name("compile_times.toml")


@dataclass(frozen=True)
class Kernel:
    key: str  # "bandit.run_chunk", "loss.vanilla", "advantage.grpo", "optimiser.adam"
    cold: bool
    seconds: float  # the measured compile time from an empty cache (0 when warm)
    cache_dir: str  # where numba keeps (or would keep) it; "memory" if it is not cached


@cache
def measured() -> dict:
    """compile_times.toml: {'seconds': {key: s}, 'measured_utc': ..., 'cpu': ..., ...}."""
    try:
        return tomllib.loads(TIMES_FILE.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return {"seconds": {}}


def estimate(key: str) -> float:
    """Seconds to compile `key` from an empty cache: measured, or its group's median."""
    seconds = measured().get("seconds", {})
    if key in seconds:
        return float(seconds[key])
    family = key.split(".")[0]
    if family in STAND_IN:  # an entry kernel not measured yet: about its stand-in's
        stand_in = STAND_IN[family]
        return estimate(f"{stand_in}.{ENTRY[stand_in][1]}")
    group = sorted(v for k, v in seconds.items() if k.split(".")[0] == key.split(".")[0])
    return float(group[len(group) // 2]) if group else 0.0


def _fresh_in_cache(py_func) -> tuple[bool, str]:
    """(the on-disk cache holds an entry of py_func built for this CPU, its folder)."""
    from numba.core.caching import FunctionCache
    from numba.core.registry import cpu_target

    try:
        fc = FunctionCache(py_func)
    except RuntimeError:  # numba finds no writable place to cache it
        return False, "memory"
    index = fc._cache_file._load_index()  # {} when missing, stale or another numba
    magic = cpu_target.target_context.codegen().magic_tuple()
    return any(key[1] == magic for key in index), str(fc._cache_path)


def _entry_kernel(kind: str) -> Kernel:
    from importlib import import_module

    module, name = ENTRY[kind]
    dispatcher = getattr(import_module(module), name)
    key = f"{kind}.{name}"
    watch(dispatcher, key)
    if dispatcher.overloads:  # compiled or loaded in this process already
        return Kernel(key, False, 0.0, "")
    fresh, where = _fresh_in_cache(dispatcher.py_func)
    return Kernel(key, not fresh, 0.0 if fresh else estimate(key), where)


def _algorithm(group: str, name: str) -> Kernel:
    from simrl.algorithms import advantage, optimiser, policy_loss

    module, entry = {
        "loss": (policy_loss, policy_loss.entry),
        "advantage": (advantage, advantage.ADVANTAGES.__getitem__),
        "optimiser": (optimiser, optimiser.OPTIMIZERS.__getitem__),
    }[group]
    key = f"{group}.{name}"
    if name in module._COMPILED:
        return Kernel(key, False, 0.0, "")
    fn = entry(name).numba
    if not (getattr(fn, "__module__", "") or "").startswith("simrl."):
        return Kernel(key, True, estimate(key), "memory")  # compiled in each process
    fresh, where = _fresh_in_cache(fn)
    return Kernel(key, not fresh, 0.0 if fresh else estimate(key), where)


def _hooks(family: str, features) -> list[Kernel]:
    """The hooks a call of kernel family `family` compiles (kernels/hooks.py): one Kernel
    per feature hook ('hook.exact_batch', ...), and the stubs together ('hook.stubs')."""
    from simrl.engine.kernels import hooks

    out, stubs_cold, stubs_where = [], False, ""
    for field, real in hooks.hook_fields(family, features):
        if (field, real) in hooks._COMPILED:
            continue
        fresh, where = _fresh_in_cache(getattr(hooks, ("h_" if real else "s_") + field))
        if real:
            key = f"hook.{field}"
            out.append(Kernel(key, not fresh, 0.0 if fresh else estimate(key), where))
        elif not fresh:
            stubs_cold, stubs_where = True, where
    if stubs_cold:
        out.append(Kernel("hook.stubs", True, estimate("hook.stubs"), stubs_where))
    return out


def needed(configs, engine: str = "fast") -> list[Kernel]:
    """The kernels the runs of these configs need on `engine` (none on the reference):
    the entry kernels, the algorithms' cfuncs and the feature hooks (with the stubs of
    the features no run uses)."""
    if engine != "fast":
        return []
    from simrl import controllers
    from simrl.engine.kernels.hooks import features_of_config
    from simrl.rollout_sampling import differs

    kinds, algos, features = set(), set(), {}
    for c in configs:
        kind = "sequence" if c.task.kind == "sequence" else "bandit"
        if c.policy.kind == "linear":  # fast_linear.chunk_kernel_linear's choice
            if differs(c.algo):
                kinds.add("linear_sampler")
            elif controllers.active(c.algo) or c.run.audit:
                kinds.add("linear_audit")
            else:
                kinds.add("linear")
        else:
            kinds.add(f"{kind}_sampler" if differs(c.algo) else kind)
        algos |= {("loss", c.algo.loss), ("advantage", c.algo.advantage)}
        algos.add(("optimiser", c.optim.kind))
        features[kind] = features.get(kind, frozenset()) | features_of_config(c)
    hook_kernels: dict[str, Kernel] = {}
    for family in sorted(features):
        for k in _hooks(family, features[family]):
            hook_kernels.setdefault(k.key, k)  # the stubs of both families: one entry
    return [
        *(_entry_kernel(k) for k in sorted(kinds)),
        *(_algorithm(*a) for a in sorted(algos)),
        *hook_kernels.values(),
    ]


def cold_seconds(kernels: list[Kernel]) -> float:
    """The estimated compile time of the cold ones (plus numba's start-up, once)."""
    cold = [k for k in kernels if k.cold]
    if not cold:
        return 0.0
    return sum(k.seconds for k in cold) + estimate("numba_init")


def describe(kernels: list[Kernel]) -> str:
    """'~95 s, cached in DIR (bandit.run_chunk, loss.vanilla)' for the cold ones."""
    cold = [k for k in kernels if k.cold]
    where = sorted({k.cache_dir for k in cold if k.cache_dir not in ("", "memory")})
    place = where[0] if len(where) == 1 else "memory"
    if len(where) > 1:  # one folder per source folder: name the folder above them
        place = f"{os.path.commonpath(where)} ({len(where)} folders)"
    seconds = cold_seconds(kernels)
    time = f"~{seconds:.0f} s" if seconds else "time not measured (no compile_times.toml)"
    return f"{time}, cached in {place} ({', '.join(k.key for k in cold)})"


_ANNOUNCED: set[str] = set()
#: entry kernels whose compile `announce` has just announced (the listener stays quiet)
_EXPECTED: set[str] = set()
#: py_func -> key of the dispatchers whose every real compile is announced
_WATCHED: dict = {}
_LISTENING: list = []


def watch(dispatcher, key: str) -> None:
    """Announce every compile of `dispatcher` (numba's 'numba:compile' event fires on a
    cache miss only), also one for argument types `announce` could not foresee (a run
    with run.audit, a second layout): the notice then comes as the compile starts."""
    _WATCHED[dispatcher.py_func] = key
    if _LISTENING:
        return
    from numba.core import event

    class Notice(event.Listener):
        def on_start(self, ev):
            fn = getattr((ev.data or {}).get("dispatcher"), "py_func", None)
            key = _WATCHED.get(fn)
            if key is None:
                return
            if key in _EXPECTED:
                _EXPECTED.discard(key)
                return
            where = _fresh_in_cache(fn)[1]
            sys.stderr.write(
                f"simrl: compiling kernels for first use: ~{estimate(key):.0f} s, cached in "
                f"{where} ({key}, new argument types)\n"
            )
            sys.stderr.flush()

        def on_end(self, ev):
            pass

    listener = Notice()
    event.register("numba:compile", listener)
    _LISTENING.append(listener)


def announce(configs, stream=None) -> float:
    """Write 'simrl: compiling kernels for first use: ~N s, cached in PATH (...)' to
    stderr (a TTY or not) when any kernel these runs need is cold; once per process and
    set of kernels (a compile it could not foresee is announced as it starts: `watch`).
    Returns the estimate (0 when nothing is cold)."""
    kernels = needed(configs)
    cold = tuple(k.key for k in kernels if k.cold)
    _EXPECTED.clear()
    if not cold or cold in _ANNOUNCED:
        return 0.0
    _ANNOUNCED.add(cold)
    _EXPECTED.update(k for k in cold if k.split(".")[0] in ENTRY)
    m = measured()
    source = f"; measured {m['measured_utc'][:10]} on {m['cpu']}" if "cpu" in m else ""
    stream = stream if stream is not None else sys.stderr
    stream.write(f"simrl: compiling kernels for first use: {describe(kernels)}{source}\n")
    stream.flush()
    return cold_seconds(kernels)


def estimate_phrase(run_s: float, compile_s: float, note: str, workers: int, probed: bool) -> str:
    """The --dry-run estimate: the timed probe's running time plus the compile time of the
    kernels that were cold before the dry run (which its probe then compiled and cached)."""
    text = f"estimated {run_s + compile_s:.1f} s with {workers} worker(s)"
    if not compile_s:
        return text + " (timed probe)"
    after = (
        "; this dry run's probe compiled and cached them, so a run now loads them" if probed else ""
    )
    return (
        f"{text}: {run_s:.1f} s running (timed probe) + {compile_s:.0f} s compiling kernels "
        f"for first use ({note}{after})"
    )
