"""Where a warm `simrl prereg all` of the demo study goes: CPU (process_time, all threads)
and wall seconds per phase, in one process, on a fresh copy of
experiments/decomposition/demo.toml (kernels cached; docs/performance.md, "The warm path").

    PYTHONPATH=$PWD python3 scripts/warm_phases_demo.py /tmp/demo-copy [--one-process]

As `simrl prereg all` does, a figure worker (simrl/prereg/figure_worker.py) is forked
after the imports and draws a share of the figures; --one-process draws them all here.
"""

from __future__ import annotations

import resource
import shutil
import sys
from pathlib import Path

from phase_clock import PhaseClock

ROOT = Path(__file__).resolve().parents[1]


def main(study: Path) -> None:
    clock = PhaseClock()
    mark = clock.mark
    shutil.rmtree(study, ignore_errors=True)
    study.mkdir(parents=True)
    shutil.copy(ROOT / "experiments/decomposition/demo.toml", study / "prereg.toml")
    shutil.copy(ROOT / "experiments/decomposition/demo_discussion.md", study / "discussion.md")
    import numpy  # noqa: F401
    import pandas  # noqa: F401

    mark("import numpy, pandas")
    from simrl.prereg import lock, report
    from simrl.prereg.analysis import analyze
    from simrl.prereg.runner import run_study

    mark(
        "import simrl.prereg: lock, runner, analysis, report (scipy.stats, statsmodels, matplotlib)"
    )
    from simrl.prereg import figure_worker

    worker = figure_worker.start() if "--one-process" not in sys.argv else None
    mark(f"start the figure worker ({'none' if worker is None else 'forked'})")
    lock.register(str(study))
    mark("register (the rehearsal: the analysis on a synthetic table)")
    run_study(str(study), 1, "local", None, None, None)
    mark("run (cache loads, 48 cells, store writes)")

    def early(st, table):  # as `simrl prereg all` does (prereg/cli.py _analyze)
        worker.early(report.trajectory_jobs(st, table), st.path)

    a = analyze(str(study), early if worker is not None else None)
    mark("analyze (the worker draws the trajectories meanwhile)")
    figures = report.write_figures

    def timed_figures(a, out, worker):
        mark("write: results parquet")
        paths = figures(a, out, worker)
        mark("write: figures")
        return paths

    report.write_figures = timed_figures
    report.write(a, worker)
    mark("write: verdicts, report.md")
    clock.report()
    if worker is not None:
        worker.close()
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        print(f"{ru.ru_utime + ru.ru_stime:7.3f} CPU s of the figure worker")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
