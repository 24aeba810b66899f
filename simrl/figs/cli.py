"""The `simrl figs` subcommand: every paper figure from stored results (simrl/figs/runner.py)."""

from __future__ import annotations

import argparse
import time


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


def cmd(args: argparse.Namespace) -> int:
    from simrl.figs.runner import run

    t0 = time.perf_counter()
    outcomes = run(only=args.only, compute=args.compute)
    drawn = sum(o.status == "ok" for o in outcomes)
    print(f"{drawn} of {len(outcomes)} figures drawn in {time.perf_counter() - t0:.1f} s")
    return 0
