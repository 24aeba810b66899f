"""`simrl bench --against REV`: this tree's W1 and W2 against a fixed reference revision,
paired in alternating processes.

A regression that a branch shares with its base is invisible in a branch-against-base
bench; timing against a fixed older revision makes it visible (docs/performance.md). The
revision is exported once with `git archive` into a cache folder named by its commit
(`$XDG_CACHE_HOME/simrl/bench-trees/<sha>`, or ~/.cache/...), so its numba cache
survives between invocations. Each pair runs one process per tree, the order alternating
between pairs (so a slow spell of a shared host hits both alike); each process times
workload W1 and W2 (bench.w1_config, w2_config; a revision without them is refused) at
--runs x --steps: a warm-up call, then the best of three `run_batch` calls. One untimed
process per tree first compiles or loads its kernels. The ratio printed per pair is this
tree's time over the reference's (above 1: this tree is slower); the median of the pairs
is the result.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from simrl.errors import ConfigError

#: what each timing process runs (in the tree named by PYTHONPATH): W1 and W2, a warm-up
#: then the best of three calls, wall seconds, one JSON line
WORKER = """
import json, sys, time
from simrl.bench import w1_config, w2_config
from simrl.engine.batch import RunSpec, run_batch
from simrl.tasks import build_task
runs, steps, warm_only = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
out = {}
for name, make in (("W1", w1_config), ("W2", w2_config)):
    cfg = make(runs, steps)
    task = build_task(cfg.task) if name == "W2" else None
    spec = (lambda c, i: RunSpec(c, i, task=task)) if task is not None else RunSpec
    run_batch([spec(make(2, 2), i) for i in range(2)])
    if warm_only:
        continue
    specs = [spec(cfg, i) for i in range(runs)]
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        run_batch(specs)
        best = min(best, time.perf_counter() - t)
    out[name] = best
print(json.dumps(out))
"""


def this_tree() -> Path:
    """The checkout this simrl runs from (its package's parent folder)."""
    import simrl

    return Path(simrl.__file__).resolve().parent.parent


def resolve(rev: str, repo: Path) -> str:
    """REV's full commit id in repo's git history; one-line ConfigError if there is none."""
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        out = None
    if out is None or out.returncode != 0:
        raise ConfigError("--against", rev, f"a git revision of the checkout at {repo}")
    return out.stdout.strip()


def reference_tree(sha: str, repo: Path) -> Path:
    """The revision's files, exported once into the cache folder (atomically: into a
    temporary folder beside it, then renamed)."""
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "simrl" / "bench-trees"
    dest = base / sha
    if dest.is_dir():
        return dest
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=base, prefix=f".{sha[:12]}-"))
    with tempfile.TemporaryFile() as f:
        subprocess.run(["git", "-C", str(repo), "archive", sha], stdout=f, check=True)
        f.seek(0)
        with tarfile.open(fileobj=f) as tar:
            tar.extractall(tmp, filter="data")
    try:
        tmp.rename(dest)
    except OSError:  # another process exported it first
        pass
    return dest


def time_tree(tree: Path, runs: int, steps: int, warm_only: bool = False) -> dict:
    """One timing process in `tree` (see WORKER)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    p = subprocess.run(
        [sys.executable, "-c", WORKER, str(runs), str(steps), "1" if warm_only else "0"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if p.returncode != 0:
        tail = (p.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"the timing process in {tree} failed: {tail}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def run_bench_against(
    rev: str, runs: int, steps: int, pairs: int, console: Console | None = None
) -> dict:
    """W1 and W2 of this tree against revision `rev`, `pairs` alternating pairs of
    processes; returns each pair's times and the median ratios (this / reference)."""
    console = console or Console()
    here = this_tree()
    sha = resolve(rev, here)
    ref = reference_tree(sha, here)
    from simrl.bench import host_line

    console.print(host_line())
    console.print(f"reference {rev} = {sha[:12]} in {ref}; this tree {here}")
    for tree in (here, ref):  # compile or load each tree's kernels, untimed
        time_tree(tree, runs, steps, warm_only=True)
    rows = []
    for i in range(pairs):
        order = (("this", here), ("ref", ref)) if i % 2 == 0 else (("ref", ref), ("this", here))
        got = {name: time_tree(tree, runs, steps) for name, tree in order}
        rows.append(got)
    table = Table(title=f"simrl bench --against {rev}: {runs} runs x {steps} steps, {pairs} pairs")
    for col in (
        "pair",
        "order",
        "W1 this s",
        "W1 ref s",
        "W1 ratio",
        "W2 this s",
        "W2 ref s",
        "W2 ratio",
    ):
        table.add_column(col, justify="right")
    ratios = {"W1": [], "W2": []}
    for i, got in enumerate(rows):
        cells = [str(i + 1), "this, ref" if i % 2 == 0 else "ref, this"]
        for w in ("W1", "W2"):
            r = got["this"][w] / got["ref"][w]
            ratios[w].append(r)
            cells += [f"{got['this'][w]:.3f}", f"{got['ref'][w]:.3f}", f"{r:.2f}"]
        table.add_row(*cells)
    console.print(table)
    med = {w: statistics.median(v) for w, v in ratios.items()}
    console.print(
        f"median time ratio this / {rev}: W1 {med['W1']:.2f}, W2 {med['W2']:.2f} "
        "(above 1: this tree is slower)"
    )
    console.print(host_line().replace("host:", "after the bench:", 1))
    return {"sha": sha, "pairs": rows, "ratios": ratios, "median": med}
