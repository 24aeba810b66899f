"""A second process that draws report figures (report.write_figures) while this one goes
on, so that on a machine with two or more cores the figures of `simrl prereg all` and
`simrl prereg analyze` cost the command little wall time (docs/performance.md, "The warm
path").

The worker is forked when the command starts: after the figures' libraries (matplotlib,
pandas) are imported, so it imports nothing itself, and before the engine's thread pool
(engine/threads.py), numba's threading layer or the progress heartbeat thread exist, so
that no other thread's lock is copied into it held. It waits on a pipe (no CPU) until it
is sent jobs, draws them with the same code and the same matplotlib state as this process
would (the PNGs are the same bytes: tests/prereg/test_figure_worker.py), and answers with
the paths. The trajectory figures are sent as soon as the analysis has their table
(analysis.analyze's on_trajectories), so they are drawn while the analysis goes on; else
the report deals the worker a share of all the figures.

Only on Linux (fork: the platform's default start method through Python 3.13) and where
this process may use two cores or more; elsewhere, and where the fork fails, there is no
worker and every figure is drawn in the one process. Where the worker dies or a job raises
there, the report draws those figures itself (so an error is raised here, with its
traceback).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

#: seconds to wait for the worker's figures (a report's four take ~2 s of one core)
RESULT_TIMEOUT_S = 300.0


class FigureWorker:
    def __init__(self, process, conn) -> None:
        self._process = process
        self._conn = conn
        self._sent = False
        self._folders: list[Path] = []
        self.jobs: list = []  # submitted, not yet answered

    def submit(self, jobs: list, out: Path) -> None:
        """Send jobs (report.FigureJob) to draw into the folder out; one batch at a time."""
        self.jobs = jobs
        try:
            self._conn.send((jobs, str(out)))
            self._sent = True
        except OSError:  # the worker is gone: result() answers None
            self._sent = False

    def early(self, jobs: list, study: Path) -> None:
        """Submit jobs before the report's folder exists: they are drawn into a temporary
        folder inside the study (so that report.write_figures moves them into the report
        by a rename), removed by close()."""
        if not jobs:
            return
        folder = Path(tempfile.mkdtemp(dir=study, prefix=".figures.", suffix=".tmp"))
        self._folders.append(folder)
        self.submit(jobs, folder)

    def result(self, timeout: float | None = None) -> dict[str, str] | None:
        """The paths the submitted jobs wrote (key -> path), or None where the worker
        failed (died, a job raised there, or no answer within `timeout` seconds,
        RESULT_TIMEOUT_S by default: a worker that hangs, e.g. on a lock copied held by
        the fork, is then stopped and the report draws its figures itself)."""
        self.jobs = []
        if not self._sent:
            return None
        self._sent = False
        try:
            if not self._conn.poll(RESULT_TIMEOUT_S if timeout is None else timeout):
                self._process.kill()  # SIGKILL: also ends a stopped process
                return None
            ok, value = self._conn.recv()
        except (EOFError, OSError):
            return None
        return value if ok else None

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._conn.send(None)
        self._conn.close()
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=5)
        if self._process.is_alive():  # a stopped or hung worker ignores SIGTERM
            self._process.kill()
            self._process.join()
        for folder in self._folders:
            shutil.rmtree(folder, ignore_errors=True)


def start() -> FigureWorker | None:
    """A forked figure worker, or None where there is none (see the module docstring).
    Call before any thread of the command starts."""
    if sys.platform != "linux" or len(os.sched_getaffinity(0)) < 2:
        return None  # not Linux, or one core: the figures drawn in one process
    import matplotlib.pyplot  # noqa: F401  (imported here, not in the worker)

    import simrl.prereg.report  # noqa: F401

    ctx = multiprocessing.get_context("fork")
    ours, theirs = ctx.Pipe()
    process = ctx.Process(target=_serve, args=(theirs, ours), name="simrl-figures", daemon=True)
    try:
        with warnings.catch_warnings():  # Python 3.12+ warns of a fork beside threads: the
            # BLAS library's idle ones (the worker never calls into BLAS's thread pool)
            warnings.simplefilter("ignore", DeprecationWarning)
            process.start()
    except OSError:
        ours.close()
        theirs.close()
        return None
    theirs.close()
    return FigureWorker(process, ours)


@contextlib.contextmanager
def started(enabled: bool = True) -> Iterator[FigureWorker | None]:
    """start() (when enabled) for the block, closed when it ends."""
    worker = start() if enabled else None
    try:
        yield worker
    finally:
        if worker is not None:
            worker.close()


def _serve(conn, parent_end) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    parent_end.close()  # so that the parent's death reads as EOF here
    from simrl.prereg.report_figures import draw_jobs

    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        jobs, out = msg
        try:
            answer = (True, draw_jobs(jobs, Path(out)))
        except Exception as e:  # the parent draws these jobs again, and raises there
            answer = (False, repr(e))
        try:
            conn.send(answer)
        except OSError:  # the parent stopped listening (it failed, or is closing)
            return
