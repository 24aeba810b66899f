"""simrl/progress.py in a log (not a terminal): a line at least every LOG_EVERY seconds of
work, with the count and an ETA; nothing for short work; nothing when disabled. A fake
clock stands in for time (no sleeping)."""

from __future__ import annotations

import io

from simrl.progress import LOG_EVERY, LazyProgress, format_seconds


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def make(enabled=True):
    clock, out = FakeClock(), io.StringIO()
    p = LazyProgress(
        "simrl run x.toml", enabled, clock=clock, stream=out, tty=False, heartbeat=False
    )
    return p, clock, out


def test_short_work_prints_nothing():
    p, clock, out = make()
    for done in range(1, 11):
        clock.t += 2.0  # 20 s in all
        p(done, 10)
    assert out.getvalue() == ""


def test_a_line_at_least_every_30_s_with_eta():
    p, clock, out = make()
    times = []
    for done in range(1, 301):
        clock.t += 1.0  # 1 s per call, 300 s in all
        before = out.getvalue().count("\n")
        p(done, 300)
        if out.getvalue().count("\n") > before:
            times.append(clock.t - 100.0)
    lines = out.getvalue().splitlines()
    assert times == [30.0 * k for k in range(1, 11)]
    assert lines[0] == "simrl run x.toml: 30/300 steps (10%), elapsed 30 s, ETA 4 min 30 s"
    assert lines[-1].startswith("simrl run x.toml: 300/300 steps (100%), elapsed 5 min 00 s")


def test_uneven_calls_keep_the_cadence():
    # calls 7 s apart: a line at the first call at or after each 30 s since the last line
    p, clock, out = make()
    stamps = []
    for done in range(1, 40):
        clock.t += 7.0
        n = out.getvalue().count("\n")
        p(done, 39)
        if out.getvalue().count("\n") > n:
            stamps.append(clock.t - 100.0)
    gaps = [b - a for a, b in zip([0.0, *stamps], stamps, strict=False)]
    assert all(LOG_EVERY <= g < LOG_EVERY + 7.0 for g in gaps)
    assert len(stamps) == 7  # 273 s of work


def test_disabled_is_silent():
    p, clock, out = make(enabled=False)
    for done in range(1, 100):
        clock.t += 10.0
        p(done, 100)
    assert out.getvalue() == ""
    assert not p.enabled and not p.log


def test_format_seconds():
    assert format_seconds(4.4) == "4 s"
    assert format_seconds(65) == "1 min 05 s"
    assert format_seconds(3725) == "1 h 02 min"


def test_heartbeat_between_reports():
    # a long silent stretch (a first compile, a long step): beat() (the heartbeat thread's
    # call) writes a line every 30 s with the last count known
    p, clock, out = make()
    clock.t += 29.0
    p.beat()
    assert out.getvalue() == ""
    clock.t += 1.0
    p.beat()
    assert out.getvalue() == "simrl run x.toml: starting, elapsed 30 s\n"
    clock.t += 5.0
    p(1, 4)  # 35 s: the last line was 5 s ago, none now
    assert out.getvalue().count("\n") == 1
    clock.t += 25.0
    p.beat()  # 60 s
    assert out.getvalue().splitlines()[-1] == (
        "simrl run x.toml: 1/4 steps (25%), elapsed 1 min 00 s, ETA 3 min 00 s"
    )


def test_the_heartbeat_thread_stops_on_close():
    out = io.StringIO()
    with LazyProgress("x", stream=out, tty=False) as p:
        assert p._thread is not None and p._thread.is_alive()
    assert not p._thread.is_alive()
    assert out.getvalue() == ""


def test_eta_ignores_work_done_before_the_first_report():
    # a resumed study reports its stored runs first: they took no time now
    p, clock, out = make()
    p(900, 1000)  # at start: 900 stored
    clock.t += 40.0
    p(920, 1000)  # 20 runs in 40 s
    assert out.getvalue() == (
        "simrl run x.toml: 920/1000 steps (92%), elapsed 40 s, ETA 2 min 40 s\n"
    )
