"""The `simrl figs` subcommand: every paper figure from stored results (simrl/figs/runner.py)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def add_parser(sub, parser_class) -> None:
    figs = sub.add_parser(
        "figs", help="regenerate the paper's figures from stored study results (paper_figs/)"
    )
    figs.add_argument(
        "--only", default=None, metavar="NAME", help="one figure: fig03, 3, the stem or short name"
    )
    figs.add_argument(
        "--compute",
        action="store_true",
        help="run studies with no stored results first, at their registered size",
    )
    figs.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for the PDFs and PNGs (default: paper_figs/out/ at a checkout's root, "
        "else runs/figs/)",
    )
    figs.add_argument(
        "--root",
        type=Path,
        default=None,
        help="the project whose experiments/ to read (default: the current folder's, else "
        "the studies shipped with simrl)",
    )


def cmd(args: argparse.Namespace) -> int:
    from simrl import shipped
    from simrl.errors import ConfigError
    from simrl.figs.runner import run

    project = shipped.project(args.root)
    if args.compute and not project.own:
        raise ConfigError(
            "--compute",
            True,
            f"writes results into a project: pass --root DIR (the shipped studies in "
            f"{project.experiments} are read-only)",
        )
    t0 = time.perf_counter()
    outcomes = run(only=args.only, compute=args.compute, root=project.experiments, out=args.out)
    drawn = sum(o.status == "ok" for o in outcomes)
    print(f"{drawn} of {len(outcomes)} figures drawn in {time.perf_counter() - t0:.1f} s")
    return 0
