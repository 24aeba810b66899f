"""Progress for work that takes more than a few seconds, on a terminal and in a log.

On a terminal (stderr is a TTY) a rich bar with the elapsed time and an ETA appears once
the work has taken SHOW_AFTER seconds. Elsewhere (CI, nohup, slurm, a pipe) one plain line
goes to stderr once the work has taken LOG_EVERY seconds and again at least every
LOG_EVERY seconds after that:

    simrl prereg run experiments/x: 1200/4800 run-steps (25%), elapsed 31 s, ETA 93 s

Lines are written when the work reports progress and, between reports (a long step, a
first numba compile), by a heartbeat thread with the last count known. The clock, the
stream and the heartbeat are parameters, so the cadence is tested with a fake clock.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

#: seconds of work before a bar is shown on a terminal
SHOW_AFTER = 2.0
#: seconds between two progress lines in a log (not a terminal)
LOG_EVERY = 30.0


def format_seconds(s: float) -> str:
    """42 s, 3 min 05 s, 1 h 02 min."""
    s = max(0.0, s)
    if s < 60:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60):02d} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


class LazyProgress:
    """Callable progress(done, total).

    enabled=False: silent. On a terminal: a rich bar (with ETA) once SHOW_AFTER has passed.
    Otherwise: a line on `stream` every `every` seconds (the first after `every` seconds),
    with the count, the share done, the elapsed time and the ETA; `unit` names what is
    counted. `clock` (monotonic seconds) and `tty` are for tests.
    """

    def __init__(
        self,
        description: str,
        enabled: bool = True,
        *,
        unit: str = "steps",
        every: float = LOG_EVERY,
        clock: Callable[[], float] = time.monotonic,
        stream: TextIO | None = None,
        tty: bool | None = None,
        heartbeat: bool = True,
    ):
        self.description = description
        self.unit = unit
        self.every = every
        self.clock = clock
        self.stream = stream if stream is not None else sys.stderr
        is_tty = self.stream.isatty() if tty is None else tty
        self.enabled = enabled and is_tty  # the bar (kept: callers test it for "on a terminal")
        self.log = enabled and not is_tty
        self.start = clock()
        self._last_line = self.start
        self._bar = None
        self._task = None
        self._known: tuple[int, int] | None = None
        self._first: tuple[float, int] | None = None  # (time, done) of the first report
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        if self.log and heartbeat:
            self._thread = threading.Thread(target=self._beat_loop, daemon=True)
            self._thread.start()

    def __call__(self, done: int, total: int) -> None:
        if self.log:
            if self._first is None:
                self._first = (self.clock(), done)
            self._known = (done, total)
            self.beat()
            return
        if not self.enabled:
            return
        if self._bar is None:
            if self.clock() - self.start < SHOW_AFTER:
                return
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                transient=True,
                console=Console(file=self.stream),
            )
            self._bar.start()
            self._task = self._bar.add_task(self.description, total=total)
        self._bar.update(self._task, completed=done, total=total)

    def beat(self) -> None:
        """Write a log line if `every` seconds have passed since the last one."""
        with self._lock:
            now = self.clock()
            if now - self._last_line < self.every:
                return
            self._last_line = now
            elapsed = now - self.start
            if self._known is None:
                text = f"{self.description}: starting, elapsed {format_seconds(elapsed)}"
            else:
                text = self.line(*self._known, elapsed, self._rate(now))
            self.stream.write(text + "\n")
            self.stream.flush()

    def _beat_loop(self) -> None:
        while not self._stop.wait(min(self.every / 6, 5.0)):
            self.beat()

    def _rate(self, now: float) -> float | None:
        """Work per second since the first report (so a resumed study's stored work and the
        time before the first report do not count), or over the elapsed time if there has
        been one report only."""
        if self._known is None or self._first is None:
            return None
        (t0, d0), done = self._first, self._known[0]
        if done > d0 and now > t0:
            return (done - d0) / (now - t0)
        return done / (now - self.start) if done > 0 and now > self.start else None

    def line(self, done: int, total: int, elapsed: float, rate: float | None = None) -> str:
        """The log line: count, share, elapsed time and ETA (the remaining work at `rate`,
        by default done / elapsed)."""
        share = f" ({100 * done / total:.0f}%)" if total else ""
        if rate is None and done > 0 and elapsed > 0:
            rate = done / elapsed
        eta = f", ETA {format_seconds((total - done) / rate)}" if rate and done <= total else ""
        return (
            f"{self.description}: {done}/{total} {self.unit}{share}, "
            f"elapsed {format_seconds(elapsed)}{eta}"
        )

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._bar is not None:
            self._bar.stop()

    def __enter__(self) -> LazyProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
