"""Where a cold numba compile spends its CPU time: one process, an empty cache, per
dispatcher its exclusive compile CPU seconds (its own typing, lowering and LLVM, without
the callees it compiles) and the LLVM part (numba:llvm_lock events).

    NUMBA_CACHE_DIR=$(mktemp -d) NUMBA_NUM_THREADS=1 python3 scripts/profile_compile.py \
        [bandit|sequence] [--set key=value ...]

The run's policy loss, advantage and optimiser cfuncs and its feature hooks
(simrl/engine/kernels/hooks.py) are compiled first (timed apart), so the rest is the entry
kernel's. docs/performance.md, "Compile time", holds the results.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["bandit", "sequence"])
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument(
        "--sigs",
        action="store_true",
        help="print the signatures of kernels compiled more than once",
    )
    args = ap.parse_args()
    if not os.environ.get("NUMBA_CACHE_DIR"):
        sys.exit("set NUMBA_CACHE_DIR to an empty folder")
    c0 = time.process_time()
    from numba import njit
    from numba.core import event

    njit(lambda x: x + 1)(1)
    init = time.process_time() - c0
    from simrl.config import Config
    from simrl.examples_path import example
    from simrl.simulate import simulate

    toml = "quickstart.toml" if args.kind == "bandit" else "sequence.toml"
    over = {"run.steps": 2, "run.seeds": 1}
    for kv in args.set:
        k, v = kv.split("=", 1)
        over[k] = v
    cfg = Config.from_toml(example(Path(toml)), over)
    from simrl.algorithms import compiled

    c1 = time.process_time()
    compiled(cfg.algo.loss, cfg.algo.advantage, cfg.optim.kind)
    cfuncs = time.process_time() - c1
    # the run's feature hooks (kernels/hooks.py: the stubs of the features it does not use)
    from simrl.engine.kernels import hooks

    c1 = time.process_time()
    for field, real in hooks.hook_fields(args.kind, hooks.features_of_config(cfg)):
        hooks.compiled(field, real)
    hook_s = time.process_time() - c1

    sigs: dict[str, list] = {}
    stack: list = []  # [name, start cpu, child cpu, llvm cpu]
    spans: dict[str, list[float]] = {}
    llvm_start: list[float] = []

    class Compile(event.Listener):
        def on_start(self, ev):
            name = ev.data["dispatcher"].py_func.__qualname__
            sigs.setdefault(name, []).append(ev.data["args"])
            stack.append([name, time.process_time(), 0.0, 0.0])

        def on_end(self, ev):
            name, t0, child, llvm = stack.pop()
            total = time.process_time() - t0
            if stack:
                stack[-1][2] += total
            s = spans.setdefault(name, [0.0, 0.0, 0.0, 0])
            s[0] += total
            s[1] += total - child
            s[2] += llvm
            s[3] += 1

    class Llvm(event.Listener):
        def on_start(self, ev):
            llvm_start.append(time.process_time())

        def on_end(self, ev):
            d = time.process_time() - llvm_start.pop()
            if stack and not llvm_start:
                stack[-1][3] += d

    c2 = time.process_time()
    with (
        event.install_listener("numba:compile", Compile()),
        event.install_listener("numba:llvm_lock", Llvm()),
    ):
        simulate(cfg, engine="fast")
    total = time.process_time() - c2
    print(
        f"numba_init {init:.2f} s, cfuncs {cfuncs:.2f} s, hooks {hook_s:.2f} s, "
        f"simulate {total:.2f} s CPU "
        f"(load {os.getloadavg()[0]:.2f})"
    )
    print(f"{'dispatcher':40s} {'incl':>8s} {'excl':>8s} {'llvm':>8s} {'n':>3s}")
    rows = sorted(spans.items(), key=lambda kv: -kv[1][1])
    for name, (inc, exc, llvm, n) in rows[: args.top]:
        print(f"{name:40s} {inc:8.2f} {exc:8.2f} {llvm:8.2f} {n:3d}")
    if args.sigs:
        for name, found in sigs.items():
            if len(found) > 1:
                print(name)
                for sig in found:
                    print("   ", str(sig)[:400])
    print(
        f"sum excl {sum(s[1] for s in spans.values()):.2f}, sum llvm "
        f"{sum(s[2] for s in spans.values()):.2f}, dispatchers {len(spans)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
