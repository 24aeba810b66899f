"""Where a warm `simrl prereg all` of the demo study goes: CPU (process_time, all threads)
and wall seconds per phase, in one process, on a fresh copy of
experiments/decomposition/demo.toml (kernels cached; docs/performance.md, "The warm path").

    PYTHONPATH=$PWD python3 scripts/warm_phases_demo.py /tmp/demo-copy
"""

from __future__ import annotations

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
    lock.register(str(study))
    mark("register (the rehearsal: the analysis on a synthetic table)")
    run_study(str(study), 1, "local", None, None, None)
    mark("run (cache loads, 48 cells, store writes)")
    a = analyze(str(study))
    mark("analyze")
    figures = report.write_figures

    def timed_figures(a, out):
        mark("write: results parquet")
        paths = figures(a, out)
        mark("write: figures")
        return paths

    report.write_figures = timed_figures
    report.write(a)
    mark("write: verdicts, report.md")
    clock.report()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
