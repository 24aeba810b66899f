"""The Python entry point: `simulate(config) -> Result`.

from simrl import Config, simulate
res = simulate(Config.from_toml("quickstart.toml", overrides={"run.seeds": 32}))
res.metrics   # tidy: seed, step, one column per metric
res.final     # one row per seed: the metrics at the last step
res.logits    # (seeds, S, K) final logits
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from simrl import io
from simrl.config import Config
from simrl.engine.batch import BatchResult, Progress, RunSpec, run_batch
from simrl.metrics import AUDIT_PROMPT_COLUMNS
from simrl.tasks import BanditTask
from simrl.tasks.sequence import SequenceTask


@dataclass
class Result:
    config: Config
    metrics: pd.DataFrame  # seed, step, metrics
    final: pd.DataFrame  # seed, failed_step, metrics at the last step
    logits: np.ndarray  # (seeds, S, K): bandit; (seeds, rows, width): sequence task
    task: BanditTask | SequenceTask
    #: seed, step, prompt, then AUDIT_PROMPT_COLUMNS: every state each update moved
    #: (simulate(..., audit_prompts=True), which needs run.audit = true)
    audit_prompts: pd.DataFrame | None = None

    def summary(self, columns: list[str] | None = None) -> pd.DataFrame:
        """Mean, std and standard error over seeds of the final metrics."""
        return summarize_final(self.final, columns)

    def save(self, out: str | Path) -> None:
        """metrics.parquet, final.parquet and the resolved config.toml, each written atomically."""
        out = Path(out)
        io.write_parquet(out / "metrics.parquet", self.metrics)
        io.write_parquet(out / "final.parquet", self.final)
        io.write_text(out / "config.toml", self.config.to_toml())


def summarize_final(final: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """Mean, std and standard error over seeds (rows) of final metrics."""
    cols = columns or [c for c in final.columns if c not in ("seed", "failed_step")]
    stats = final[cols].agg(["mean", "std"]).T
    stats["se"] = stats["std"] / np.sqrt(len(final))
    return stats


def tidy(batch: BatchResult) -> pd.DataFrame:
    """(R, rows, M) metrics -> long table with columns run, seed, step, metrics."""
    R, n_rows, _ = batch.metrics.shape
    df = pd.DataFrame(batch.metrics.reshape(R * n_rows, -1), columns=list(batch.names))
    df.insert(0, "step", np.tile(batch.row_steps, R))
    df.insert(0, "seed", np.repeat([s.replicate for s in batch.specs], n_rows))
    df.insert(0, "run", np.repeat(np.arange(R), n_rows))
    return df


def audit_frame(batch: BatchResult) -> pd.DataFrame:
    """(R, steps, S, 7) per-prompt audit -> long table of the states each update moved."""
    R, T, S, C = batch.audit_prompts.shape
    df = pd.DataFrame(batch.audit_prompts.reshape(R * T * S, C), columns=list(AUDIT_PROMPT_COLUMNS))
    df.insert(0, "prompt", np.tile(np.arange(S), R * T))
    df.insert(0, "step", np.tile(np.repeat(np.arange(1, T + 1), S), R))
    df.insert(0, "seed", np.repeat([s.replicate for s in batch.specs], T * S))
    return df[df["dH_exact"].notna()].reset_index(drop=True)


def simulate(
    config: Config,
    engine: str = "fast",
    progress: Progress | None = None,
    audit_prompts: bool = False,
    task: SequenceTask | None = None,
) -> Result:
    """Run `config.run.seeds` independent replicates of one config. With `audit_prompts`
    (and run.audit = true), also the audit of every state (parameter row) at every step.
    `task`: a custom SequenceTask (simrl.tasks.sequence.GraphBuilder) instead of the
    config's built-in task (config.task.kind must be 'sequence')."""
    specs = [RunSpec(config, i, task=task) for i in range(config.run.seeds)]
    batch = run_batch(specs, engine=engine, progress=progress, audit_prompts=audit_prompts)
    metrics = tidy(batch).drop(columns="run")
    final = (
        metrics[metrics["step"] == batch.row_steps[-1]].drop(columns="step").reset_index(drop=True)
    )
    final.insert(1, "failed_step", batch.failed_step)
    prompts = audit_frame(batch) if audit_prompts else None
    return Result(config, metrics, final, batch.logits, batch.tasks[0], prompts)
