"""The bench's numpy baseline computes the same trajectories as the engine (an honest
baseline), so the speed-up it reports compares like with like."""

import io
import subprocess
import sys

import numpy as np
import pytest

from simrl.bench import numpy_baseline, sampled_tokens, w1_config, w2_config
from simrl.engine.batch import RunSpec, run_batch
from simrl.tasks import build_bandit, build_task


def test_baseline_matches_engine_on_w1():
    cfg = w1_config(runs=3, steps=15)
    task = build_bandit(cfg.task)
    res = run_batch([RunSpec(cfg, i) for i in range(3)])
    acc_col = res.names.index("acc")
    for i in range(3):
        z, trace = numpy_baseline(cfg, task, i)
        np.testing.assert_allclose(z, res.logits[i], atol=1e-9, rtol=0)
        np.testing.assert_allclose(trace[:, 0], res.metrics[i, 1:, acc_col], atol=1e-9, rtol=0)


def test_w2_counts_the_tokens_it_samples():
    """W2's rate counts each sampled token once: max_len 8 fixed, 64 prompts x 8 responses."""
    cfg = w2_config(runs=2, steps=3)
    task = build_task(cfg.task)
    assert (task.max_len, task.shape[1], (task.leaf_len == 8).all()) == (8, 8, True)
    res = run_batch([RunSpec(cfg, i, task=task) for i in range(2)])
    assert sampled_tokens(res) == 2 * 3 * 64 * 8 * 8


def test_bench_loss_runs_paired_with_the_default():
    """`simrl bench --loss NAME` at tiny sizes: W1 for any loss, and W2 as well for a
    per-response one; rates and the ratio are finite and positive."""
    from rich.console import Console

    from simrl.bench import run_bench_loss

    quiet = Console(file=io.StringIO())
    out = run_bench_loss("cispo", runs=2, steps=2, repeats=1, console=quiet)
    assert set(out) == {"loss", "default", "W1"} and out["default"] == "vanilla"
    assert out["W1"]["cispo"] > 0 and out["W1"]["vanilla"] > 0
    assert np.isclose(out["W1"]["ratio"], out["W1"]["cispo"] / out["W1"]["vanilla"])
    out = run_bench_loss("gspo", runs=2, steps=2, repeats=1, console=quiet)
    assert set(out) == {"loss", "default", "W1", "W2"}
    assert all(np.isfinite(out[w]["ratio"]) and out[w]["ratio"] > 0 for w in ("W1", "W2"))


def test_bench_linear_runs_paired_with_the_tabular_w1():
    """`simrl bench --linear` at tiny sizes: W1 with a linear policy (d = 16) and the
    tabular W1, rates finite and positive, the ratio theirs."""
    from rich.console import Console

    from simrl.bench import run_bench_linear, w1_linear_config

    cfg = w1_linear_config(2, 2)
    assert (cfg.policy.kind, cfg.policy.dim) == ("linear", 16)
    out = run_bench_linear(2, 2, 1, console=Console(file=io.StringIO()))
    assert out["linear"] > 0 and out["tabular"] > 0
    assert np.isclose(out["ratio"], out["linear"] / out["tabular"])


def test_bench_bad_loss_is_one_line_exit_2():
    p = subprocess.run(
        [sys.executable, "-m", "simrl", "bench", "--loss", "nope", "--runs", "1"],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.count("\n") == 1 and "--loss" in p.stderr and "vanilla" in p.stderr


@pytest.mark.slow
def test_run_bench_reports_progress_through_every_phase():
    import io

    from rich.console import Console

    from simrl.bench import run_bench

    seen = []
    run_bench(
        2, 2, 1, 2, console=Console(file=io.StringIO()), progress=lambda d, t: seen.append((d, t))
    )
    assert seen == [(d, 6 * 2 + 7) for d in range(1, 6 * 2 + 8)]


def test_the_host_line_names_cpu_cores_and_load():
    import os

    from simrl.bench import cpu_model, host_line

    line = host_line()
    assert line.startswith(f"host: {cpu_model()}, {os.cpu_count()} cores, numba threads ")
    assert "load average" in line
