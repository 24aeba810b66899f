"""The `simrl bridge` subcommands: pretrain, run, bench.

    simrl bridge pretrain [--prior-mix X] [--config CONFIG.toml] [--set bridge.F=V] [--force]
    simrl bridge run CONFIG.toml [--set section.field=value ...] [--model PATH|smollm2]
                     [--device auto|cpu|cuda] [--out DIR] [--threads N]
                     [--task FILE.py:FUNCTION] [--checkpoints] [--log tensorboard]
    simrl bridge bench [--model ''|smollm2|PATH] [--trl] [--device cpu|cuda] [...]

Bad input is one line naming the field, the value and what is allowed (exit 2); a
missing torch / transformers is bad input too ("install the [llm] extra").
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from simrl.errors import ConfigError

#: torch CPU threads unless --threads says otherwise: one, as a study cell runs
#: (simrl/prereg/executors.py BRIDGE_THREADS), so a run's numbers equal the cell's bit for
#: bit; and on a shared machine more threads than free cores cost far more than they give
#: (measured, docs/bridge.md: the example's step-0 eval took 8 s on 1 thread, 111 s on 2)
DEFAULT_THREADS = 1

#: the first metrics of `simrl bridge run`'s summary (the rest follow the algorithm:
#: simrl/summary.py summary_columns)
HEAD = ("acc", "acc_greedy", "acc_heldout", "acc_heldout_greedy")
EXTRA = ("mode_usage_0",)


def add_parser(sub, parser_class) -> None:
    bridge = sub.add_parser(
        "bridge", help="replay configs on a transformer LM with torch (needs the [llm] extra)"
    )
    bsub = bridge.add_subparsers(dest="bridge_command", required=True, parser_class=parser_class)
    pre = bsub.add_parser("pretrain", help="pretrain (or find cached) the built-in tiny model")
    pre.add_argument("--prior-mix", type=float, default=None, help="bridge.prior_mix (0..1)")
    pre.add_argument(
        "--config", type=Path, default=None, help="a bridge TOML whose [bridge] is used"
    )
    pre.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="bridge.FIELD=VALUE"
    )
    pre.add_argument("--force", action="store_true", help="pretrain again even if cached")
    pre.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    run = bsub.add_parser("run", help="RL-train a causal LM with a bridge config")
    run.add_argument("config", type=Path, help="bridge TOML (see simrl/examples/bridge.toml)")
    run.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE"
    )
    run.add_argument(
        "--recipe",
        default=None,
        metavar="NAME",
        help="a published recipe's settings for the fields left unset (algo.recipe; simrl recipes)",
    )
    run.add_argument(
        "--model", default=None, help="bridge.model: a HuggingFace causal LM folder, or 'smollm2'"
    )
    run.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None)
    run.add_argument("--out", type=Path, default=None, help="output folder (default runs/<name>)")
    run.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    run.add_argument("--quiet", action="store_true", help="no progress bar or summary table")
    from simrl.cli import add_log_argument

    add_log_argument(run)
    run.add_argument(
        "--task",
        default=None,
        metavar="FILE.py:FUNCTION",
        help="a user's prompt set and reward: FUNCTION(config) returns a "
        "simrl.bridge.task.BridgeTask (see simrl/examples/bridge_task.py)",
    )
    run.add_argument(
        "--checkpoints",
        action="store_true",
        help="also save each seed's final model into OUT/checkpoints/seed<S>/",
    )
    bench = bsub.add_parser("bench", help="tokens/s of a bridge step, and one step against TRL")
    add_bench_arguments(bench)


def add_bench_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="", help="'' (the tiny model), 'smollm2' or a folder")
    p.add_argument("--prompts", type=int, default=8, help="prompts per step")
    p.add_argument("--group", type=int, default=8, help="completions per prompt (G)")
    p.add_argument("--max-new", type=int, default=24, help="max_new_tokens")
    p.add_argument("--epochs", type=int, default=1, help="PPO epochs (TRL num_iterations)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--repeats", type=int, default=3, help="timed steps (after one warm-up)")
    p.add_argument("--trl", action="store_true", help="also TRL's GRPOTrainer, paired")


def cmd(args: argparse.Namespace) -> int:
    _require_llm()
    threads = DEFAULT_THREADS if args.threads is None else args.threads
    if threads < 1:
        raise ConfigError("--threads", threads, "must be an integer >= 1")
    args.threads = threads  # set in torch by each command after its checks (_torch_threads)
    passive_wait(threads)
    if args.bridge_command == "bench":
        from simrl.bridge.bench import bench_cmd

        return bench_cmd(args)
    return (pretrain_cmd if args.bridge_command == "pretrain" else run_cmd)(args)


def passive_wait(threads: int) -> None:
    """With more than one torch thread, OpenMP threads that wait for work sleep instead of
    spinning (OMP_WAIT_POLICY=PASSIVE, unless the environment sets it): on a machine whose
    cores are shared, spinning threads take the cores that the working ones need. Measured
    here at load ~15 on 2 cores (docs/bridge.md, "Threads"): a 640 x 576 x 1536 float32
    matmul on 2 threads gave 9 GFLOP/s spinning, 16 passive, 10-14 on 1 thread. The
    OpenMP runtime reads it once, when torch loads: so only before torch is imported. It
    changes how threads wait, not what they compute."""
    import os

    if threads > 1 and "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _require_llm() -> None:
    import importlib.util

    for name in ("torch", "transformers"):
        if importlib.util.find_spec(name) is None:
            raise ConfigError(
                "simrl bridge",
                name,
                'needs torch and transformers: pip install torch==2.13.0 && pip install -e ".[llm]"',
            )


def _torch_threads(threads: int) -> None:
    """Import torch (seconds) only once the command's input has been checked."""
    import torch

    torch.set_num_threads(threads)


def _overrides(items) -> dict:
    from simrl.config import parse_override

    return dict(parse_override(o) for o in items)


def pretrain_cmd(args: argparse.Namespace) -> int:
    from rich.console import Console

    from simrl.bridge.config import BridgeRunConfig
    from simrl.progress import LazyProgress

    overrides = _overrides(args.overrides)
    if args.prior_mix is not None:
        overrides["bridge.prior_mix"] = args.prior_mix
    cfg = (
        BridgeRunConfig.from_toml(args.config, overrides)
        if args.config
        else BridgeRunConfig.from_dict({}, overrides)
    )
    from simrl.bridge.checkpoints import cache_folder, is_shipped
    from simrl.bridge.pretrain import pretrain_folder, pretrained  # torch: after the checks

    _torch_threads(args.threads)
    with LazyProgress("simrl bridge pretrain") as bar:
        _, _, meta = pretrained(cfg, progress=StepProgress(bar), force=args.force)
    key = cfg.pretrain_key()
    shipped = is_shipped(key) and not args.force
    folder = pretrain_folder(cfg) if not args.force else cache_folder(key)
    Console().print(
        f"tiny model ({meta['parameters']:,} parameters, prior_mix {cfg.bridge.prior_mix:g}, "
        f"{'shipped with simrl' if shipped else 'cached'}): {folder}  pretrained in "
        f"{meta['seconds']:.0f} s, final loss {meta['final_loss']:.4f}"
    )
    return 0


class StepProgress:
    """progress(step, steps, loss): the bar on a terminal; elsewhere (a log, a pipe) one line
    on stderr every 10% of the steps with the loss, the rate and the time left."""

    def __init__(self, bar):
        self.bar, self.start, self.next = bar, time.perf_counter(), 0.1

    def __call__(self, t: int, n: int, loss: float) -> None:
        self.bar(t, n)
        if self.bar.enabled or t < self.next * n:
            return
        self.next += 0.1
        secs = time.perf_counter() - self.start
        sys.stderr.write(
            f"pretrain step {t}/{n}  loss {loss:.4f}  {t / secs:.2f} steps/s  "
            f"elapsed {secs:.0f} s  ETA {secs / t * (n - t):.0f} s\n"
        )
        sys.stderr.flush()


def run_cmd(args: argparse.Namespace) -> int:
    from simrl.bridge.config import BridgeRunConfig
    from simrl.bridge.model_folder import check_model_folder
    from simrl.examples_path import example
    from simrl.progress import LazyProgress

    args.config = example(args.config)  # simrl/examples/bridge.toml works from any folder
    overrides = _overrides(args.overrides)
    if args.model is not None:
        overrides["bridge.model"] = args.model
    if args.device is not None:
        overrides["bridge.device"] = args.device
    if args.recipe is not None:
        overrides["algo.recipe"] = args.recipe
    cfg = BridgeRunConfig.from_toml(args.config, overrides)
    check_model_folder(cfg.bridge.model)
    if cfg.bridge.model == "":  # the tiny model: a shipped or cached checkpoint's hashes,
        from simrl.bridge import checkpoints  # checked before torch loads (one line)

        folder = checkpoints.folder_for(cfg.pretrain_key())
        if (folder / "meta.json").is_file() or folder.parent == checkpoints.SHIPPED:
            checkpoints.verify(folder)
    from simrl.bridge.tasks import check_one_task

    check_one_task(cfg, bool(args.task))
    task = load_bridge_task(args.task, cfg) if args.task else None
    from simrl.bridge.run import run_bridge  # torch: after the checks

    _torch_threads(args.threads)

    out = args.out or Path("runs") / args.config.stem
    with LazyProgress(f"simrl bridge run {args.config.name}", enabled=not args.quiet) as progress:
        result = run_bridge(cfg, progress=progress, keep_models=args.checkpoints, task=task)
    result.save(out)
    if args.log == "tensorboard":
        from simrl.tblog import write_metrics

        write_metrics(out / "tensorboard", result.metrics)
    if args.quiet:
        return 0
    from simrl.summary import console, print_summary, summary_columns

    ok = result.final.loc[result.final["failed_step"] < 0, "seed"]
    failed = len(result.final) - len(ok)
    over = f"over {len(ok)} seeds" + (
        f" ({failed} of {len(result.final)} failed, not counted)" if failed else ""
    )
    columns = summary_columns(cfg, list(result.metrics.columns), list(HEAD), list(EXTRA))
    reward = f"{args.task}'s" if task is not None and task.reward is not None else cfg.reward.kind
    con = console()
    print_summary(
        f"{args.config.name} on {result.meta['model']} ({result.meta['device']}; "
        f"{cfg.algo.loss}, {reward} reward): means {over}",
        result.metrics,
        columns,
        ok,
        out=con,
    )
    extra = ", audit.parquet" if result.audit is not None else ""
    extra += ", samples/"
    extra += ", checkpoints/" if args.checkpoints else ""
    extra += ", tensorboard/" if args.log == "tensorboard" else ""
    con.print(
        f"wrote {out}/metrics.parquet, final.parquet, config.toml{extra}",
        markup=False,
        highlight=False,
    )
    return 0


def load_bridge_task(spec: str, cfg):
    """--task FILE.py:FUNCTION for the bridge: FUNCTION(cfg) returns a BridgeTask (loaded
    as `simrl run --task` loads a SequenceTask, simrl/cli.py call_task_function); its
    problems and reward are checked here, before any work: one line (ConfigError) each."""
    import math

    from simrl.bridge.task import OPS, BridgeTask, Problem
    from simrl.cli import call_task_function

    task = call_task_function(spec, cfg, BridgeTask)
    for name in ("train", "heldout"):
        problems = getattr(task, name)
        if not isinstance(problems, list | tuple) or not problems:
            raise ConfigError(
                "--task", spec, f"BridgeTask.{name} must be a non-empty list of Problem"
            )
        for p in problems:
            if (
                not isinstance(p, Problem)
                or len(p.ops) != len(p.operands) - 1
                or not all(op in OPS for op in p.ops)
            ):
                raise ConfigError(
                    "--task", spec, f"BridgeTask.{name} holds {p!r}: each must be a "
                    f"Problem(operands, ops) with len(ops) = len(operands) - 1, ops in {OPS}",
                )  # fmt: skip
    if task.reward is not None:
        if not callable(task.reward):
            raise ConfigError(
                "--task", spec, "BridgeTask.reward must be fn(problem, text, answer) or None"
            )
        p = task.train[0]
        try:
            value = float(task.reward(p, str(p.answer), p.answer))
        except (Exception, SystemExit) as e:  # the user's reward: its error in one line
            raise ConfigError(
                "--task", spec, f"reward(problem, text, answer) raised {type(e).__name__}: {e}"
            ) from None
        if not math.isfinite(value):
            raise ConfigError(
                "--task", spec, f"reward(...) must return a finite number, not {value}"
            )
    return task
