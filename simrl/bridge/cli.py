"""The `simrl bridge` subcommands: pretrain, run.

    simrl bridge pretrain [--prior-mix X] [--config CONFIG.toml] [--set bridge.F=V] [--force]
    simrl bridge run CONFIG.toml [--set section.field=value ...] [--model PATH|smollm2]
                     [--device auto|cpu|cuda] [--out DIR] [--threads N]

Bad input is one line naming the field, the value and what is allowed (exit 2); a
missing torch / transformers is bad input too ("install the [llm] extra").
"""

from __future__ import annotations

import argparse
from pathlib import Path

from simrl.errors import ConfigError

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


def cmd(args: argparse.Namespace) -> int:
    _require_llm()
    if args.threads is not None:
        if args.threads < 1:
            raise ConfigError("--threads", args.threads, "must be an integer >= 1")
        import torch

        torch.set_num_threads(args.threads)
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
    from simrl.bridge.pretrain import pretrain_folder, pretrained  # torch: after the checks

    with LazyProgress("simrl bridge pretrain") as progress:
        _, _, meta = pretrained(cfg, progress=lambda t, n, loss: progress(t, n), force=args.force)
    Console().print(
        f"tiny model ({meta['parameters']:,} parameters, prior_mix {cfg.bridge.prior_mix:g}): "
        f"{pretrain_folder(cfg)}  pretrained in {meta['seconds']:.0f} s, final loss "
        f"{meta['final_loss']:.4f}"
    )
    return 0


def run_cmd(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from simrl.bridge.config import BridgeRunConfig
    from simrl.progress import LazyProgress

    overrides = _overrides(args.overrides)
    if args.model is not None:
        overrides["bridge.model"] = args.model
    if args.device is not None:
        overrides["bridge.device"] = args.device
    cfg = BridgeRunConfig.from_toml(args.config, overrides)
    from simrl.bridge.run import run_bridge  # torch: after the checks

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
