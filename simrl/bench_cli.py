"""`simrl bench`'s command: the checks of its arguments (one line, exit 2, before any
work), then the full bench (bench.run_bench), one loss (--loss: bench.run_bench_loss), the
linear policy (--linear: bench.run_bench_linear) or a fixed revision (--against:
bench_against.run_bench_against)."""

from __future__ import annotations

import argparse

from simrl.errors import ConfigError


def cmd_bench(args: argparse.Namespace) -> int:
    if args.loss is not None:  # before the engine loads
        from simrl.algorithms.losses import POLICY_LOSSES

        if args.loss not in POLICY_LOSSES:
            raise ConfigError(
                "--loss", args.loss, "a policy loss: one of " + ", ".join(POLICY_LOSSES.names)
            )
    only = parse_only(args.only)  # before the engine loads
    from simrl.bench import run_bench

    for name in ("runs", "steps", "baseline_runs", "repeats", "pairs"):
        if getattr(args, name) < 1:
            raise ConfigError(
                f"--{name.replace('_', '-')}", getattr(args, name), "must be an integer >= 1"
            )
    if args.against is not None:
        from simrl.bench_against import resolve, run_bench_against, this_tree

        resolve(args.against, this_tree())  # a bad revision: one line, before any work
        run_bench_against(args.against, args.runs, args.steps, args.pairs)
        return 0
    if args.linear:
        from simrl.bench_linear import run_bench_linear

        run_bench_linear(args.runs, args.steps, args.repeats)
        return 0
    if args.loss is not None:
        from simrl.bench import run_bench_loss

        run_bench_loss(args.loss, args.runs, args.steps, args.repeats)
        return 0
    from simrl.progress import LazyProgress

    with LazyProgress("simrl bench", unit="timed phases") as progress:
        run_bench(
            args.runs, args.steps, args.baseline_runs, args.repeats, progress=progress,
            only=only,
        )  # fmt: skip
    return 0


def parse_only(text: str | None) -> tuple[str, ...]:
    """--only's comma-separated parts of the full bench (bench.PARTS), in PARTS' order."""
    from simrl.bench import PARTS

    if text is None:
        return tuple(PARTS)
    asked = [p.strip().lower() for p in text.split(",") if p.strip()]
    bad = [p for p in asked if p not in PARTS]
    if bad or not asked:
        raise ConfigError("--only", text, "comma-separated parts of: " + ", ".join(PARTS))
    return tuple(p for p in PARTS if p in asked)
