"""`simrl figs`: run every paper_figs/figNN_*.py, report what is missing, write the README.

Each figure script holds `FIGURE` (name, studies, caption) and `main(out, root)`, which
loads stored results (simrl.figs.data), plots (simrl.figs.plots) and saves. A script whose
study has no stored results raises data.MissingResults; this runner prints which study
and the command that produces it, and goes on with the other figures. With
`compute=True` it first runs the missing study at its registered size through the
pre-registration runner (`simrl prereg run` then `analyze`), with progress.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from simrl.errors import ConfigError
from simrl.figs import data
from simrl.figs.style import save, style
from simrl.progress import format_seconds

PAPER_FIGS = Path("paper_figs")
OUT = "out"
#: the figure scripts `simrl figs` runs, by name: a new figure is registered here
REGISTERED = (
    "fig01_entropy_collapse",
    "fig02_first_order",
    "fig03_clipping_bias",
    "fig04_decomposition",
    "fig05_factorial",
    "fig06_spurious",
    "fig07_interventions",
    "fig08_token_entropy",
    "fig09_bridge_vs_sim",
    "fig10_bridge_clipping",
    "fig11_algorithm_zoo",
    "fig12_overlap_spurious",
    "fig13_overlap_entropy",
    "fig14_overlap_calibration",
)


@dataclass(frozen=True)
class Figure:
    """A figure's identity, for the log and the generated README."""

    name: str
    """file stem of the script and of its outputs, e.g. fig01_entropy_collapse"""
    studies: tuple[str, ...]
    """the experiments/<study> folders it reads"""
    caption: str
    """what the reader sees, and where each number comes from"""


@dataclass
class Outcome:
    figure: Figure
    status: str  # "ok" | "missing"
    seconds: float = 0.0
    paths: list[Path] = field(default_factory=list)
    missing: data.MissingResults | None = None


def render(figure: Figure, plot: Callable, *args, out: Path | None = None, **kwargs) -> list[Path]:
    """Plot inside the shared style and save `figure.name`.pdf/.png into out."""
    with style():
        fig, _ = plot(*args, **kwargs)
        return save(fig, out or PAPER_FIGS / OUT, figure.name)


def project_figs() -> Path:
    """The project's registered figure scripts: the checkout's paper_figs/, or the copy a
    wheel ships as package data (simrl.shipped), wherever simrl runs from."""
    from simrl import shipped

    return shipped.paper_figs()


def discover(
    paper_dir: Path | None = None, names: tuple[str, ...] | None = None
) -> dict[str, ModuleType]:
    """Short name (entropy_collapse) -> the imported script, in figure order.

    By default only the registered scripts (REGISTERED, by name) of the project's own
    paper_figs/ are imported: never whatever fig*.py sits in the current folder, since
    importing a script runs it. A caller that passes its own paper_dir (a test, a fork)
    chooses its scripts: `names`, or every figNN_*.py there."""
    if paper_dir is None:
        paper_dir, names = project_figs(), REGISTERED
    paths = (
        [paper_dir / f"{n}.py" for n in names]
        if names is not None
        else sorted(paper_dir.glob("fig[0-9][0-9]_*.py"))
    )
    scripts = {}
    for path in paths:
        if not path.is_file():
            raise ConfigError(
                "paper_figs", str(path), "a registered figure script is missing from the project"
            )
        spec = importlib.util.spec_from_file_location(f"paper_figs_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        scripts[path.stem.split("_", 1)[1]] = module
    if not scripts:
        raise ConfigError("paper_figs", str(paper_dir), "must hold the figure scripts figNN_*.py")
    return scripts


def select(scripts: dict[str, ModuleType], only: str | None) -> dict[str, ModuleType]:
    """--only accepts the short name (entropy_collapse), the stem (fig01_entropy_collapse)
    or the number (fig01, 1)."""
    if only is None:
        return scripts
    for short, module in scripts.items():
        stem = module.FIGURE.name
        if only in (short, stem, stem[:5], stem[3:5], stem[3:5].lstrip("0")):
            return {short: module}
    raise ConfigError("--only", only, "must be one of " + ", ".join(scripts))


def compute_study(study: str, root: Path | None, log: Callable[[str], None]) -> None:
    """Run a study's missing cells at their registered size, then its registered analysis."""
    from simrl.prereg.analysis import analyze
    from simrl.prereg.report import write
    from simrl.prereg.runner import run_study
    from simrl.progress import LazyProgress

    path = data.study_dir(study, root)
    if not (path / "prereg.toml").is_file():
        raise data.MissingResults(study, "no registered study (prereg.toml) to run", "")
    log(f"computing {study}: simrl prereg run {path} (its registered size)")
    with LazyProgress(f"simrl prereg run {study}", unit="runs") as progress:
        rep = run_study(path, progress=progress)
    log(f"  ran {rep.ran_cells} cells ({rep.ran_runs} runs) in {rep.wall_s:.1f} s; analysing")
    write(analyze(path))


def default_out(root: Path | None) -> tuple[Path, bool]:
    """Where `simrl figs` writes without --out, and whether it writes the README there: the
    checkout's paper_figs/out/ (and paper_figs/README.md) when run from the checkout's root
    on its own studies; else runs/figs/ under the current folder, so that a run from any
    other folder, or from an installed wheel, never writes into the source tree or the
    installed package."""
    from simrl import shipped

    here = Path.cwd().resolve()
    in_checkout = (here / PAPER_FIGS).resolve() == project_figs().resolve()
    if in_checkout and not shipped.is_installed(project_figs()):
        if root is None or Path(root).resolve() == (here / data.EXPERIMENTS).resolve():
            return PAPER_FIGS / OUT, True
    return Path("runs") / "figs", False


def run(
    only: str | None = None,
    compute: bool = False,
    paper_dir: Path | None = None,
    root: Path | None = None,
    log: Callable[[str], None] = print,
    out: Path | None = None,
) -> list[Outcome]:
    """Regenerate the selected figures; returns one Outcome each.

    `root` is the experiments folder the studies are read from (default: ./experiments).
    With `paper_dir` (a test, a fork: its own scripts) the figures go to paper_dir/out and
    its README is written; else to `out`, or default_out()'s folder."""
    scripts = select(discover(paper_dir), only)
    if paper_dir is not None:
        out, readme = out or paper_dir / OUT, out is None
    elif out is not None:
        readme = False
    else:
        out, readme = default_out(root)
        paper_dir = project_figs()
    outcomes = []
    start = time.perf_counter()
    for i, module in enumerate(scripts.values()):
        fig = module.FIGURE
        t0 = time.perf_counter()
        if i:  # a line per figure, with the count and an ETA (linear in figures drawn)
            eta = (t0 - start) / i * (len(scripts) - i)
            log(f"[{i + 1}/{len(scripts)}] {fig.name} (ETA {format_seconds(eta)})")
        for attempt in (0, 1):
            try:
                paths = module.main(out=out, root=root)
                outcomes.append(Outcome(fig, "ok", time.perf_counter() - t0, paths))
                log(f"{fig.name}: wrote {', '.join(p.name for p in paths)} "
                    f"({time.perf_counter() - t0:.1f} s)")  # fmt: skip
                break
            except data.MissingResults as e:
                registered = (data.study_dir(e.study, root) / "prereg.toml").is_file()
                if compute and attempt == 0 and registered:
                    compute_study(e.study, root, log)
                    continue
                outcomes.append(Outcome(fig, "missing", time.perf_counter() - t0, missing=e))
                log(f"{fig.name}: not drawn: {e}")
                break
    log(f"figures in {out}")
    if only is None and readme:
        write_readme(outcomes, paper_dir)
        log(f"wrote {paper_dir / 'README.md'}")
    return outcomes


HEADER = """# paper_figs/

Every figure of the paper, regenerated from the stored study results in `experiments/` by
one command (nothing is re-simulated):

```bash
simrl figs                    # all figures into paper_figs/out/ (PDF + PNG) and this README
simrl figs --only fig03       # one figure (number, stem or short name)
simrl figs --out DIR          # into DIR (outside a checkout the default is runs/figs/)
simrl figs --compute          # first run any study with no stored results, at its registered size
python paper_figs/fig01_entropy_collapse.py   # one script on its own
```

Each `figNN_<topic>.py` loads stored results (`simrl/figs/data.py`), calls the pure
`plot_<topic>(data) -> (fig, ax)` of `simrl/figs/plots.py` and saves with the shared
style (`simrl/figs/style.py`: Okabe-Ito colours, one colour per method and per reward in
every figure). Bands and error bars are 95% intervals: t-intervals over seeds, or the
paired bootstrap of `theory/decomposition.py`. This file is generated by `simrl figs`.
"""


def write_readme(outcomes: list[Outcome], paper_dir: Path = PAPER_FIGS) -> Path:
    lines = [HEADER]
    for o in outcomes:
        f = o.figure
        studies = ", ".join(f"[{s}](../experiments/{s}/)" for s in f.studies)
        lines.append(f"## {f.name}\n")
        if o.status == "ok":
            lines.append(f"[![{f.name}]({OUT}/{f.name}.png)]({OUT}/{f.name}.pdf)\n")
        else:
            lines.append(
                f"*Not drawn yet: {o.missing.what} for study `{o.missing.study}`. "
                f"Produce them with `{o.missing.command}`, then `simrl figs --only {f.name[:5]}`.*\n"
            )
        lines.append(f"{f.caption}\n")
        lines.append(f"Study: {studies}. Command: `simrl figs --only {f.name[:5]}` "
                     f"(or `python paper_figs/{f.name}.py`).\n")  # fmt: skip
    path = paper_dir / "README.md"
    path.write_text("\n".join(lines))
    return path
