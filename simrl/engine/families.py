"""The engines' forms of each task family (simrl/tasks/family.py), by the family's name:
the numpy reference (the specification) and the numba runner. batch.run_batch asks this
table instead of switching on the kind of task."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from types import ModuleType
from typing import Any

from simrl.engine import reference as ref
from simrl.engine import sequence_ref as seq_ref
from simrl.metrics import STEP_KL_METRICS, eval_metrics
from simrl.metrics_sequence import SEQUENCE_UPDATE_EXTRA, sequence_eval_metrics


@dataclass(frozen=True)
class EngineForms:
    reference: ModuleType  # initial_state, step (and is_finite via reference.py)
    params: type  # the reference's per-run parameters: params(cfg, task, layout)
    eval_metrics: Callable[..., dict[str, float]]  # (logits, task, passk, n_train)
    update_extra: tuple[str, ...]  # update metrics beyond metrics.UPDATE_METRICS
    fast: str  # "module:function" of the numba runner, imported on first use

    def run_fast(self) -> Callable[..., Any]:
        module, _, name = self.fast.partition(":")
        return getattr(import_module(module), name)


ENGINE_FORMS = {
    "bandit": EngineForms(
        ref, ref.RunParams, eval_metrics, STEP_KL_METRICS, "simrl.engine.fast:run_fast"
    ),
    "sequence": EngineForms(
        seq_ref,
        seq_ref.SeqParams,
        sequence_eval_metrics,
        SEQUENCE_UPDATE_EXTRA + STEP_KL_METRICS,
        "simrl.engine.fast_sequence:run_fast_sequence",
    ),
}
