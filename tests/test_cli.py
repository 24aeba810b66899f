"""Each entry point, smoke-tested with a tiny budget in a subprocess (as a user runs it);
the error paths in-process through simrl.cli.main (the same code without a new
interpreter), with one of them also through a subprocess."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from simrl import Config
from simrl.examples_path import EXAMPLES

QUICK = ["--set", "run.steps=5", "--set", "run.seeds=3"]


def simrl(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "simrl", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """simrl.cli.main in-process: (exit code, stdout, stderr); argparse's exits included."""
    from simrl.cli import main

    try:
        code = main(list(args))
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_version():
    out = simrl("--version")
    assert out.returncode == 0 and out.stdout.startswith("simrl ")


HEAVY = ("numba", "pandas", "scipy", "torch")
IMPORTS_AFTER = """
import sys
from simrl.cli import main
try:
    code = main({args!r})
except SystemExit as e:  # argparse's --version
    code = e.code
print(code, [m for m in {heavy!r} if m in sys.modules])
"""


@pytest.mark.parametrize(
    "args",
    [
        ["--version"],
        ["run", str(EXAMPLES / "quickstart.toml"), "--set", "algo.group_size=1"],
        ["bridge", "run", str(EXAMPLES / "bridge.toml"), "--set", "bridge.d_model=-1"],
        ["prereg", "analyze", "no/such/study"],
    ],
    ids=["version", "bad-run-config", "bad-bridge-config", "no-such-study"],
)
def test_cli_answers_before_loading_numba_or_torch(args):
    """--version and a bad config answer at once: the heavy libraries (seconds of imports)
    load only after the checks (simrl/_lazy.py)."""
    script = IMPORTS_AFTER.format(args=args, heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    code, loaded = out.stdout.strip().splitlines()[-1].split(" ", 1)
    assert code in ("0", "2") and loaded == "[]", (out.stdout, out.stderr)


def test_run_writes_outputs_and_summary(tmp_path):
    out = simrl(
        "run",
        str(EXAMPLES / "quickstart.toml"),
        *QUICK,
        "--set",
        "algo.loss=clip_cov",
        "--out",
        str(tmp_path),
    )
    assert out.returncode == 0, out.stderr
    assert "acc" in out.stdout
    metrics = pd.read_parquet(tmp_path / "metrics.parquet")
    final = pd.read_parquet(tmp_path / "final.parquet")
    assert {"seed", "step", "acc", "entropy_mean", "dH_exact"} <= set(metrics.columns)
    assert sorted(metrics.step.unique()) == [0, 5]  # eval_every 5 in the example
    assert len(final) == 3
    resolved = Config.from_toml(tmp_path / "config.toml")
    assert resolved.algo.loss == "clip_cov" and resolved.run.steps == 5
    assert 'simrl_version = "' in (tmp_path / "config.toml").read_text()


def test_rerun_same_config_is_bitwise_identical(tmp_path):
    for name in ("a", "b"):
        assert (
            simrl(
                "run",
                str(EXAMPLES / "quickstart.toml"),
                *QUICK,
                "--quiet",
                "--out",
                str(tmp_path / name),
            ).returncode
            == 0
        )
    a, b = (pd.read_parquet(tmp_path / n / "metrics.parquet") for n in ("a", "b"))
    pd.testing.assert_frame_equal(a, b, check_exact=True)


@pytest.mark.parametrize(
    "args, field",
    [
        (["--set", "algo.lr=0.1"], "algo.lr"),
        (["--set", "optim.lr=-1"], "optim.lr"),
        (["--set", "algo.loss=clipcov"], "algo.loss"),
        (["--set", "reward.kind=format"], "reward.kind"),
        (["--set", "nonsense"], "--set"),
        (["--set", "run.passk=[0]"], "run.passk"),
    ],
)
def test_bad_config_is_one_line_exit_2_no_traceback(capsys, args, field):
    code, _, err = cli(capsys, "run", str(EXAMPLES / "quickstart.toml"), *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and field in lines[0], err


def test_bad_config_through_the_entry_point_is_one_line():
    out = simrl("run", str(EXAMPLES / "quickstart.toml"), "--set", "algo.loss=clipcov")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "algo.loss" in lines[0], out.stderr


def test_missing_config_file_and_bad_toml(capsys, tmp_path):
    code, _, err = cli(capsys, "run", str(tmp_path / "nope.toml"))
    assert code == 2 and len(err.strip().splitlines()) == 1
    bad = tmp_path / "bad.toml"
    bad.write_text("[algo\nlr = ")
    code, _, err = cli(capsys, "run", str(bad))
    assert code == 2 and "valid TOML" in err and len(err.strip().splitlines()) == 1


def test_usage_errors_are_one_line(capsys):
    code, _, err = cli(capsys, "frobnicate")
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_non_finite_run_is_one_line_exit_3(tmp_path):
    out = simrl(
        "run",
        str(EXAMPLES / "quickstart.toml"),
        *QUICK,
        "--set",
        "optim.kind=sgd",
        "--set",
        "optim.lr=1e308",
        "--set",
        "algo.agg=token-sum-norm",
        "--out",
        str(tmp_path),
    )
    assert out.returncode == 3
    assert "non-finite" in out.stderr and "step" in out.stderr and "Traceback" not in out.stderr


def test_help_everywhere(capsys):
    for args in (["--help"], ["run", "--help"], ["bench", "--help"], ["figs", "--help"]):
        code, out, _ = cli(capsys, *args)
        assert code == 0 and "usage" in out


def test_bench_smoke():
    out = simrl("bench", "--runs", "4", "--steps", "3", "--baseline-runs", "2", "--repeats", "1")
    assert out.returncode == 0, out.stderr
    assert "answers/s" in out.stdout and "per-run numpy baseline" in out.stdout


def _quick_config(tmp_path, **extra):
    text = (EXAMPLES / "quickstart.toml").read_text()
    text = text.replace("steps = 200", "steps = 4").replace("seeds = 64", "seeds = 3")
    path = tmp_path / "quick.toml"
    path.write_text(text)
    return path


def test_run_out_replaces_a_folder_only_when_forced_and_complete(capsys, tmp_path):
    cfg = _quick_config(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    code, _, err = cli(capsys, "run", str(cfg), "--out", str(out), "--quiet")
    assert code == 2 and "--force" in err and (out / "old.txt").is_file()
    code, _, _ = cli(capsys, "run", str(cfg), "--out", str(out), "--quiet", "--force")
    assert code == 0 and not (out / "old.txt").exists()
    assert {p.name for p in out.iterdir()} == {"metrics.parquet", "final.parquet", "config.toml"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no temp left


def test_outputs_respect_the_umask(capsys, tmp_path):
    cfg = _quick_config(tmp_path)
    old = os.umask(0o022)
    try:
        assert cli(capsys, "run", str(cfg), "--out", str(tmp_path / "o"), "--quiet")[0] == 0
    finally:
        os.umask(old)
    assert (tmp_path / "o" / "final.parquet").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "o").stat().st_mode & 0o777 == 0o755


def test_a_killed_run_leaves_the_old_output_whole(capsys, tmp_path, monkeypatch):
    cfg = _quick_config(tmp_path)
    out = tmp_path / "o"
    assert cli(capsys, "run", str(cfg), "--out", str(out), "--quiet")[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    import importlib

    simulate_module = importlib.import_module("simrl.simulate")

    def interrupted(self, path):  # Ctrl-C between the second and third file
        from simrl import io

        io.write_parquet(path / "metrics.parquet", self.metrics)
        raise KeyboardInterrupt

    monkeypatch.setattr(simulate_module.Result, "save", interrupted)
    code, _, err = cli(capsys, "run", str(cfg), "--out", str(out), "--quiet", "--force")
    assert code == 130 and len(err.strip().splitlines()) == 1 and "interrupted" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".o.")]


def test_the_summary_counts_failed_runs_separately(capsys, tmp_path):
    cfg = _quick_config(tmp_path)
    code, out, _ = cli(
        capsys, "run", str(cfg), "--out", str(tmp_path / "o"),
        "--set", "optim.kind=sgd", "--set", "optim.lr=1e308",
        "--set", "algo.agg=token-sum-norm", "--set", "run.on_nonfinite=record",
    )  # fmt: skip
    assert code == 0
    assert "of 3 failed, not counted" in out


def test_figs_never_imports_scripts_of_the_current_folder(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "paper_figs").mkdir()
    marker = tmp_path / "PWNED"
    (tmp_path / "paper_figs" / "fig01_evil.py").write_text(
        f"open({str(marker)!r}, 'w').write('x')\n"
    )
    # the registered scripts are the shipped ones; a bad --only answers after discovery
    code, _, err = cli(capsys, "figs", "--only", "no_such_figure")
    assert code == 2 and "no_such_figure" in err
    assert not marker.exists()


def test_pool_workers_die_with_their_driver(tmp_path):
    script = f"""
import os, sys, time
from concurrent.futures import ProcessPoolExecutor
import multiprocessing as mp
from simrl.prereg.executors import _worker_init
if __name__ == "__main__":
    pool = ProcessPoolExecutor(2, mp_context=mp.get_context("spawn"), initializer=_worker_init,
                               initargs=(1, os.getpid()))
    pids = {{pool.submit(os.getpid).result() for _ in range(8)}}
    busy = [pool.submit(time.sleep, 60) for _ in range(2)]  # workers mid-task
    time.sleep(1)
    open({str(tmp_path / "pids")!r}, "w").write(" ".join(map(str, pids)))
    os._exit(0)  # the driver dies without shutting the pool down
"""
    subprocess.run(
        [sys.executable, "-c", script], timeout=120, check=True, stdout=subprocess.DEVNULL
    )
    import time

    pids = [int(p) for p in (tmp_path / "pids").read_text().split()]
    deadline = time.monotonic() + 20
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [p for p in pids if Path(f"/proc/{p}").exists() and "Z" not in _state(p)]
        time.sleep(0.2)
    assert not alive


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return "Z"


def test_a_closed_pipe_ends_the_output_quietly():
    """`simrl recipes | head -1`: the reader leaves early; no 'run-time fault', exit 0."""
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "simrl", "recipes"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.readline()
    proc.stdout.close()  # as `head -1` does after its line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, err
    assert err == ""
