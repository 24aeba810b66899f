"""A bridge cell's progress lines (simrl/prereg/executors.py CellProgress): on stderr, at
most one per interval and always the last, never into the cell."""

from simrl.prereg.executors import CellProgress


def test_lines_are_rate_limited_and_the_last_always_shows(capsys):
    p = CellProgress("abcdef0123456789", every_s=3600.0)
    for t in range(1, 10):
        p(t, 10)
    assert capsys.readouterr().err == ""
    p(10, 10)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bridge cell abcdef012345: run-step 10/10" in err
    assert "ETA 0 s" in err


def test_every_step_with_no_interval(capsys):
    p = CellProgress("k", every_s=0.0)
    p(1, 4)
    p(2, 4)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(",")[0] for line in lines] == [
        "bridge cell k: run-step 1/4",
        "bridge cell k: run-step 2/4",
    ]


def test_run_steps_read_back_from_seed_checkpoints_are_not_in_the_rate(capsys):
    p = CellProgress("k", every_s=0.0)
    p.skip(8)  # one seed of 8 steps read back, none run yet: no rate to go on
    p(8, 16)
    assert "ETA nan s" in capsys.readouterr().err
    q = CellProgress("k", every_s=0.0)
    q(8, 16)
    assert "ETA nan" not in capsys.readouterr().err
