"""`simrl plot RUN_DIR`: a run's curves, for people who would rather look than read.

Reads RUN_DIR/metrics.parquet (written by `simrl run` or `simrl bridge run`) and draws,
against the training step, one panel each for the accuracy (acc, and acc_heldout /
acc_greedy where recorded), the policy entropy (entropy_mean, and the per-prompt entropy
quantiles entropy_q10 / q50 / q90 where recorded), the entropy change of each update
(dH_exact against its first-order prediction dH_first_order) and the step's mean reward.
A line is the median over seeds; its band spans the 10% and 90% quantiles across seeds
(numpy's default linear interpolation; with one seed there is no band). matplotlib (Agg)
is imported only here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simrl.errors import ConfigError

#: the band: these quantiles across seeds
BAND = (0.1, 0.9)

#: panel title -> (column, label, style); a column absent or NaN everywhere is skipped
PANELS = (
    (
        "accuracy (pass@1)",
        (
            ("acc", "acc (train)", "-"),
            ("acc_heldout", "acc (held out)", "--"),
            ("acc_greedy", "acc, greedy", ":"),
        ),
    ),
    (
        "policy entropy (nats)",
        (
            ("entropy_mean", "mean over prompts", "-"),
            ("entropy_q10", "10% prompt quantile", ":"),
            ("entropy_q50", "median prompt", "--"),
            ("entropy_q90", "90% prompt quantile", ":"),
        ),
    ),
    (
        "entropy change per update",
        (
            ("dH_exact", "exact dH", "-"),
            ("dH_first_order", "first-order prediction", "--"),
        ),
    ),
    ("mean reward of the step", (("reward_mean", "reward_mean", "-"),)),
)


def load_run(run_dir: Path):
    """(metrics, title) of a run folder; ConfigError in one line if it is not one."""
    import pandas as pd

    run_dir = Path(run_dir)
    path = run_dir / "metrics.parquet"
    if not run_dir.is_dir() or not path.is_file():
        raise ConfigError(
            "RUN_DIR",
            str(run_dir),
            "must be a run folder written by `simrl run` or `simrl bridge run` "
            f"(no {'folder' if not run_dir.is_dir() else 'metrics.parquet'} there)",
        )
    try:
        metrics = pd.read_parquet(path)
    except Exception as e:  # a damaged or foreign file: one line
        raise ConfigError("RUN_DIR", str(path), f"must be a readable parquet file ({e})") from None
    if not {"seed", "step"} <= set(metrics.columns):
        raise ConfigError("RUN_DIR", str(path), "must have seed and step columns (a run's metrics)")
    title = run_dir.name
    cfg = run_dir / "config.toml"
    if cfg.is_file():
        import tomllib

        try:
            c = tomllib.loads(cfg.read_text())
            title += f": {c['algo']['loss']}, {c['reward']['kind']} reward"
        except (tomllib.TOMLDecodeError, KeyError, UnicodeDecodeError):
            pass
    return metrics, title


def bands(metrics, column: str):
    """steps, median, low and high quantile across seeds of `column` (NaN rows dropped)."""
    wide = metrics.pivot_table(index="step", columns="seed", values=column, dropna=False)
    values = wide.to_numpy(float)
    keep = np.isfinite(values).any(axis=1)
    values, steps = values[keep], wide.index.to_numpy()[keep]
    med = np.nanmedian(values, axis=1)
    lo, hi = np.nanquantile(values, BAND, axis=1)
    return steps, med, lo, hi


def plot_run(run_dir: Path, out: Path | None = None) -> tuple[Path, list[str]]:
    """Draw the run's curves into `out` (default RUN_DIR/curves.png), written atomically.
    Returns (path, the columns drawn)."""
    metrics, title = load_run(run_dir)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from simrl import io

    n_seeds = metrics["seed"].nunique()
    panels = []
    for name, lines in PANELS:
        have = [
            line
            for line in lines
            if line[0] in metrics.columns and np.isfinite(metrics[line[0]].to_numpy(float)).any()
        ]
        if have:
            panels.append((name, have))
    if not panels:
        raise ConfigError("RUN_DIR", str(run_dir), "has none of the metrics simrl plot draws")
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    drawn = []
    for ax, (name, lines) in zip(axes[0], panels, strict=True):
        for i, (col, label, style) in enumerate(lines):
            steps, med, lo, hi = bands(metrics, col)
            (line,) = ax.plot(steps, med, style, color=f"C{i}", label=label)
            if n_seeds > 1 and lo is not None:
                ax.fill_between(steps, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
            drawn.append(col)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    band = f"bands: {BAND[0]:.0%}-{BAND[1]:.0%} across {n_seeds} seeds" if n_seeds > 1 else "1 seed"
    fig.suptitle(f"{title}  (lines: median over seeds; {band})", fontsize=10)
    fig.tight_layout()
    out = Path(out) if out is not None else Path(run_dir) / "curves.png"
    io._atomic(out, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)
    return out, drawn
