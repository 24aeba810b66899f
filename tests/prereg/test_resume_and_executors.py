"""The store: a run killed with SIGKILL resumes with the missing cells only, and its results
are bitwise those of an uninterrupted run; every executor gives the same bytes."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from simrl.prereg.analysis import analyze
from simrl.prereg.grid import expand
from simrl.prereg.lock import register
from simrl.prereg.runner import run_study
from simrl.prereg.spec import load_study
from simrl.prereg.store import Store
from tests.prereg.conftest import TINY, simrl, write_study

#: heavier cells, so that a kill lands between the first and the last one
SLOW = (
    TINY.format(absent_sesoi=0.05)
    .replace("steps = 40", "steps = 800")
    .replace("eval_every = 20", "eval_every = 400")
    .replace("acc@20", "acc@400")
    .replace("num_prompts = 8, num_answers = 4", "num_prompts = 64, num_answers = 16")
)


def cell_bytes(study_dir: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes() for p in sorted((study_dir / "results" / "cells").glob("*.parquet"))
    }


def test_sigkill_then_resume_gives_the_uninterrupted_results(tmp_path):
    killed = write_study(tmp_path, "killed", SLOW)
    whole = write_study(tmp_path, "whole", SLOW)
    register(killed)
    register(whole)
    cells_dir = killed / "results" / "cells"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simrl",
            "prereg",
            "run",
            str(killed),
            "--runs-per-unit",
            "12",
            "--quiet",
        ],
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while not (cells_dir.is_dir() and any(cells_dir.glob("*.parquet"))):
        assert proc.poll() is None, "the run ended before its first cell was stored"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    study = load_study(killed)
    cells = expand(study)
    stored = len(cells) - len(Store(killed).missing(cells))
    assert 0 < stored < len(cells), (
        f"the kill should land mid-run ({stored} of {len(cells)} stored)"
    )
    partial = cell_bytes(killed)

    rep = run_study(killed, runs_per_unit=12)
    assert rep.stored_before == stored and rep.ran_cells == len(cells) - stored
    after = cell_bytes(killed)
    assert all(after[name] == data for name, data in partial.items())  # finished cells untouched
    run_study(whole)
    assert after == cell_bytes(whole)
    pd.testing.assert_frame_equal(analyze(killed).results, analyze(whole).results, check_exact=True)
    assert not list(cells_dir.glob(".*"))  # no temporary file left behind


def test_a_complete_study_runs_nothing(tiny):
    register(tiny)
    first = run_study(tiny)
    again = run_study(tiny)
    assert first.ran_cells == 16 and again.ran_cells == 0 and again.stored_before == 16


def test_local_workers_give_identical_results(tmp_path):
    one, two = write_study(tmp_path, "one"), write_study(tmp_path, "two")
    register(one)
    register(two)
    run_study(one, workers=1)
    rep = run_study(two, workers=2, runs_per_unit=48)
    assert rep.units >= 2
    assert cell_bytes(one) == cell_bytes(two) and len(cell_bytes(one)) == 16


def test_ray_executor_gives_identical_results(tmp_path):
    pytest.importorskip("ray")
    local, on_ray = write_study(tmp_path, "local"), write_study(tmp_path, "ray")
    register(local)
    register(on_ray)
    run_study(local)
    rep = run_study(on_ray, executor="ray", runs_per_unit=48)
    assert rep.units >= 2
    assert cell_bytes(local) == cell_bytes(on_ray)


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """simrl's main() in this process (the subprocess tests cover the entry point itself)."""
    from simrl.cli import main

    try:
        code = main(list(args))
    except SystemExit as e:  # argparse usage errors
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_run_refuses_bad_options_in_one_line(tiny, capsys):
    register(tiny)
    for args in (["--workers", "0"], ["--executor", "slurm"], ["--runs-per-unit", "0"]):
        code, _, err = cli(capsys, "prereg", "run", str(tiny), *args)
        assert code == 2, err
        assert len(err.strip().splitlines()) == 1, err
    assert not (tiny / "results").exists()


def test_cli_dry_run_counts_and_estimates(tiny, capsys):
    code, out, err = cli(capsys, "prereg", "run", str(tiny), "--dry-run")
    assert code == 0, err
    assert "16 cells, 192 runs" in out and "estimated" in out
    assert not (tiny / "results" / "cells").exists()  # a dry run stores nothing
    assert not (tiny / "prereg.lock.json").exists()  # and sizes a study before registration


def test_cli_register_run_analyze_end_to_end(tiny):
    assert simrl("prereg", "register", str(tiny)).returncode == 0
    assert simrl("prereg", "run", str(tiny)).returncode == 0
    out = simrl("prereg", "analyze", str(tiny))
    assert out.returncode == 0, out.stderr
    assert f"wrote {tiny / 'report.md'}" in out.stdout
    report = (tiny / "report.md").read_text()
    for section in ("## Verdicts", "## Exploratory", "## Deviations", "## Provenance"):
        assert section in report
    for fig in ("cell_means.png", "decomposition.png", "trajectories.png"):
        assert (tiny / "figures" / fig).stat().st_size > 1000
        assert f"figures/{fig}" in report
    res = pd.read_parquet(tiny / "results.parquet")
    assert len(res) == 16 * 12 and {"acc", "acc@20", "entropy_mean", "seed", "excluded"} <= set(
        res.columns
    )


def test_the_dry_run_estimate_separates_a_calls_fixed_cost_from_its_run_steps(
    tmp_path, monkeypatch
):
    """prereg's time estimate on a fake clock: a call costs FIXED plus PER per run-step, so
    the probe's two lengths must recover both, charging FIXED once per unit (not to every
    run-step, which made real estimates ~4x too long) and nothing for the warm-up calls."""
    from simrl.prereg import runner
    from simrl.prereg.grid import expand, units
    from simrl.prereg.spec import load_study
    from tests.prereg.conftest import write_study

    FIXED, PER = 0.5, 1e-4
    clock = [0.0]

    def fake_run_batch(specs, engine=None):
        clock[0] += FIXED + PER * sum(s.config.run.steps for s in specs)

    monkeypatch.setattr(runner, "run_batch", fake_run_batch)
    monkeypatch.setattr(runner.time, "perf_counter", lambda: clock[0])
    study = load_study(write_study(tmp_path, absent_sesoi=0.05))
    cells = expand(study)
    got = runner._estimate(study, cells, workers=1)
    want = PER * sum(c.runs for c in cells) * study.steps + FIXED * len(units(study, cells, 1))
    assert abs(got - want) < 1e-9 * want
