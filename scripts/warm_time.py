"""Time warm commands as whole processes: CPU seconds (user + sys of the process and its
children, from wait4's rusage), wall seconds and the load average before each run; the
trees given alternate, one process each, and the medians are printed last
(docs/performance.md, "The warm path").

    python3 scripts/warm_time.py demo  --repeat 5 TREE [TREE ...]
    python3 scripts/warm_time.py quick --repeat 5 TREE [TREE ...]

`demo`: `simrl prereg all` on a fresh copy of experiments/decomposition/demo.toml (what
`make demo` runs; the copy is made under /tmp, outside git, before the clock starts);
`quick`: `simrl run simrl/examples/quickstart.toml --out DIR --force`. Each TREE is a
checkout with warm kernel caches; it runs with PYTHONPATH=TREE and its own spec files.
NUMBA_NUM_THREADS is left as the caller set it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _command(kind: str, tree: Path, work: Path) -> list[str]:
    if kind == "demo":
        study = work / "demo"
        shutil.rmtree(study, ignore_errors=True)
        study.mkdir(parents=True)
        shutil.copy(tree / "experiments/decomposition/demo.toml", study / "prereg.toml")
        shutil.copy(tree / "experiments/decomposition/demo_discussion.md", study / "discussion.md")
        return [sys.executable, "-m", "simrl", "prereg", "all", str(study), "--quiet"]
    out = work / "quick"
    quick = str(tree / "simrl/examples/quickstart.toml")
    return [sys.executable, "-m", "simrl", "run", quick, "--out", str(out), "--force"]


def _time(cmd: list[str], tree: Path) -> tuple[float, float, float, int]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    load = os.getloadavg()[0]
    w = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - w
    err = proc.stderr.read().decode() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err}")
    return ru.ru_utime + ru.ru_stime, wall, load, proc.returncode


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=("demo", "quick"))
    p.add_argument("trees", nargs="+", type=Path)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    cpu: dict[Path, list[float]] = {t: [] for t in args.trees}
    wall: dict[Path, list[float]] = {t: [] for t in args.trees}
    with tempfile.TemporaryDirectory(prefix="warm_time-") as d:
        for i in range(args.repeat):
            for tree in args.trees:
                work = Path(d) / f"{tree.name}-{i}"
                cmd = _command(args.kind, tree.resolve(), work)
                c, w, load, _ = _time(cmd, tree.resolve())
                cpu[tree].append(c)
                wall[tree].append(w)
                stamp = time.strftime("%H:%M:%S", time.gmtime())
                print(
                    f"{stamp} load {load:5.2f}  {tree}: {c:6.2f} CPU s {w:6.2f} wall s", flush=True
                )
                shutil.rmtree(work, ignore_errors=True)
    for tree in args.trees:
        print(
            f"median {tree}: {statistics.median(cpu[tree]):6.2f} CPU s "
            f"{statistics.median(wall[tree]):6.2f} wall s (n={len(cpu[tree])}; "
            f"CPU {min(cpu[tree]):.2f}-{max(cpu[tree]):.2f})"
        )


if __name__ == "__main__":
    main()
