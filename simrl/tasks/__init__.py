"""Task families. A task is shared by every run of a grid that has the same task config."""

from simrl.config import TaskConfig
from simrl.tasks.bandit import BanditTask, build_bandit
from simrl.tasks.reasoning import build_sequence
from simrl.tasks.sequence import SequenceTask

__all__ = ["BanditTask", "SequenceTask", "build_bandit", "build_sequence", "build_task"]


def build_task(cfg: TaskConfig) -> BanditTask | SequenceTask:
    """The task of a task config, built by its family (simrl/tasks/family.py)."""
    from simrl.tasks.family import family  # the families read the metrics, which read tasks

    return family(cfg.kind).build(cfg)
