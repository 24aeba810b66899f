"""Task families. A task is shared by every run of a grid that has the same task config."""

from simrl.tasks.bandit import BanditTask, build_bandit

__all__ = ["BanditTask", "build_bandit"]
