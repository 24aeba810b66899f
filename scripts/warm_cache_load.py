"""numba's cache load per kernel for one config: the one-time target refresh (numba's
lowering modules; numba.np.arraymath imports scipy.linalg), then each cached dispatcher's
load (numba.core.caching.Cache.load_overload), CPU s of this process; a 1-seed, 1-step run
so that the run itself is negligible (docs/performance.md, "The warm path").

    PYTHONPATH=$PWD python3 scripts/warm_cache_load.py simrl/examples/quickstart.toml
"""

from __future__ import annotations

import sys
import time


def main(path: str) -> None:
    from numba.core import caching
    from numba.core.registry import cpu_target

    from simrl.config import Config
    from simrl.simulate import simulate

    t = time.process_time()
    cpu_target.target_context.refresh()
    print(f"numba target refresh: {time.process_time() - t:.3f} CPU s")
    loads = []
    load = caching.Cache.load_overload

    def timed(self, sig, target_context):
        t = time.process_time()
        out = load(self, sig, target_context)
        name = getattr(self._cache_file, "_index_name", self._name)
        loads.append((name, time.process_time() - t, out is not None))
        return out

    caching.Cache.load_overload = timed
    cfg = Config.from_toml(path, {"run.steps": 1, "run.seeds": 1})
    t = time.process_time()
    simulate(cfg, engine="fast")
    first = time.process_time() - t
    t = time.process_time()
    simulate(cfg, engine="fast")
    second = time.process_time() - t
    for name, s, hit in loads:
        print(f"  load {name}: {s:.3f} CPU s{'' if hit else ' (not cached: compiled)'}")
    print(
        f"first 1-run 1-step simulate (loads, argument typing, run): {first:.3f} CPU s; "
        f"second: {second:.3f}"
    )


if __name__ == "__main__":
    main(sys.argv[1])
