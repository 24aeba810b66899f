"""The report's figures drawn in two processes (figure_worker.py) are the bytes drawn in
one; the trajectory figures drawn as one redrawn figure are the pixels of fresh ones."""

from __future__ import annotations

import os
import signal
import sys

import numpy as np
import pytest

from simrl.prereg import figure_worker, plots, report
from simrl.prereg.analysis import analyze
from simrl.prereg.lock import register
from simrl.prereg.runner import run_study
from tests.prereg.test_plots_layout import _traj


@pytest.fixture(scope="module")
def analysis(tmp_path_factory):
    from tests.prereg.conftest import write_study

    study = write_study(tmp_path_factory.mktemp("figures"))
    register(study)
    run_study(study)
    return analyze(study)


def _files(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


class Spy:
    """A worker that records what it was given and what it answered."""

    def __init__(self, worker, kill: str = "") -> None:
        self.worker, self.kill = worker, kill
        self.jobs, self.answer = [], None

    def submit(self, jobs, out) -> None:
        self.jobs = jobs
        if self.kill == "dies":  # the worker is gone before it is given its jobs
            self.worker._process.kill()
            self.worker._process.join()
        if self.kill == "hangs":  # alive, never answers (as on a lock copied held)
            os.kill(self.worker._process.pid, signal.SIGSTOP)
        self.worker.submit(jobs, out)

    def result(self):
        self.answer = self.worker.result()
        return self.answer


@pytest.mark.skipif(sys.platform != "linux", reason="the figure worker is forked on Linux only")
@pytest.mark.parametrize(
    "kill", ["", "dies", "hangs"], ids=["worker draws", "worker dies", "worker hangs"]
)
def test_two_processes_write_the_bytes_one_writes(analysis, tmp_path, kill, monkeypatch):
    monkeypatch.setattr(figure_worker, "RESULT_TIMEOUT_S", 2.0)
    one = report.write_figures(analysis, tmp_path / "one")
    with figure_worker.started() as worker:
        assert worker is not None
        spy = Spy(worker, kill)
        two = report.write_figures(analysis, tmp_path / "two", spy)
    assert len(report.figure_jobs(analysis)) >= 2
    assert spy.jobs and len(spy.jobs) < len(report.figure_jobs(analysis))
    if kill:
        assert spy.answer is None  # its share drawn here instead
    else:
        drawn = {key for job in spy.jobs for key, _ in job.files}
        assert spy.answer is not None and set(spy.answer) == drawn
    assert list(two) == list(one)  # the same keys, in the report's order
    assert two == one
    files = _files(tmp_path / "one")
    assert len(files) == len(one)
    assert _files(tmp_path / "two") == files


@pytest.mark.skipif(sys.platform != "linux", reason="the figure worker is forked on Linux only")
def test_trajectories_sent_early_are_the_bytes_one_process_writes(analysis, tmp_path):
    """As `simrl prereg analyze` does: the trajectory figures go to the worker as soon as
    the analysis has their table, into a folder of their own, moved into the report."""
    study = analysis.study.path
    one = report.write_figures(analysis, tmp_path / "one")
    with figure_worker.started() as worker:
        sent = []

        def early(st, table):
            jobs = report.trajectory_jobs(st, table)
            sent.extend(jobs)
            worker.early(jobs, st.path)

        a = analyze(study, early)
        assert [j.plot for j in sent] == ["plot_trajectories_each"]
        assert len(list(study.glob(".figures.*.tmp"))) == 1
        spy = Spy(worker)
        spy.jobs = worker.jobs
        two = report.write_figures(a, tmp_path / "two", spy)
        assert set(spy.answer) == {"trajectories", "trajectories_entropy_mean"}
    assert not list(study.glob(".figures.*.tmp"))  # removed by close()
    assert two == one
    assert _files(tmp_path / "two") == _files(tmp_path / "one")


def test_share_deals_the_costliest_first_to_the_least_loaded():
    jobs = [
        report.FigureJob(f"p{i}", (), ((f"k{i}", f"f{i}.png"),), c)
        for i, c in enumerate([4, 32, 12, 1])
    ]
    theirs, ours = report.share(jobs, 2)
    assert [j.plot for j in theirs] == ["p1"]
    assert [j.plot for j in ours] == ["p0", "p2", "p3"]  # in the jobs' order
    assert report.share(jobs[:1], 2) == [jobs[:1], []]


def _png_pixels(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba()).copy()


@pytest.mark.parametrize("panels", [1, 3, 10])
def test_redrawn_trajectory_figure_has_the_pixels_of_fresh_ones(panels):
    import matplotlib.pyplot as plt

    traj = _traj(panels, 1.0)
    # a second metric on another scale: other y ticks, tick label widths and margins
    traj["entropy_mean"] = 1e-3 * np.arange(len(traj), dtype=float) ** 1.5 - 0.4
    metrics = ["acc", "entropy_mean"]
    fresh = []
    for m in metrics:
        fig = plots.plot_trajectories(traj, m, "reward", ["panel"])
        fresh.append(
            (_png_pixels(fig), {k: getattr(fig.subplotpars, k) for k in plots.SUBPLOT_PARAMS})
        )
        plt.close(fig)
    redrawn = []
    for fig in plots.plot_trajectories_each(traj, metrics, "reward", ["panel"]):
        redrawn.append(
            (_png_pixels(fig), {k: getattr(fig.subplotpars, k) for k in plots.SUBPLOT_PARAMS})
        )
    plt.close(fig)
    assert fresh[0][1] != fresh[1][1]  # the case moves the margins
    for (a, pa), (b, pb) in zip(fresh, redrawn, strict=True):
        assert pa == pb
        assert a.shape == b.shape and np.array_equal(a, b)
