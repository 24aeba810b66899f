"""What a batch is made of and what it returns: `RunSpec` (a run) and `BatchResult`
(every run's metrics and final logits), shared by batch.py and the fast paths."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simrl.config import Config
from simrl.errors import NonFiniteError
from simrl.tasks import SequenceTask


@dataclass(frozen=True)
class RunSpec:
    """A run: its config, its replicate index (the seed stream), a label for messages, and
    optionally a task object (a custom SequenceTask) instead of the config's built-in
    task; its config must then say task.kind = 'sequence'."""

    config: Config
    replicate: int = 0
    label: str = ""
    task: SequenceTask | None = None


@dataclass
class BatchResult:
    specs: list[RunSpec]
    row_steps: np.ndarray  # (n_rows,) the step of each metric row (0 = base policy)
    names: tuple[str, ...]  # metric names, the last axis of `metrics`
    metrics: np.ndarray  # (R, n_rows, M)
    logits: np.ndarray  # (R, S, K) final logits (the last finite ones of a failed run)
    failed_step: np.ndarray  # (R,) the step that produced a non-finite value, -1 if none
    tasks: list  # (R,) the task of each run, BanditTask or SequenceTask (shared objects)
    #: (R, steps, S, 7) per-prompt audit (AUDIT_PROMPT_COLUMNS; NaN where a state did not
    #: move), when run_batch(..., audit_prompts=True)
    audit_prompts: np.ndarray | None = None


def raise_first_failure(result: BatchResult) -> None:
    """Raise NonFiniteError for the earliest failure of a run whose config says 'raise'."""
    bad = [
        (int(step), r)
        for r, (step, spec) in enumerate(zip(result.failed_step, result.specs, strict=True))
        if step >= 0 and spec.config.run.on_nonfinite == "raise"
    ]
    if bad:
        step, r = min(bad)
        spec = result.specs[r]
        raise NonFiniteError(r, step, "logits", spec.label or f"replicate {spec.replicate}")
