"""Task families: what the rest of simrl asks of a kind of task, in one interface.

A family is one entry of TASK_FAMILIES, named by its `task.kind`: the bandit (one token
per response, a (prompts, answers) logits table) and the sequence family (a response is
a walk through a prompt's graph of states; the bandit is its length-1 case). The engine,
the prereg grid, the memory estimate, plurality and the CLI ask the family of a config
(`family(cfg.task.kind)`) or of a task object (`family_of(task)`) instead of switching
on the kind; the engines' own forms of a family (reference module, numba runner) are
bound to the same names in simrl/engine/families.py.

Adding a family is one entry here and one there; the config's kind-specific checks stay
in simrl/config_checks.py (they validate fields before any task exists).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from simrl.algorithms.aggregation import fixed_weight_names
from simrl.algorithms.aggregations import AGGREGATIONS
from simrl.algorithms.policy_loss import names_phrase
from simrl.config import Config, TaskConfig
from simrl.errors import ConfigError
from simrl.metrics import metric_names
from simrl.metrics_sequence import sequence_metric_names
from simrl.policy import policy_metric_names
from simrl.registry import Registry
from simrl.tasks import BanditTask, SequenceTask, build_bandit, build_sequence

TASK_FAMILIES = Registry("task family")


@dataclass(frozen=True)
class TaskFamily:
    """One kind of task. Every callable takes what exists at its point of use: a task
    config before the task is built, the task object after."""

    name: str  # its task.kind
    doc: str
    code: int  # registration index (the registry's Entry protocol)
    task_type: type
    build: Callable[[TaskConfig], Any]
    #: may a run use the user's own task object (simrl run --task FILE.py:FUNCTION)?
    custom: bool
    #: the metric columns of a run, from the config (before any task is built) or the task
    config_metric_names: Callable[[Config], tuple[str, ...]]
    task_metric_names: Callable[[Config, Any], tuple[str, ...]]
    #: what runs batched together must share, from the task object
    shape_key: Callable[[Any], tuple]
    #: uniforms drawn per sampled response (one per token and one for the answer)
    draws_per_response: Callable[[int], int]
    #: (states x actions, prompts, response length) from the task config's sizes alone
    table_size: Callable[[TaskConfig], tuple[int, int, int]]
    #: (S, A) base distribution of each of the first n prompts' final answer, (S, A) correct
    answer_distribution: Callable[[Any, int], tuple[np.ndarray, np.ndarray]]
    #: what only the task object can tell against the config (ConfigError if not)
    check_task: Callable[[Config, Any], None]
    #: the final-metric columns `simrl run` shows beside accuracy and entropy
    summary_columns: Callable[[Config, list[str]], list[str]]

    # the registry's Entry protocol
    @property
    def fn(self) -> Callable[[TaskConfig], Any]:
        return self.build


def family(kind: str) -> TaskFamily:
    """The family of a task.kind (validated by the config: always registered)."""
    return TASK_FAMILIES[kind]


def family_of(task: Any) -> TaskFamily:
    """The family whose task objects `task` is (a custom task is a SequenceTask)."""
    for f in TASK_FAMILIES:
        if isinstance(task, f.task_type):
            return f
    raise ConfigError("task", type(task).__name__, "must be a BanditTask or a SequenceTask")


# ---- the bandit -----------------------------------------------------------------------


def _bandit_answers(task: BanditTask, n: int) -> tuple[np.ndarray, np.ndarray]:
    return task.base_probs[:n], task.correct[:n]


def _no_check(cfg: Config, task: Any) -> None:
    return None


TASK_FAMILIES.put(
    TaskFamily(
        name="bandit",
        doc="one answer token per response: a (prompts, answers) logits table",
        code=0,
        task_type=BanditTask,
        build=build_bandit,
        custom=False,
        config_metric_names=lambda cfg: metric_names(cfg.run.passk) + policy_metric_names(cfg),
        task_metric_names=lambda cfg, task: metric_names(cfg.run.passk),
        shape_key=lambda task: task.shape,
        draws_per_response=lambda max_len: 1,
        table_size=lambda t: (t.num_prompts * t.num_answers, t.num_prompts, 1),
        answer_distribution=_bandit_answers,
        check_task=_no_check,
        summary_columns=lambda cfg, columns: [],
    )
)


# ---- the sequence family --------------------------------------------------------------


def _sequence_answers(task: SequenceTask, n: int) -> tuple[np.ndarray, np.ndarray]:
    dist = task.answer_dist(task.leaf_reach(task.probs(task.base_logits)))
    return dist[:n], task.correct[:n]


def _sequence_table(t: TaskConfig) -> tuple[int, int, int]:
    depth = t.steps + 1  # reasoning steps, then the answer token
    per_prompt = sum(t.vocab**d for d in range(depth))
    return t.num_prompts * per_prompt * t.vocab, t.num_prompts, depth


def _check_sequence_task(cfg: Config, task: SequenceTask) -> None:
    """A custom task's prompts against the config, and the exact gradient's need for
    length-independent aggregation weights."""
    if task.num_prompts != cfg.task.num_prompts:
        raise ConfigError(
            "task.num_prompts",
            cfg.task.num_prompts,
            f"must equal the custom task's prompts ({task.num_prompts})",
        )
    fixed = bool((task.leaf_len == task.max_len).all())
    a = cfg.algo
    if a.exact and not fixed and not AGGREGATIONS[a.agg].fixed_weight:
        raise ConfigError(
            "algo.agg",
            a.agg,
            "algo.exact on a task with variable lengths needs "
            + names_phrase(fixed_weight_names(), "or"),
        )
    if a.overlong_cache >= task.max_len:
        raise ConfigError(
            "algo.overlong_cache",
            a.overlong_cache,
            f"must be < the task's max_len = {task.max_len}",
        )


def _sequence_summary(cfg: Config, columns: list[str]) -> list[str]:
    modes = [c for c in columns if c.startswith("mode_usage_")]
    extra = [*modes, "entropy_mode_state", "length_mean", "fork_grad_share"]
    if cfg.train_prompts < cfg.task.num_prompts:
        extra = ["acc_heldout", *extra]
    return extra


TASK_FAMILIES.put(
    TaskFamily(
        name="sequence",
        doc="a response is a walk through its prompt's graph of states (the bandit is the "
        "length-1 case); the built-in reasoning family or a user's SequenceTask",
        code=1,
        task_type=SequenceTask,
        build=build_sequence,
        custom=True,
        config_metric_names=lambda cfg: sequence_metric_names(
            cfg.run.passk, cfg.task.num_modes, cfg.max_len
        ),
        task_metric_names=lambda cfg, task: sequence_metric_names(
            cfg.run.passk, task.num_modes, task.max_len
        ),
        shape_key=lambda task: task.shape_key(),
        draws_per_response=lambda max_len: max_len + 1,
        table_size=_sequence_table,
        answer_distribution=_sequence_answers,
        check_task=_check_sequence_task,
        summary_columns=_sequence_summary,
    )
)
