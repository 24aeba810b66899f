"""The `simrl bridge` subcommands: pretrain, run, bench.

    simrl bridge pretrain [--prior-mix X] [--config CONFIG.toml] [--set bridge.F=V] [--force]
    simrl bridge run CONFIG.toml [--set section.field=value ...] [--model PATH|smollm2]
                     [--device auto|cpu|cuda] [--out DIR] [--threads N]
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

#: final metrics shown by `simrl bridge run`
SUMMARY = (
    "acc",
    "acc_greedy",
    "acc_heldout",
    "acc_heldout_greedy",
    "mode_usage_0",
    "entropy_mean",
    "kl_base",
    "clip_low_frac",
    "clip_high_frac",
    "dH_exact",
    "dH_first_order",
)


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
        "--model", default=None, help="bridge.model: a HuggingFace causal LM folder, or 'smollm2'"
    )
    run.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None)
    run.add_argument("--out", type=Path, default=None, help="output folder (default runs/<name>)")
    run.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    run.add_argument("--quiet", action="store_true", help="no progress bar or summary table")
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
    if args.bridge_command == "bench":
        from simrl.bridge.bench import bench_cmd

        return bench_cmd(args)
    return (pretrain_cmd if args.bridge_command == "pretrain" else run_cmd)(args)


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
    from rich.console import Console
    from rich.table import Table

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
    cfg = BridgeRunConfig.from_toml(args.config, overrides)
    check_model_folder(cfg.bridge.model)
    from simrl.bridge.run import run_bridge  # torch: after the checks

    _torch_threads(args.threads)

    out = args.out or Path("runs") / args.config.stem
    with LazyProgress(f"simrl bridge run {args.config.name}", enabled=not args.quiet) as progress:
        result = run_bridge(cfg, progress=progress)
    result.save(out)
    if args.quiet:
        return 0
    cols = [c for c in SUMMARY if c in result.final.columns]
    stats = result.summary(cols)
    table = Table(
        title=f"{args.config.name} on {result.meta['model']} ({result.meta['device']}): "
        f"final metrics over {cfg.run.seeds} seeds, step {cfg.run.steps}"
    )
    for col in ("metric", "mean", "std", "se"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for name, row in stats.iterrows():
        table.add_row(str(name), *(f"{row[c]:.4g}" for c in ("mean", "std", "se")))
    console = Console()
    console.print(table)
    extra = ", audit.parquet" if result.audit is not None else ""
    console.print(f"wrote {out}/metrics.parquet, final.parquet, config.toml{extra}")
    return 0
