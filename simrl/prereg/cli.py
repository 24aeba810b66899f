"""The `simrl prereg` subcommands: register, run, all (register if not yet, run, analyze),
verify, analyze."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def add_parser(sub, parser_class) -> None:
    prereg = sub.add_parser(
        "prereg", help="pre-registered factorial studies: register, run, analyze"
    )
    psub = prereg.add_subparsers(dest="prereg_command", required=True, parser_class=parser_class)
    reg = psub.add_parser(
        "register", help="lock a study's prereg.toml (sha256, version, commit, time)"
    )
    reg.add_argument("study", help="a folder with prereg.toml, or a name under experiments/")
    reg.add_argument(
        "--root", default=None, metavar="DIR", help="find a study name under DIR/experiments/"
    )
    reg.add_argument(
        "--amend",
        metavar="REASON",
        default=None,
        help="record a change to a registered spec as a deviation (reason, time, diff)",
    )
    run = psub.add_parser("run", help="run the missing cells of a registered study")
    _run_arguments(run, dry_run=True)
    every = psub.add_parser(
        "all",
        help="register (if not yet), run the missing cells and analyze, in one process",
    )
    _run_arguments(every, dry_run=False)
    ver = psub.add_parser(
        "verify", help="check a whole study: spec, lock (against git), every cell, the report"
    )
    ver.add_argument("study", help="a folder with prereg.toml, or a name under experiments/")
    ver.add_argument(
        "--root", default=None, metavar="DIR", help="find a study name under DIR/experiments/"
    )
    ver.add_argument(
        "--recompute",
        action="store_true",
        help="recompute stored cells with the code now and compare them bitwise",
    )
    ver.add_argument(
        "--sample", type=int, default=None, metavar="N", help="with --recompute: N cells only"
    )
    ana = psub.add_parser("analyze", help="run the registered analysis; write report.md")
    ana.add_argument("study", help="a folder with prereg.toml, or a name under experiments/")
    ana.add_argument(
        "--root", default=None, metavar="DIR", help="find a study name under DIR/experiments/"
    )


def _run_arguments(run, dry_run: bool) -> None:
    """The options of `prereg run` (and of `prereg all`, without --dry-run)."""
    run.add_argument("study", help="a folder with prereg.toml, or a name under experiments/")
    run.add_argument(
        "--root", default=None, metavar="DIR", help="find a study name under DIR/experiments/"
    )
    if dry_run:
        run.add_argument(
            "--dry-run",
            action="store_true",
            help="print cells, runs and a measured time estimate (numba compile included)",
        )
    run.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    run.add_argument(
        "--executor", choices=("local", "ray"), default="local", help="where units run"
    )
    run.add_argument(
        "--address", default=None, help="Ray cluster address (default: a local instance)"
    )
    run.add_argument(
        "--runs-per-unit",
        type=int,
        default=None,
        help="most runs per engine call (default 2048; smaller units resume finer)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument(
        "--max-memory",
        default=None,
        metavar="SIZE",
        help="refuse a grid whose estimated peak memory exceeds SIZE (default: available)",
    )
    run.add_argument("--force", action="store_true", help="allow more --workers than cores")


def cmd(args: argparse.Namespace) -> int:
    from simrl.prereg.spec import resolve, resolve_writable

    # a wrong path answers before numba, statsmodels and matplotlib load; a name becomes
    # its folder (under --root's experiments/, the current folder's, or, to read only, the
    # shipped studies)
    find = resolve if args.prereg_command == "verify" else resolve_writable
    path = find(args.study, args.root)
    if path not in (Path(args.study), Path("experiments") / args.study):
        args.study = str(path)  # under --root, or shipped: the commands below get the folder
    if args.prereg_command == "all":
        from simrl.prereg.lock import LOCK_FILE

        _run_limit(args)  # bad options answer before the study is registered
        from simrl.prereg import figure_worker

        # forked before the run starts any thread; it draws half the figures at the end
        with figure_worker.started() as worker:
            if not (Path(args.study) / LOCK_FILE).is_file():
                _register(args.study)
            _run(args)
            return _analyze(args.study, not args.quiet, worker)
    if args.prereg_command == "register":
        from simrl.prereg.lock import amend

        if args.amend is not None:
            lock = amend(args.study, args.amend)
            am = lock["amendments"][-1]
            print(
                f"amended {lock['study']}: sha256 {am['previous_sha256'][:12]} -> "
                f"{am['spec_sha256'][:12]} ({am['reason']})"
            )
        else:
            _register(args.study)
        return 0
    if args.prereg_command == "verify":
        if args.sample is not None and args.sample < 1:
            from simrl.errors import ConfigError

            raise ConfigError("--sample", args.sample, "must be an integer >= 1")
        from simrl.prereg.lock_checks import FAILED
        from simrl.prereg.verify import summary, verify

        checks = verify(args.study, args.recompute, args.sample)
        print(f"{args.study}: {summary(checks)}")
        return 1 if any(c.status == FAILED for c in checks) else 0
    if args.prereg_command == "run":
        return _run(args)
    from simrl.prereg import figure_worker

    with figure_worker.started() as worker:
        return _analyze(args.study, False, worker)


def _register(study: str) -> None:
    from simrl.prereg.lock import register

    lock = register(study)
    print(
        f"registered {lock['study']}: sha256 {lock['spec_sha256'][:12]}, "
        f"simrl {lock['simrl_version']}, commit {lock['git_commit'][:12]}, {lock['registered_utc']}"
    )


def _run_limit(args: argparse.Namespace) -> int | None:
    """Check the run options (one line, exit 2, before any work); the --max-memory bytes."""
    from simrl import memory
    from simrl.errors import ConfigError

    if args.workers < 1:
        raise ConfigError("--workers", args.workers, "must be an integer >= 1")
    memory.cap_workers(args.workers, args.force)
    if args.runs_per_unit is not None and args.runs_per_unit < 1:
        raise ConfigError("--runs-per-unit", args.runs_per_unit, "must be an integer >= 1")
    return None if args.max_memory is None else memory.parse_size(args.max_memory)


def _run(args: argparse.Namespace) -> int:
    from simrl import memory
    from simrl.prereg.runner import dry_run, run_study

    limit = _run_limit(args)
    if getattr(args, "dry_run", False):
        d = dry_run(args.study, args.workers, limit=limit)
        print(
            f"memory: estimated peak {memory.gib(d.memory)}, available {memory.gib(d.available)}"
            + (f", --max-memory {memory.gib(limit)}" if limit is not None else "")
        )
        from simrl.engine.compile_cost import estimate_phrase

        print(
            f"{d.cells} cells, {d.runs} runs; stored {d.stored} cells; to run {d.missing_cells} "
            f"cells = {d.missing_runs} runs ({d.run_steps} run-steps) in {d.units} engine calls; "
            + (
                f"{d.checkpointed} finished seeds read back from results/partial; "
                if d.checkpointed
                else ""
            )
            + estimate_phrase(d.estimate_s, d.compile_s, d.compile_note, args.workers, True)
        )
        return 0
    from simrl.progress import LazyProgress

    with LazyProgress(
        f"simrl prereg run {args.study}", enabled=not args.quiet, unit="runs"
    ) as progress:
        rep = run_study(
            args.study, args.workers, args.executor, args.address, progress,
            args.runs_per_unit, max_memory=limit,
        )  # fmt: skip
    print(
        f"{rep.cells} cells ({rep.runs} runs): {rep.stored_before} already stored, ran "
        f"{rep.ran_cells} cells ({rep.ran_runs} runs) in {rep.units} engine calls, {rep.wall_s:.1f} s"
    )
    if rep.set_aside:
        print(
            f"set aside {rep.set_aside} stored cells (named above) and recomputed them; "
            f"{len(rep.differ)} differ bitwise from the set-aside files"
        )
    return 0


def _analyze(study: str, progress: bool, worker=None) -> int:
    """Analyze and write the report (a share of the figures drawn by `worker`, if any:
    figure_worker.py); with `progress`, a heartbeat line every 30 s in a log (the analysis
    reports no counts: the line says it is still going)."""
    from contextlib import nullcontext

    from simrl.prereg.analysis import analyze
    from simrl.prereg.report import trajectory_jobs, write
    from simrl.progress import LazyProgress

    t0 = time.perf_counter()
    beat = LazyProgress(f"simrl prereg analyze {study}") if progress else nullcontext()

    def early(st, table) -> None:  # drawn by the worker while the analysis goes on
        worker.early(trajectory_jobs(st, table), st.path)

    with beat:
        a = analyze(study, early if worker is not None else None)
        path = write(a, worker)
    for hr in a.hypotheses:
        r = hr.result
        print(f"{hr.hypothesis.id}: {r.verdict} (estimate {r.estimate:.4g}, p adj {r.p_adj:.3g})")
    print(f"wrote {path} ({time.perf_counter() - t0:.1f} s)")
    figures = sorted((path.parent / "figures").glob("*.png"))
    if figures:
        print(f"figures: {len(figures)} in {path.parent / 'figures'}")
    return 0
