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

    def to_frame(self, fields="varied"):
        """A tidy pandas DataFrame: one row per run and metric row, with columns `run`
        (the index into specs), `label` (when any spec has one), `replicate`, `step`,
        `failed_step`, the config fields `fields` (dotted names; "varied", the default: every
        field whose value differs between the specs; () for none), then one column per
        metric (`names`). A tuple-valued field is shown as its string. pandas is imported here.
        """
        import pandas as pd

        R, n_rows, _ = self.metrics.shape
        flat = [_flat(spec.config.to_dict()) for spec in self.specs]
        if isinstance(fields, str) and fields == "varied":
            fields = [k for k in flat[0] if any(f.get(k) != flat[0][k] for f in flat[1:])]
        unknown = [f for f in fields if f not in flat[0]]
        if unknown:
            raise KeyError(f"unknown config field(s) {unknown}; e.g. {list(flat[0])[:4]}")
        df = pd.DataFrame(self.metrics.reshape(R * n_rows, -1), columns=list(self.names))
        head = {"run": np.repeat(np.arange(R), n_rows)}
        if any(spec.label for spec in self.specs):
            head["label"] = np.repeat([spec.label for spec in self.specs], n_rows)
        head["replicate"] = np.repeat([spec.replicate for spec in self.specs], n_rows)
        head["step"] = np.tile(self.row_steps, R)
        head["failed_step"] = np.repeat(self.failed_step, n_rows)
        for f in fields:
            values = [
                v if not isinstance(v, tuple | list) else str(tuple(v))
                for v in (x[f] for x in flat)
            ]
            head[f] = np.repeat(np.array(values, dtype=object), n_rows)
        return pd.concat([pd.DataFrame(head), df], axis=1)


def _flat(config_dict: dict) -> dict:
    """{"section": {"field": v}} -> {"section.field": v}."""
    return {f"{s}.{k}": v for s, values in config_dict.items() for k, v in values.items()}


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
