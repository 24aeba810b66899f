"""The library floor under a warm `simrl run` of the quickstart: CPU seconds (user + sys,
from wait4) and wall seconds of processes that only import what the command imports, step
by step, beside the command itself; the steps alternate, one process each, and the medians
are printed last (docs/performance.md, "The warm path").

    PYTHONPATH=$PWD python3 scripts/warm_floor.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

REFRESH = "from numba.core.registry import cpu_target; cpu_target.target_context.refresh()"
STEPS = {
    "python3 -c pass": "pass",
    "+ numpy": "import numpy",
    "+ pandas, pyarrow.parquet": "import numpy, pandas, pyarrow.parquet",
    "+ numba": "import numpy, pandas, pyarrow.parquet, numba",
    "+ numba's target refresh": f"import numpy, pandas, pyarrow.parquet, numba; {REFRESH}",
    "+ rich": f"import numpy, pandas, pyarrow.parquet, numba, rich; {REFRESH}",
}


def _time(cmd: list[str]) -> tuple[float, float]:
    w = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - w
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr.read().decode()}")
    return ru.ru_utime + ru.ru_stime, wall


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--config", default="simrl/examples/quickstart.toml")
    args = p.parse_args()
    cpu: dict[str, list[float]] = {}
    wall: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="warm_floor-") as d:
        run = [sys.executable, "-m", "simrl", "run", args.config, "--out", d, "--force"]
        cmds = {k: [sys.executable, "-c", v] for k, v in STEPS.items()}
        cmds["simrl run (the quickstart, whole)"] = run
        for i in range(args.repeat):
            load = os.getloadavg()[0]
            for name, cmd in cmds.items():
                c, w = _time(cmd)
                cpu.setdefault(name, []).append(c)
                wall.setdefault(name, []).append(w)
            stamp = time.strftime("%H:%M:%S", time.gmtime())
            print(f"{stamp} round {i + 1}, load before {load:.2f}", flush=True)
    for name in cmds:
        print(
            f"{statistics.median(cpu[name]):6.3f} CPU s {statistics.median(wall[name]):6.3f} wall s"
            f"  {name} (CPU {min(cpu[name]):.3f}-{max(cpu[name]):.3f})"
        )


if __name__ == "__main__":
    main()
