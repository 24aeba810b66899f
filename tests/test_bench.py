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

    from simrl.bench_linear import run_bench_linear, w1_linear_config

    cfg = w1_linear_config(2, 2)
    assert (cfg.policy.kind, cfg.policy.dim) == ("linear", 16)
    out = run_bench_linear(2, 2, 1, console=Console(file=io.StringIO()))
    assert out["linear"] > 0 and out["tabular"] > 0
    assert np.isclose(out["ratio"], out["linear"] / out["tabular"])


@pytest.mark.parametrize(
    ("args", "field", "allowed"),
    [
        (["--loss", "nope", "--runs", "1"], "--loss", "vanilla"),
        (["--only", "w9"], "--only", "peer"),
    ],
)
def test_bench_bad_argument_is_one_line_exit_2(args, field, allowed):
    p = subprocess.run(
        [sys.executable, "-m", "simrl", "bench", *args], capture_output=True, text=True
    )
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.count("\n") == 1 and field in p.stderr and allowed in p.stderr


@pytest.mark.slow
def test_run_bench_reports_progress_through_every_phase():
    import io

    from rich.console import Console

    from simrl.bench import run_bench

    seen = []
    run_bench(
        2, 2, 1, 2, console=Console(file=io.StringIO()), progress=lambda d, t: seen.append((d, t))
    )
    assert seen == [(d, 9 * 2 + 10) for d in range(1, 9 * 2 + 11)]


def test_the_host_line_names_cpu_cores_and_load():
    import os

    from simrl.bench import cpu_model, host_line

    line = host_line()
    assert line.startswith(f"host: {cpu_model()}, {os.cpu_count()} cores, numba threads ")
    assert "load average" in line


def test_light_kernel_matches_engine_on_w1():
    """The W1 speed-of-light kernel computes the engine's trajectories (same uniforms, same
    rule): the final logits agree to round-off."""
    from simrl.bench_sol import w1_light, w1_light_inputs

    cfg = w1_config(runs=3, steps=15)
    res = run_batch([RunSpec(cfg, i) for i in range(3)])
    z = w1_light(*w1_light_inputs(cfg, range(3)))
    assert not np.array_equal(res.logits, np.broadcast_to(res.tasks[0].base_logits, z.shape))
    np.testing.assert_allclose(z, res.logits, atol=1e-9, rtol=0)


def test_light_kernel_matches_engine_on_w2():
    """The W2 kernel: the engine's logits to round-off (padded entries stay -1e30) and the
    engine's count of sampled tokens; also with a prompt subset drawn each step, shorter
    responses and answers drawn by the environment (task.answer = 'env')."""
    from simrl.bench_sol import w2_light, w2_light_inputs

    for over in (
        {},
        {"algo.prompts_per_step": 16, "task.reasoning_tokens": 3},
        {"task.answer": "env", "algo.prompts_per_step": 16},
    ):
        cfg = w2_config(runs=2, steps=6).replace(**over)
        task = build_task(cfg.task)
        res = run_batch([RunSpec(cfg, i, task=task) for i in range(2)])
        z, tokens = w2_light(*w2_light_inputs(cfg, range(2), task))
        assert not np.array_equal(res.logits[0], task.base_logits)
        np.testing.assert_allclose(z, res.logits, atol=1e-9, rtol=0)
        assert tokens.sum() == sampled_tokens(res)


def test_light_kernels_refuse_what_they_do_not_compute():
    from simrl.bench_sol import w1_light_inputs, w2_light_inputs

    for over in ({"algo.loss": "cispo"}, {"optim.kind": "adam"}, {"algo.prompts_per_step": 8}):
        with pytest.raises(ValueError, match="speed-of-light"):
            w1_light_inputs(w1_config(2, 2).replace(**over), range(2))
    with pytest.raises(ValueError, match="speed-of-light"):
        w2_light_inputs(w2_config(2, 2).replace(**{"algo.loss": "cispo"}), range(2))


def test_light_fraction_pairs():
    from simrl.bench_sol import light_fraction

    f = light_fraction([2.0, 4.0, 3.0], [1.0, 1.0, 1.5])
    assert f["best"] == 0.5 and f["pairs"] == [0.25, 0.5, 0.5] and f["median"] == 0.5


def test_peer_sweep_is_twenty_cells_of_twelve_seeds():
    from simrl.bench_peer import answers, peer_specs

    specs = peer_specs()
    cells = {(s.config.task.prior_strength, s.config.reward.kind) for s in specs}
    assert len(specs) == 240 and len(cells) == 20
    c = specs[0].config
    assert (c.task.num_prompts, c.task.num_answers, c.task.num_correct) == (50, 8, 2)
    assert (c.algo.group_size, c.prompts_per_step, c.run.steps) == (8, 16, 200)
    assert answers(specs) == 240 * 200 * 16 * 8
    res = run_batch(peer_specs(seeds=1, steps=2))  # one batched call runs every cell
    assert res.metrics.shape[0] == 20 and np.isfinite(res.logits).all()


def test_bench_against_a_bad_revision_is_one_line_exit_2():
    p = subprocess.run(
        [sys.executable, "-m", "simrl", "bench", "--against", "no-such-revision-xyz"],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.count("\n") == 1 and "--against" in p.stderr


def test_bench_against_exports_a_revision_once(tmp_path, monkeypatch):
    """The reference revision's files land in a cache folder named by its commit, once."""
    from simrl.bench_against import reference_tree, resolve, this_tree

    here = this_tree()
    if not (here / ".git").exists():
        pytest.skip("not a git checkout")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    sha = resolve("HEAD", here)
    tree = reference_tree(sha, here)
    assert tree.name == sha and (tree / "simrl" / "bench.py").is_file()
    assert reference_tree(sha, here) == tree


def test_bench_against_timing_process_runs_in_a_tree():
    """The timing process --against runs in each tree (here: this one) reports W1 and W2."""
    from simrl.bench_against import this_tree, time_tree

    got = time_tree(this_tree(), 2, 2)
    assert set(got) == {"W1", "W2"} and all(v > 0 for v in got.values())


def test_only_parts_phases_add_up_to_the_full_bench():
    from simrl.bench import PARTS

    for r in range(1, 6):
        assert sum(f(r) for f in PARTS.values()) == 9 * r + 10


def test_only_parses_in_bench_order_and_refuses_unknown_parts():
    from simrl.bench_cli import parse_only
    from simrl.errors import ConfigError

    assert parse_only(None) == ("w1", "w2", "peer", "linear")
    assert parse_only("W2, w1") == ("w1", "w2")
    for bad in ("w3", "", "w1,,x"):
        with pytest.raises(ConfigError) as e:
            parse_only(bad)
        assert e.value.field == "--only" and "w1, w2, peer, linear" in str(e.value)


@pytest.mark.slow
def test_run_bench_only_w1_times_w1_alone():
    import io

    from rich.console import Console

    from simrl.bench import PARTS, run_bench

    seen = []
    out = run_bench(
        2, 2, 1, 2, console=Console(file=io.StringIO()), progress=lambda d, t: seen.append((d, t)),
        only=("w1",),
    )  # fmt: skip
    assert seen == [(d, PARTS["w1"](2)) for d in range(1, PARTS["w1"](2) + 1)]
    assert "w1_light_fraction" in out and "w2" not in out and "peer_sweep" not in out
