"""The report's figures as jobs (FigureJob): what `simrl prereg analyze` draws, in the
report's order, and how they are shared with a figure worker (figure_worker.py): split
from report.py, which renders the text around them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from simrl.prereg import plots
from simrl.prereg.analysis import Analysis
from simrl.prereg.study import Study

FIGURES = "figures"


def _numeric_factor(study: Study, exclude: tuple[str, ...] = ()) -> str | None:
    for f in study.factors:
        if f.numeric and f.name not in exclude:
            return f.name
    return None


def _numeric_map(study: Study, name: str | None) -> dict[str, float] | None:
    if name is None or not study.factor(name).numeric:
        return None
    return {lv.label: float(lv.value) for lv in study.factor(name).levels}


@dataclass(frozen=True)
class FigureJob:
    """Figures to draw: `plots.<plot>(*args)` (a figure, or for several files an iterator of
    figures, one per file in order) saved as `files` ((key, file name) pairs); `cost`,
    the panels it draws, shares the jobs between processes (write_figures)."""

    plot: str
    args: tuple
    files: tuple[tuple[str, str], ...]
    cost: int

    def draw(self, out: Path) -> dict[str, str]:
        made = getattr(plots, self.plot)(*self.args)
        figs = made if len(self.files) > 1 else [made]
        paths = {}
        for (key, name), fig in zip(self.files, figs, strict=True):
            paths[key] = _save(fig, out / name, close=False)
        import matplotlib.pyplot as plt

        plt.close(fig)
        return paths


def _hue(study: Study) -> str:
    return study.decomposition.factor if study.decomposition else study.factor_names[0]


def _n_panels(table: pd.DataFrame, by: list[str]) -> int:
    return len(table.groupby(by, observed=True, sort=False)) if by else 1


def trajectory_jobs(study: Study, traj: pd.DataFrame | None) -> list[FigureJob]:
    """The trajectory figures (of the primary metric, and of accuracy), as one job; they
    need only the analysis's trajectories (analysis.analyze's on_trajectories)."""
    metrics = []
    if traj is not None:
        metrics = [c for c in traj.columns if c not in (*study.factor_names, "step")][:2]
    if not metrics:
        return []
    hue = _hue(study)
    keys = ["trajectories" if m == metrics[0] else f"trajectories_{m}" for m in metrics]
    by = [f for f in study.factor_names if f != hue]
    files = tuple((k, f"{k}.png") for k in keys)
    cost = _n_panels(traj, by) * len(metrics)
    if len(metrics) == 1:
        return [FigureJob("plot_trajectories", (traj, metrics[0], hue, by), files, cost)]
    # one figure redrawn per metric
    return [FigureJob("plot_trajectories_each", (traj, metrics, hue, by), files, cost)]


def figure_jobs(a: Analysis) -> list[FigureJob]:
    """The report's figures, as jobs (FigureJob), in the report's order."""
    study = a.study
    jobs = []
    primary = study.primary[0]
    hue = _hue(study)
    x = _numeric_factor(study, (hue,)) or next((f for f in study.factor_names if f != hue), hue)
    panels = [f for f in study.factor_names if f not in (hue, x)]
    args = (a.cell_means, primary, x, hue, panels, _numeric_map(study, x))
    files = (("cells", "cell_means.png"),)
    jobs.append(FigureJob("plot_cell_means", args, files, _n_panels(a.cell_means, panels)))
    if a.decomposition is not None:
        others = [f for f in study.factor_names if f != hue]
        dx = _numeric_factor(study, (hue,)) or others[0]
        by = [f for f in others if f != dx]
        args = (a.decomposition, dx, by, _numeric_map(study, dx))
        files = (("decomposition", "decomposition.png"),)
        jobs.append(FigureJob("plot_decomposition", args, files, _n_panels(a.decomposition, by)))
    jobs += trajectory_jobs(study, a.trajectories)
    ks = sorted(
        int(o.rpartition("_")[2])
        for o in study.outcomes
        if o.startswith("pass_at_") and "@" not in o
    )
    if ks and len(a.cell_means) <= 12:
        args = (a.cell_means, [1, *ks], list(study.factor_names))
        jobs.append(FigureJob("plot_passk", args, (("passk", "passk.png"),), 1))
    if a.trajectories is not None and {"law_a", "law_b"} & set(study.outcomes):
        args = (a.trajectories, list(study.factor_names))
        jobs.append(FigureJob("plot_law", args, (("law", "entropy_law.png"),), 1))
    return jobs


def draw_jobs(jobs: list[FigureJob], out: Path) -> dict[str, str]:
    paths = {}
    for job in jobs:
        paths.update(job.draw(out))
    return paths


def share(jobs: list[FigureJob], ways: int) -> list[list[FigureJob]]:
    """The jobs dealt to `ways` processes, the costliest first, each to the least loaded
    (ties: the lowest index); each part keeps the jobs' order."""
    parts: list[list[int]] = [[] for _ in range(ways)]
    load = [0] * ways
    for i in sorted(range(len(jobs)), key=lambda i: -jobs[i].cost):
        w = load.index(min(load))
        parts[w].append(i)
        load[w] += jobs[i].cost
    return [[jobs[i] for i in sorted(p)] for p in parts]


def write_figures(a: Analysis, out: Path | None = None, worker=None) -> dict[str, str]:
    """Save the figures (into out, default the study's figures/); returns name -> path
    relative to the study. With a `worker` (figure_worker.FigureWorker), the jobs it was
    given already (the trajectories, during the analysis: FigureWorker.early), or else a
    share of the jobs, are drawn there while this process draws the rest; the files are
    the same bytes (tests/prereg/test_figure_worker.py). Where the worker fails, its jobs
    are drawn here."""
    study = a.study
    out = out or study.path / FIGURES
    out.mkdir(parents=True, exist_ok=True)
    jobs = figure_jobs(a)
    order = [key for job in jobs for key, _ in job.files]
    theirs: list[FigureJob] = []
    if worker is not None and worker.jobs:
        theirs = [j for j in worker.jobs if j.files in {job.files for job in jobs}]
    elif worker is not None and len(jobs) > 1:
        theirs, _ = share(jobs, 2)
        worker.submit(theirs, out)
    taken = {j.files for j in theirs}
    paths = draw_jobs([j for j in jobs if j.files not in taken], out)
    if theirs:
        done = worker.result()
        if done is None:
            paths.update(draw_jobs(theirs, out))
        else:
            for key, path in done.items():  # from the worker's own folder, if early
                target = out / Path(path).name
                if Path(path) != target:
                    os.replace(path, target)
                paths[key] = str(target)
    return {k: f"{FIGURES}/{Path(paths[k]).name}" for k in order}


def _save(fig, path: Path, close: bool = True) -> str:
    import matplotlib.pyplot as plt

    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    if close:
        plt.close(fig)
    tmp.replace(path)
    return str(path)
