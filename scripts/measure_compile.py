"""Measure numba's compile time per kernel from an empty cache and write
simrl/engine/compile_times.toml (the data behind the "compiling kernels for first use: ~N s"
notice and the --dry-run estimates; docs/performance.md, "Compile time").

    NUMBA_CACHE_DIR=$(mktemp -d) NUMBA_NUM_THREADS=1 python3 scripts/measure_compile.py [--out FILE]

Each entry kernel (the bandit step's and the sequence step's run_chunk, their rollout
sampler forms run_chunk_sampler and run_chunk_seq_sampler, the cfunc of every registered
policy loss, advantage estimator and optimiser, and of every feature hook of
simrl/engine/kernels/hooks.py, after the kernels, with their stubs as one `hook.stubs`,
first)
is compiled once in this process, from the empty cache NUMBA_CACHE_DIR names; its time is numba's own compile
event (numba:compile, inclusive of the callees it compiles), or the time of the cfunc
decoration, each as CPU and wall seconds. numba's one-time start-up (its type system and LLVM) is paid by a trivial
function first and recorded as `numba_init`.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path


def host() -> dict:
    from simrl.bench import cpu_model

    return {
        "host": platform.node(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_before": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
    }


def compile_events(fn):
    """Run fn(); per dispatcher qualname, the (wall, CPU) seconds of numba:compile,
    inclusive of the callees it compiles. The CPU time (this process's, numba compiles on
    one thread) is what a calm machine's wall time would be; on a shared host the wall
    time also counts the other processes' turns."""
    from numba.core import event

    class Clocks(event.Listener):
        def __init__(self):
            self.starts, self.spans = {}, {}

        def on_start(self, ev):
            self.starts[id(ev.data["dispatcher"])] = (time.perf_counter(), time.process_time())

        def on_end(self, ev):
            w0, c0 = self.starts.pop(id(ev.data["dispatcher"]))
            name = ev.data["dispatcher"].py_func.__qualname__
            w, c = self.spans.get(name, (0.0, 0.0))
            self.spans[name] = (w + time.perf_counter() - w0, c + time.process_time() - c0)

    clocks = Clocks()
    with event.install_listener("numba:compile", clocks):
        fn()
    return clocks.spans


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("simrl/engine/compile_times.toml"))
    ap.add_argument(
        "--only",
        default="",
        help="comma-separated keys or groups to measure (bandit, sequence, loss, advantage, "
        "optimiser, hook, or one key such as loss.vanilla); the others keep their values in "
        "--out",
    )
    args = ap.parse_args()
    only = {k for k in args.only.split(",") if k}

    def wanted(key: str) -> bool:
        return not only or key in only or key.split(".")[0] in only

    if not os.environ.get("NUMBA_CACHE_DIR"):
        sys.exit("set NUMBA_CACHE_DIR to an empty folder (the measurement needs a cold cache)")
    info = host()
    t0, c0 = time.perf_counter(), time.process_time()
    from numba import njit

    njit(lambda x: x + 1)(1)
    init = (time.perf_counter() - t0, time.process_time() - c0)
    from simrl.algorithms import advantage, optimiser, policy_loss
    from simrl.config import Config
    from simrl.examples_path import example
    from simrl.simulate import simulate

    times: dict[str, tuple[float, float]] = {"numba_init": init}
    # the feature hooks' stubs of both families together, first (every kernel run below
    # compiles them: simrl/engine/kernels/hooks.py)
    if wanted("hook.stubs"):
        from simrl.engine.kernels import hooks

        t, c = time.perf_counter(), time.process_time()
        for field in hooks.Hooks._fields:
            hooks.compiled(field, False)
        times["hook.stubs"] = (time.perf_counter() - t, time.process_time() - c)
        print(f"hook.stubs: {times['hook.stubs']}", file=sys.stderr, flush=True)
    for group, module, names in (
        ("loss", policy_loss, [e.name for e in policy_loss.POLICY_LOSSES]),
        ("advantage", advantage, [e.name for e in advantage.ADVANTAGES]),
        ("optimiser", optimiser, [e.name for e in optimiser.OPTIMIZERS]),
    ):
        for name in names:
            if not wanted(f"{group}.{name}"):
                continue
            module._COMPILED.pop(name, None)
            t, c = time.perf_counter(), time.process_time()
            module.compiled(name)
            times[f"{group}.{name}"] = (time.perf_counter() - t, time.process_time() - c)
            print(f"{group}.{name}: {times[f'{group}.{name}']}", file=sys.stderr, flush=True)
    # a rollout sampler runs on its own kernels (engine/fast_sampler.py)
    sampler = {"algo.temperature": 0.7, "algo.staleness": 1, "algo.tis": "token_truncate"}
    linear = {"policy.kind": "linear", "policy.features": "random_features", "policy.dim": 8}
    audit = {"run.audit": True}
    for kind, toml, kernel, extra in (
        ("bandit", "quickstart.toml", "run_chunk", {}),
        ("sequence", "sequence.toml", "run_chunk_seq", {}),
        ("bandit_sampler", "quickstart.toml", "run_chunk_sampler", sampler),
        ("sequence_sampler", "sequence.toml", "run_chunk_seq_sampler", sampler),
        # a linear policy's kernels (engine/fast_linear.py), after the tabular ones
        ("linear", "quickstart.toml", "run_chunk_linear", linear),
        ("linear_sampler", "quickstart.toml", "run_chunk_linear_sampler", {**linear, **sampler}),
        ("linear_audit", "quickstart.toml", "run_chunk_linear_audit", {**linear, **audit}),
    ):
        if not wanted(f"{kind}.{kernel}"):
            continue
        cfg = Config.from_toml(example(Path(toml)), {"run.steps": 2, "run.seeds": 1, **extra})
        # the run's cfuncs first, untimed unless measured above, so the kernel's time is its own
        from simrl.algorithms import compiled

        compiled(cfg.algo.loss, cfg.algo.advantage, cfg.optim.kind)
        spans = compile_events(lambda cfg=cfg: simulate(cfg, engine="fast"))
        times[f"{kind}.{kernel}"] = spans[kernel]
        print(f"{kind}.{kernel}: {spans[kernel]}", file=sys.stderr, flush=True)
    # the feature hooks (kernels/hooks.py), after the kernels: what a first run with the
    # feature adds to its kernel's compile (callees the kernel compiled are not counted
    # again, as in a run)
    from simrl.engine.kernels import hooks

    for field in hooks.Hooks._fields:
        if wanted(f"hook.{field}"):
            hooks._COMPILED.pop((field, True), None)
            t, c = time.perf_counter(), time.process_time()
            hooks.compiled(field, True)
            times[f"hook.{field}"] = (time.perf_counter() - t, time.process_time() - c)
            print(f"hook.{field}: {times[f'hook.{field}']}", file=sys.stderr, flush=True)
    import numba

    info["load_after"] = round(os.getloadavg()[0], 2)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    # when and at which load average (before, after) each entry was measured: the header
    # describes this process only, so entries kept from an earlier file keep their own
    when = {k: f"{now}, load {info['load_before']}-{info['load_after']}" for k in times}
    if only and args.out.is_file():  # the entries not measured now keep their values
        import tomllib

        old = tomllib.loads(args.out.read_text())
        # a file from before [measured_at]: its header said when all of it was measured
        was = f"{old.get('measured_utc', '?')}, load {old.get('load_before', '?')}-{old.get('load_after', '?')}"
        for key in old.get("seconds", {}):
            if key not in times:
                times[key] = (
                    old.get("wall_seconds", {}).get(key, float("nan")),
                    old["seconds"][key],
                )
                when[key] = old.get("measured_at", {}).get(key, was)
        info["remeasured"] = ", ".join(sorted(k for k in times if wanted(k) and k != "numba_init"))
    lines = [
        "# numba compile time per entry kernel from an empty cache (inclusive of the callees",
        "# each compiles): [seconds] is this process's CPU time (numba compiles on one thread:",
        "# a calm machine's wall time), [wall_seconds] the wall time on the host named below",
        "# while its load was as given ([measured_at]: each entry's time and load average,",
        "# before-after; the header's, this write's). Written by scripts/measure_compile.py; read by",
        "# simrl/engine/compile_cost.py for the first-use notice and --dry-run estimates.",
        f'measured_utc = "{now}"',
        f'numba = "{numba.__version__}"',
        f"numba_threads = {numba.get_num_threads()}",
        *(f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"' for k, v in info.items()),
        "",
        "[seconds]",
        *(f'"{k}" = {v[1]:.3f}' for k, v in times.items()),
        "",
        "[wall_seconds]",
        *(f'"{k}" = {v[0]:.3f}' for k, v in times.items()),
        "",
        "[measured_at]",
        *(f'"{k}" = "{when[k]}"' for k in times),
        "",
    ]
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text("\n".join(lines))
    tmp.replace(args.out)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
