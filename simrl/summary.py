"""The summary table of `simrl run` and `simrl bridge run`: step 0 beside the final step.

For each metric the chosen algorithm makes meaningful (`summary_columns`: the token-flag
metrics come from the policy loss's `reports` capability flag, simrl/algorithms/
policy_loss.py), the mean over seeds at step 0, at the final step, and the change (paired
by seed) with its standard error. An update metric (clip fractions, dH) describes a step,
not a policy, so its first column is the first step that updated. A metric that is NaN in
a seed gets a footnote saying why. The table is as wide as the terminal, or LOG_WIDTH
columns when the output is not a terminal (a log is not wrapped at 80 columns).
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from typing import TextIO

import numpy as np

#: columns of a summary printed into a log, a pipe or a file (no terminal to fit)
LOG_WIDTH = 160

#: why a metric is NaN, by name (the first match wins; see simrl/metrics.py)
NAN_REASONS = (
    ("_heldout", "no held-out prompts: every prompt is trained (task.train_prompts = 0 or = "
     "task.num_prompts)"),
    ("mass_format", "the task has no format answer"),
    ("mass_base_top", "the sequence task has no modes (task.num_modes = 0)"),
    ("mass_incorrect_label", "the task has no fixed wrong label"),
    ("dH_", "no state moved in that step: every group's rewards were equal (zero advantage) "
     "or every token's gradient was clipped or masked"),
    ("entropy_pos_", "no response reaches that position"),
)  # fmt: skip


def nan_reason(metric: str) -> str:
    for key, why in NAN_REASONS:
        if key in metric:
            return why
    return "not defined for this run (see the metric's comment in simrl/metrics.py)"


def loss_metrics(algo) -> list[str]:
    """The token-flag metrics the run's policy loss sets (its `reports` flag); the dual
    clip's only when it is on (algo.dual_clip > 0) for a loss that honours algo.dual_clip."""
    from simrl.algorithms.policy_loss import REPORTABLE, entry

    loss = entry(algo.loss)
    return [
        m
        for m in REPORTABLE
        if m in loss.reports and (m != "clip_dual_frac" or not loss.dual_clip or algo.dual_clip > 0)
    ]


def summary_columns(config, columns: list[str], head: list[str], extra: list[str]) -> list[str]:
    """The metrics to show: `head` (accuracy and the like), the task family's `extra`, the
    policy's entropy and drift, what the reward makes meaningful, the step's reward, the
    loss's own flags, the exact and first-order entropy change; those in `columns` only."""
    kind = config.reward.kind
    task = getattr(config, "task", None)  # a bridge config has none (its head says)
    heldout = task is not None and task.train_prompts not in (0, task.num_prompts)
    chosen = [
        *head,
        *(["acc_heldout"] if heldout else []),
        *extra,
        "entropy_mean",
        "kl_base",
        "mass_base_top",
        *(["mass_incorrect_label"] if kind == "incorrect" else []),
        *(["mass_format"] if kind == "format" else []),
        "reward_mean",
        *loss_metrics(config.algo),
        "dH_exact",
        "dH_first_order",
    ]
    seen: set[str] = set()
    return [c for c in chosen if c in columns and not (c in seen or seen.add(c))]


@dataclass
class Row:
    metric: str
    start_step: int
    start: float
    final: float
    change: float
    se: float
    nan_seeds: int  # seeds whose value is NaN at the start or the final step


def change_rows(metrics, columns: list[str], seeds) -> tuple[list[Row], int, int]:
    """Per metric: means over `seeds` at the first and last rows (an update metric: its
    first row with a value), the mean change paired by seed and its standard error.
    Returns (rows, first step, last step)."""
    m = metrics[metrics["seed"].isin(list(seeds))]
    steps = np.sort(m["step"].unique())
    first, last = int(steps[0]), int(steps[-1])
    end = m[m["step"] == last].set_index("seed")
    rows = []
    for col in columns:
        start_step = first
        for s in steps:  # the first row where any seed has a value
            if np.isfinite(m.loc[m["step"] == s, col].to_numpy(float)).any():
                start_step = int(s)
                break
        b = end[col].astype(float)
        if start_step == last and len(steps) > 1:
            # an update metric recorded at the last row only: a value, no change to show
            final = float(np.nanmean(b)) if np.isfinite(b).any() else np.nan
            missing = int((~np.isfinite(b.to_numpy())).sum())
            rows.append(Row(col, last, np.nan, final, np.nan, np.nan, missing))
            continue
        a = m[m["step"] == start_step].set_index("seed")[col].astype(float)
        b = b.reindex(a.index)
        d = (b - a).to_numpy()
        ok = np.isfinite(d)
        n = int(ok.sum())
        rows.append(
            Row(
                col,
                start_step,
                float(np.nanmean(a)) if np.isfinite(a).any() else np.nan,
                float(np.nanmean(b)) if np.isfinite(b).any() else np.nan,
                float(d[ok].mean()) if n else np.nan,
                float(d[ok].std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan,
                int(len(d) - n),
            )
        )
    return rows, first, last


def console(stream: TextIO | None = None):
    """A rich Console as wide as the terminal, or LOG_WIDTH columns when not a terminal."""
    from rich.console import Console

    stream = stream or sys.stdout
    tty = stream.isatty()
    width = shutil.get_terminal_size().columns if tty else LOG_WIDTH
    return Console(file=stream, width=width, force_terminal=tty, soft_wrap=not tty)


def _fmt(x: float, sign: bool = False) -> str:
    if not np.isfinite(x):
        return "nan"
    return f"{x:+.4g}" if sign else f"{x:.4g}"


def print_summary(
    title: str,
    metrics,
    columns: list[str],
    seeds,
    out=None,
    note: str = "",
) -> list[Row]:
    """Print the step-0 / final / change table with its footnotes on `out` (a Console)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    out = out or console()
    seeds = list(seeds)
    if not seeds:
        out.print(title, markup=False, highlight=False)
        out.print("no seed finished without a non-finite value: nothing to summarize", markup=False)
        return []
    rows, first, last = change_rows(metrics, columns, seeds)
    notes: list[str] = []

    def mark(text: str) -> str:
        if text not in notes:
            notes.append(text)
        return f" [{notes.index(text) + 1}]"

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("metric", no_wrap=True)
    table.add_column(f"step {first}", justify="right", no_wrap=True)
    table.add_column(f"step {last}", justify="right", no_wrap=True)
    table.add_column("change", justify="right", no_wrap=True)
    table.add_column("± se", justify="right", no_wrap=True)
    n = len(list(seeds))
    if n == 1:
        table.columns[-1].header = f"± se{mark('one seed: no standard error (run.seeds = 1)')}"
    for r in rows:
        label = r.metric
        if r.start_step == last and last != first:
            label += mark(
                f"an update metric (it describes the steps since the previous row, not a "
                f"policy) recorded at step {last} only (run.eval_every >= run.steps): its "
                f"value, no change"
            )
        elif r.start_step != first:
            label += mark(
                f"an update metric (it describes the steps since the previous row, not a "
                f"policy): its first column is the row at step {r.start_step}, the first "
                f"with updates"
            )
        if r.nan_seeds:
            why = nan_reason(r.metric)
            label += mark(
                f"{r.metric} is NaN in {'every seed' if r.nan_seeds == n else f'{r.nan_seeds} of {n} seeds'}"
                f"{'' if r.nan_seeds == n else ' (the means are over the others)'}: {why}"
            )
        final_only = r.start_step == last and last != first
        table.add_row(
            Text(label),
            "-" if final_only else _fmt(r.start),
            _fmt(r.final),
            "-" if final_only else _fmt(r.change, sign=True),
            "-" if n == 1 or final_only else _fmt(r.se),
        )
    out.print(title, markup=False, highlight=False)
    out.print(table)
    for i, text in enumerate(notes, 1):
        out.print(f"[{i}] {text}", markup=False, highlight=False)
    if note:
        out.print(note, markup=False, highlight=False)
    return rows
