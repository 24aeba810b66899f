"""A phase clock for the warm-path scripts (warm_phases_run.py, warm_phases_demo.py): mark
the end of each phase, then print CPU (process_time) and wall seconds per phase."""

from __future__ import annotations

import time


class PhaseClock:
    def __init__(self) -> None:
        self.start = (time.perf_counter(), time.process_time())
        self.marks: list[tuple[str, float, float]] = []

    def mark(self, name: str) -> None:
        self.marks.append((name, time.perf_counter(), time.process_time()))

    def report(self) -> None:
        prev = self.start
        for name, w, c in self.marks:
            print(f"{c - prev[1]:7.3f} CPU s {w - prev[0]:7.3f} wall s  {name}")
            prev = (w, c)
        total_c, total_w = prev[1] - self.start[1], prev[0] - self.start[0]
        print(f"{total_c:7.3f} CPU s {total_w:7.3f} wall s  in all (after start-up)")
