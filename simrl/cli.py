"""The `simrl` command line.

    simrl run CONFIG.toml [--set section.field=value ...] [--recipe NAME] [--out DIR [--force]]
              [--engine fast|reference] [--task FILE.py:FUNCTION] [--max-memory SIZE]
              [--log tensorboard] [--dry-run]
    simrl plot RUN_DIR [--out FILE.png]
    simrl recipes [NAME]
    simrl bench [--runs R] [--steps T] [--baseline-runs N] [--loss NAME] [--linear]
                [--against REV] [--only w1,w2,peer,linear]
    simrl theory check [--cases N] [--seed S]
    simrl theory audit [--out DIR] [--seeds N] [--steps T]
    simrl bridge pretrain [--prior-mix X] [--config CONFIG.toml] [--force]
    simrl bridge run CONFIG.toml [--set section.field=value ...] [--model PATH]
              [--device auto|cpu|cuda] [--out DIR] [--threads N] [--task FILE.py:FUNCTION]
              [--checkpoints] [--log tensorboard]
    simrl prereg register STUDY [--amend REASON]
    simrl prereg run STUDY [--dry-run] [--workers N [--force]] [--executor local|ray]
              [--address A] [--max-memory SIZE]
    simrl prereg verify STUDY [--recompute [--sample N]]
    simrl prereg analyze STUDY
    simrl prereg all STUDY [--workers N [--force]] [--max-memory SIZE]
    simrl reaudit [--dir experiments/reaudits] [--root DIR] [--out DIR]
    simrl figs [--only NAME] [--compute] [--out DIR] [--root DIR]
    simrl fields [SECTION]
    simrl --version

Bad input prints one line (the field, the value, what is allowed) and exits with code 2;
a run-time fault (a non-finite value, naming the run and step; a full disk; a read-only
folder) prints one line, exit 3; Ctrl-C prints one line, exit 130. tests/corpus/ holds
the bad inputs that keep it so.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from simrl._version import __version__
from simrl.errors import ConfigError, NonFiniteError

EXIT_BAD_INPUT = 2
#: a run-time fault: a non-finite value, a full disk, a read-only folder, memory
EXIT_NONFINITE = 3
#: Ctrl-C (128 + SIGINT, as a shell reports it)
EXIT_INTERRUPTED = 130


def _first_line(e: BaseException) -> str:
    text = getattr(e, "strerror", None) or str(e)
    return text.splitlines()[0] if text else ""


class DefaultsFormatter(argparse.HelpFormatter):
    """--help shows each option's default, where it has one and its help does not say it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            action.option_strings
            and default not in (None, False, argparse.SUPPRESS, [])
            and "default" not in text
        ):
            text += " (default: %(default)s)"
        return text


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2; --help shows
    defaults (DefaultsFormatter)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"simrl: {message} (see {self.prog} --help)\n")
        raise SystemExit(EXIT_BAD_INPUT)


def add_log_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--log",
        choices=("tensorboard",),
        default=None,
        help="also write the metrics as TensorBoard scalars into OUT/tensorboard/seed_<i> "
        "(offline; no tensorboard install needed to write)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="simrl", description="Exact, batched tabular simulation of RLVR (GRPO and kin)."
    )
    parser.add_argument("--version", action="version", version=f"simrl {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    run = sub.add_parser("run", help="simulate one config over run.seeds replicates")
    run.add_argument("config", type=Path, help="TOML config (see simrl/examples/)")
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="override a config field (repeatable), e.g. --set optim.lr=0.1",
    )
    run.add_argument(
        "--recipe",
        default=None,
        metavar="NAME",
        help="a published recipe's settings for the fields the config and --set leave unset "
        "(same as --set algo.recipe=NAME; see simrl recipes)",
    )
    run.add_argument(
        "--out", type=Path, default=None, help="output folder (default: runs/<config name>)"
    )
    run.add_argument(
        "--engine",
        choices=("fast", "reference"),
        default="fast",
        help="numba fast path (default) or the numpy reference",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar or summary table")
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="print the memory and a measured time estimate (compile included); write nothing",
    )
    add_log_argument(run)
    run.add_argument(
        "--force", action="store_true", help="replace an existing, non-empty --out folder"
    )
    run.add_argument(
        "--max-memory",
        default=None,
        metavar="SIZE",
        help="refuse a run whose estimated peak memory exceeds SIZE (default: available memory)",
    )
    run.add_argument(
        "--task",
        default=None,
        metavar="FILE.py:FUNCTION",
        help="a custom sequence task: FUNCTION(config) returns a SequenceTask "
        "(see simrl/examples/custom_sequence.py); the config needs task.kind = 'sequence'",
    )

    recipes = sub.add_parser(
        "recipes", help="list the published recipes (algo.recipe), or show one with its sources"
    )
    recipes.add_argument("name", nargs="?", default=None, help="a recipe to show")

    plot = sub.add_parser(
        "plot", help="draw a run's curves (accuracy, entropy, dH) with bands over seeds (PNG)"
    )
    plot.add_argument("run_dir", type=Path, help="a folder written by simrl run / bridge run")
    plot.add_argument(
        "--out", type=Path, default=None, help="PNG file to write (default RUN_DIR/curves.png)"
    )

    bench = sub.add_parser("bench", help="measure sampled answers per second on workload W1")
    bench.add_argument("--runs", type=int, default=256, help="runs in the batch (W1: 256)")
    bench.add_argument("--steps", type=int, default=200, help="steps per run (W1: 200)")
    bench.add_argument(
        "--baseline-runs",
        type=int,
        default=8,
        help="runs timed for the per-run numpy baseline (its rate is per answer)",
    )
    bench.add_argument(
        "--loss",
        default=None,
        metavar="NAME",
        help="time W1 with this policy loss, paired with the default loss (and W2 for a "
        "per-response loss), instead of the full bench",
    )
    bench.add_argument(
        "--linear",
        action="store_true",
        help="time W1 with a linear policy (d = 16), paired with the tabular W1, instead of "
        "the full bench",
    )
    bench.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="timed repeats of the simrl engine (best is reported)",
    )
    bench.add_argument(
        "--against",
        default=None,
        metavar="REV",
        help="time W1 and W2 of this checkout against git revision REV (exported once to a "
        "cache folder), in alternating processes, instead of the full bench",
    )
    bench.add_argument(
        "--pairs", type=int, default=4, help="alternating process pairs of --against"
    )
    bench.add_argument(
        "--only",
        default=None,
        metavar="PARTS",
        help="run only these parts of the full bench, comma-separated: w1 (with its speed "
        "of light and run.audit), w2 (with its speed of light), peer, linear",
    )

    theory = sub.add_parser(
        "theory", help="check theory/'s closed forms; audit the entropy-change approximations"
    )
    tsub = theory.add_subparsers(dest="theory_command", required=True, parser_class=OneLineParser)
    check = tsub.add_parser(
        "check", help="run every closed-form identity on random cases; pass/fail table"
    )
    check.add_argument("--cases", type=int, default=200, help="random cases per identity")
    check.add_argument("--seed", type=int, default=0, help="seed of the random cases")
    audit = tsub.add_parser(
        "audit", help="the entropy-change audit grid: residuals of each approximation"
    )
    audit.add_argument("--out", type=Path, default=Path("runs/theory-audit"), help="output folder")
    audit.add_argument("--seeds", type=int, default=8, help="runs per grid cell")
    audit.add_argument("--steps", type=int, default=25, help="steps per run")

    from simrl.prereg.cli import add_parser as add_prereg

    add_prereg(sub, OneLineParser)
    reaudit = sub.add_parser(
        "reaudit", help="decompose published results and hold published claims against the studies"
    )
    reaudit.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="folder with published.csv and claims.csv (studies are read from its parent; "
        "default: the project's experiments/reaudits)",
    )
    reaudit.add_argument(
        "--root",
        type=Path,
        default=None,
        help="the project whose experiments/ to read (default: the current folder's, else "
        "the studies shipped with simrl)",
    )
    reaudit.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for report.md (default: the --dir folder in your project, else runs/reaudit/)",
    )
    from simrl.bridge.cli import add_parser as add_bridge

    add_bridge(sub, OneLineParser)
    from simrl.figs.cli import add_parser as add_figs

    add_figs(sub, OneLineParser)
    from simrl.fields import add_parser as add_fields

    add_fields(sub, OneLineParser)
    return parser


def cmd_theory(args: argparse.Namespace) -> int:
    if args.theory_command == "check":
        from simrl.theory_check import main as check_main

        _positive(args, "cases")
        return check_main(args.cases, args.seed)
    from rich.console import Console

    from simrl.approximation_grid import main as grid_main
    from simrl.progress import LazyProgress

    _positive(args, "seeds", "steps")
    with LazyProgress("simrl theory audit") as progress:
        grid_main(args.out, args.seeds, args.steps, progress)
    Console().print(f"wrote {args.out}/report.md, summary.parquet, summary.csv, points.parquet")
    return 0


def _positive(args: argparse.Namespace, *names: str) -> None:
    for name in names:
        if getattr(args, name) < 1:
            raise ConfigError(
                f"--{name.replace('_', '-')}", getattr(args, name), "must be an integer >= 1"
            )


def cmd_run(args: argparse.Namespace) -> int:
    from simrl import memory
    from simrl.config import Config, parse_override
    from simrl.examples_path import example
    from simrl.io import check_out, read_toml

    args.config = example(args.config)  # simrl/examples/X.toml or a bare name: the shipped one
    overrides = dict(parse_override(o) for o in args.overrides)
    if args.recipe is not None:
        overrides["algo.recipe"] = args.recipe
    read_toml(args.config)  # unreadable, non-UTF-8 or invalid TOML: one line, before the rest
    config = Config.from_toml(args.config, overrides)
    limit = None if args.max_memory is None else memory.parse_size(args.max_memory)
    need = memory.estimate(config)
    memory.check(need, limit, f"{args.config} ({config.run.seeds} seeds)")
    out = args.out or Path("runs") / args.config.stem
    if not args.dry_run:
        check_out(out, args.force)
    task = load_task(args.task, config) if args.task else None
    if args.dry_run:
        from simrl.dry_run import dry_run_lines

        print("\n".join(dry_run_lines(config, args.engine, need, limit, task)))
        return 0

    from simrl.io import atomic_dir
    from simrl.progress import LazyProgress
    from simrl.simulate import simulate  # numba and pandas: after the checks
    from simrl.tasks.family import family

    with LazyProgress(f"simrl run {args.config.name}", enabled=not args.quiet) as progress:
        result = simulate(config, engine=args.engine, progress=progress, task=task)
    with atomic_dir(out, args.force) as tmp:
        result.save(tmp)
        if args.log == "tensorboard":
            from simrl.tblog import write_metrics

            write_metrics(tmp / "tensorboard", result.metrics)
    if args.quiet:
        return 0
    from simrl.summary import console, print_summary, summary_columns

    passk = [f"pass_at_{k}" for k in config.run.passk if k > 1]
    extra = family(config.task.kind).summary_columns(config, list(result.final.columns))
    ok = result.final.loc[result.final["failed_step"] < 0, "seed"]
    failed = len(result.final) - len(ok)
    from simrl.policy import policy_metric_names

    extra = [*extra, *policy_metric_names(config)]  # a linear policy's overlap and held-out change
    over = f"over {len(ok)} seeds" + (
        f" ({failed} of {len(result.final)} failed, not counted)" if failed else ""
    )
    columns = summary_columns(config, list(result.metrics.columns), ["acc", *passk], extra)
    con = console()
    print_summary(
        f"{args.config.name} ({config.algo.loss}, {config.reward.kind} reward): means {over}",
        result.metrics,
        columns,
        ok,
        out=con,
    )
    tb = ", tensorboard/" if args.log == "tensorboard" else ""
    con.print(
        f"wrote {out}/metrics.parquet, final.parquet, config.toml{tb}",
        markup=False,
        highlight=False,
    )
    return 0


def load_task(spec: str, config):
    """FILE.py:FUNCTION -> FUNCTION(config), a SequenceTask; ConfigError if anything fails."""
    from simrl.tasks.sequence import SequenceTask

    return call_task_function(spec, config, SequenceTask)


def call_task_function(spec: str, config, expected: type):
    """FILE.py:FUNCTION -> FUNCTION(config), which must return an `expected`; any failure
    (no such file or function, an import error, an exception, a wrong type) is a one-line
    ConfigError naming --task. Shared by `simrl run` and `simrl bridge run`."""
    import importlib.util

    path, _, name = spec.rpartition(":")
    if not path or not name or not Path(path).is_file():
        raise ConfigError("--task", spec, "must be FILE.py:FUNCTION with an existing file")
    module_spec = importlib.util.spec_from_file_location("simrl_custom_task", path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:  # the user's file: report its error in one line
        raise ConfigError(
            "--task", spec, f"must import cleanly ({type(e).__name__}: {e})"
        ) from None
    fn = getattr(module, name, None)
    if not callable(fn):
        raise ConfigError("--task", spec, f"{name} must be a function of the config")
    try:
        task = fn(config)
    except (Exception, SystemExit) as e:  # the user's function: its error in one line
        raise ConfigError(
            "--task", spec, f"{name}(config) raised {type(e).__name__}: {e}"
        ) from None
    if not isinstance(task, expected):
        raise ConfigError("--task", spec, f"{name}(config) must return a {expected.__name__}")
    return task


def cmd_bench(args: argparse.Namespace) -> int:
    from simrl.bench_cli import cmd_bench as run

    return run(args)


def cmd_plot(args: argparse.Namespace) -> int:
    from simrl.plot import plot_run

    path, _ = plot_run(args.run_dir, args.out)
    print(f"wrote {path}")
    return 0


def cmd_recipes(args: argparse.Namespace) -> int:
    from simrl import recipes

    print(recipes.listing() if args.name is None else recipes.describe(args.name))
    return 0


def cmd_reaudit(args: argparse.Namespace) -> int:
    from simrl import shipped
    from simrl.reaudit import run

    if args.dir is not None:
        folder, own = args.dir, True
    else:
        project = shipped.project(args.root)
        folder, own = project.experiments / "reaudits", project.own
    out = args.out or (folder if own else Path("runs") / "reaudit")
    print(f"wrote {run(folder, out=out)}")
    return 0


def cmd_prereg(args: argparse.Namespace) -> int:
    from simrl.prereg.cli import cmd

    return cmd(args)


def cmd_bridge(args: argparse.Namespace) -> int:
    from simrl.bridge.cli import cmd

    return cmd(args)


def cmd_figs(args: argparse.Namespace) -> int:
    from simrl.figs.cli import cmd

    return cmd(args)


def cmd_fields(args: argparse.Namespace) -> int:
    from simrl.fields import cmd

    return cmd(args)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        commands = {
            "run": cmd_run,
            "plot": cmd_plot,
            "bench": cmd_bench,
            "recipes": cmd_recipes,
            "theory": cmd_theory,
            "prereg": cmd_prereg,
            "reaudit": cmd_reaudit,
            "bridge": cmd_bridge,
            "figs": cmd_figs,
            "fields": cmd_fields,
        }
        return commands[args.command](args)
    except ConfigError as e:
        sys.stderr.write(f"simrl: config error: {e}\n")
        return EXIT_BAD_INPUT
    except NonFiniteError as e:
        sys.stderr.write(f"simrl: {e}\n")
        return EXIT_NONFINITE
    except KeyboardInterrupt:
        sys.stderr.write(
            "simrl: interrupted; every finished file is complete and nothing half-written "
            "was kept (rerun to resume)\n"
        )
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`simrl recipes | head`): as any Unix filter, stop quietly;
        # stdout is pointed at /dev/null so the interpreter's final flush cannot raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (UnicodeDecodeError, RecursionError) as e:
        what = "is not UTF-8 text" if isinstance(e, UnicodeDecodeError) else "nests too deeply"
        sys.stderr.write(f"simrl: config error: an input file {what} ({type(e).__name__})\n")
        return EXIT_BAD_INPUT
    except (OSError, MemoryError) as e:
        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        sys.stderr.write(f"simrl: run-time fault: {type(e).__name__}: {_first_line(e)}{where}\n")
        return EXIT_NONFINITE


if __name__ == "__main__":
    sys.exit(main())
