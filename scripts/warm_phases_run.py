"""Where a warm `simrl run` of the quickstart goes: CPU (process_time) and wall seconds per
step of cli.cmd_run, in one process (kernels cached; docs/performance.md, "The warm path").
The last line repeats the simulation: the run alone, without the one-time cache loads.

    PYTHONPATH=$PWD python3 scripts/warm_phases_run.py [CONFIG.toml]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from phase_clock import PhaseClock


def main(path: str) -> None:
    clock = PhaseClock()
    mark = clock.mark
    from simrl.cli import build_parser

    build_parser()
    mark("import simrl.cli, build the parser")
    from simrl.config import Config

    mark("import simrl.config (numpy, the registries)")
    cfg = Config.from_toml(path)
    mark("read the config")
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    mark("import pandas, pyarrow.parquet")
    import numba  # noqa: F401

    mark("import numba")
    from simrl.simulate import simulate

    mark("import simrl.simulate (the engine's modules, kernel dispatchers)")
    result = simulate(cfg, engine="fast")
    mark("simulate (numba's target refresh, cache loads, the run)")
    with tempfile.TemporaryDirectory() as d:
        result.save(Path(d))
    mark("save the tables")
    from simrl.summary import print_summary  # noqa: F401

    mark("import simrl.summary (rich)")
    clock.report()
    w, c = time.perf_counter(), time.process_time()
    simulate(cfg, engine="fast")
    print(
        f"{time.process_time() - c:7.3f} CPU s {time.perf_counter() - w:7.3f} wall s  simulate again (the run alone)"
    )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "simrl/examples/quickstart.toml")
