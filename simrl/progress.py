"""A progress bar that appears only for work that takes more than a few seconds."""

from __future__ import annotations

import sys
import time

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

#: seconds of work before a bar is shown
SHOW_AFTER = 2.0


class LazyProgress:
    """Callable progress(done, total): shows a rich bar (with ETA) once SHOW_AFTER has passed.

    Silent when stderr is not a terminal or `enabled` is False.
    """

    def __init__(self, description: str, enabled: bool = True):
        self.description = description
        self.enabled = enabled and sys.stderr.isatty()
        self.start = time.perf_counter()
        self._bar: Progress | None = None
        self._task = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            if time.perf_counter() - self.start < SHOW_AFTER:
                return
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.description, total=total)
        self._bar.update(self._task, completed=done, total=total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()

    def __enter__(self) -> LazyProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
