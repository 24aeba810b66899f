"""A cold numba cache says so on stderr, also when stderr is not a terminal, and the
--dry-run estimates count the compile (simrl/engine/compile_cost.py)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from simrl.engine import compile_cost

ROOT = Path(__file__).parents[2]
QUICKSTART = ROOT / "simrl" / "examples" / "quickstart.toml"

#: the notice for the quickstart's kernels, and what `needed` says of each (no compile)
NOTICE = """
import sys
from simrl.config import Config
from simrl.engine import compile_cost
cfg = Config.from_toml(sys.argv[1])
print({k.key: k.cold for k in compile_cost.needed([cfg])})
compile_cost.announce([cfg])
"""


def python(code: str, cache: Path, *args: str) -> subprocess.CompletedProcess:
    """A subprocess with its own numba cache, stdout and stderr pipes (not a TTY)."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip


def test_empty_cache_is_announced_on_a_pipe(tmp_path):
    out = python(NOTICE, tmp_path, str(QUICKSTART))
    assert out.returncode == 0, out.stderr
    cold = ast.literal_eval(out.stdout)
    assert cold == {
        "bandit.run_chunk": True,
        "loss.vanilla": True,
        "advantage.grpo": True,
        "optimiser.adam": True,
        "hook.stubs": True,  # the features it does not use: stubs (kernels/hooks.py)
    }
    line = [x for x in out.stderr.splitlines() if "compiling kernels for first use" in x]
    assert len(line) == 1, out.stderr
    assert str(tmp_path) in line[0] and "bandit.run_chunk" in line[0]
    seconds = float(line[0].split(": ~")[1].split(" s,")[0])
    assert seconds == pytest.approx(
        sum(compile_cost.estimate(k) for k in cold) + compile_cost.estimate("numba_init"), abs=1
    )


def test_a_compiled_kernel_is_no_longer_cold(tmp_path):
    """A tiny subset: compile the optimiser's cfunc (seconds) into the fresh cache; a new
    process finds it there and still finds the step kernel cold."""
    first = python(
        "import simrl.config\nfrom simrl.algorithms import optimiser\noptimiser.compiled('adam')",
        tmp_path,
    )
    assert first.returncode == 0, first.stderr
    assert list(tmp_path.rglob("*.nbi")), "numba cached nothing"
    out = python(NOTICE, tmp_path, str(QUICKSTART))
    cold = ast.literal_eval(out.stdout)
    assert cold["optimiser.adam"] is False and cold["bandit.run_chunk"] is True
    assert "optimiser.adam" not in out.stderr and "bandit.run_chunk" in out.stderr


def test_estimate_uses_the_group_median_for_an_unmeasured_kernel():
    seconds = compile_cost.measured()["seconds"]
    losses = sorted(v for k, v in seconds.items() if k.startswith("loss."))
    assert losses, "compile_times.toml has no loss"
    assert compile_cost.estimate("loss.not_measured") == losses[len(losses) // 2]
    assert compile_cost.estimate("bandit.run_chunk") == seconds["bandit.run_chunk"]


def test_a_sampler_run_needs_the_sampler_kernel():
    """A run with a rollout sampler compiles the sampler's chunk kernel, not the plain one
    (engine/fast_sampler.py); unmeasured, it is estimated as its plain kernel."""
    from simrl.config import Config

    cfg = Config.from_toml(QUICKSTART, {"algo.top_p": 0.9})
    keys = [k.key for k in compile_cost.needed([cfg])]
    assert "bandit_sampler.run_chunk_sampler" in keys and "bandit.run_chunk" not in keys
    seconds = compile_cost.measured()["seconds"]
    if "bandit_sampler.run_chunk_sampler" not in seconds:
        assert (
            compile_cost.estimate("bandit_sampler.run_chunk_sampler") == seconds["bandit.run_chunk"]
        )


@pytest.mark.parametrize(
    "extra, kernel",
    [
        ({}, "linear.run_chunk_linear"),
        ({"algo.temperature": 0.8}, "linear_sampler.run_chunk_linear_sampler"),
        ({"run.audit": True}, "linear_audit.run_chunk_linear_audit"),
        ({"algo.kl_in_reward": True, "algo.kl_coef": 0.01}, "linear_audit.run_chunk_linear_audit"),
    ],
)
def test_a_linear_run_names_the_kernel_it_compiles(extra, kernel, monkeypatch):
    """A linear policy's notice names the kernel engine/fast_linear.py chunk_kernel_linear
    picks for it (tests/engine/test_linear_fast.py checks that choice), not the tabular
    bandit kernel, estimated by its stand-in until it is measured."""
    from simrl.config import Config

    linear = {"policy.kind": "linear", "policy.features": "random_features", "policy.dim": 8}
    cfg = Config.from_toml(QUICKSTART, {**linear, **extra})
    keys = [k.key for k in compile_cost.needed([cfg])]
    assert kernel in keys and "bandit.run_chunk" not in keys
    assert compile_cost.estimate(kernel) > 0


def test_a_feature_adds_its_hooks_and_a_default_run_none(monkeypatch):
    """From an empty cache (faked: nothing in this process, nothing on disk), a run with
    run.audit needs the dH breakdown's hooks besides the kernel; the quickstart needs no
    feature's hook, only the stubs (kernels/hooks.py)."""
    from simrl.config import Config
    from simrl.engine.kernels import hooks

    monkeypatch.setattr(hooks, "_COMPILED", {})
    monkeypatch.setattr(compile_cost, "_fresh_in_cache", lambda fn: (False, "X"))
    default = {k.key for k in compile_cost.needed([Config.from_toml(QUICKSTART)])}
    assert {k for k in default if k.startswith("hook.")} == {"hook.stubs"}
    audit = {
        k.key for k in compile_cost.needed([Config.from_toml(QUICKSTART, {"run.audit": True})])
    }
    assert {k for k in audit if k.startswith("hook.")} == {
        "hook.breakdown_step",
        "hook.breakdown_minibatch",
        "hook.stubs",
    }


def test_estimate_phrase_adds_the_compile():
    text = compile_cost.estimate_phrase(2.0, 90.0, "~90 s, cached in X (k)", 1, True)
    assert text.startswith("estimated 92.0 s") and "90 s compiling kernels" in text
    assert compile_cost.estimate_phrase(2.0, 0.0, "", 2, True) == (
        "estimated 2.0 s with 2 worker(s) (timed probe)"
    )


def test_reference_engine_compiles_nothing():
    from simrl.config import Config

    assert compile_cost.needed([Config.from_toml(QUICKSTART)], "reference") == []


@pytest.mark.slow
def test_first_run_announces_and_the_second_does_not(tmp_path):
    """The whole path: `simrl run` from an empty cache (compiles the bandit kernel: minutes
    on a busy 2-core host), then again (loads it, no notice)."""
    run = "import sys; from simrl.cli import main; sys.exit(main(sys.argv[1:]))"
    args = [str(QUICKSTART), "--set", "run.steps=2", "--set", "run.seeds=1", "--quiet"]
    cache = tmp_path / "cache"
    first = python(run, cache, "run", *args, "--out", str(tmp_path / "a"))
    assert first.returncode == 0, first.stderr
    assert "compiling kernels for first use: ~" in first.stderr
    second = python(run, cache, "run", *args, "--out", str(tmp_path / "b"))
    assert second.returncode == 0, second.stderr
    assert "compiling kernels" not in second.stderr


def test_a_compile_announce_did_not_foresee_is_announced_as_it_starts(capsys):
    """The listener: a watched dispatcher compiling for new argument types says so (a
    tiny function, not cached, stands in for an entry kernel)."""
    from numba import njit

    @njit
    def tiny(x):
        return x + 1

    compile_cost.watch(tiny, "test.tiny")
    tiny(1)
    first = capsys.readouterr().err
    assert "compiling kernels for first use: ~" in first and "test.tiny" in first
    tiny(2)  # compiled: nothing
    assert "compiling" not in capsys.readouterr().err
    tiny(1.5)  # new argument types: a second compile
    assert "test.tiny, new argument types" in capsys.readouterr().err
    compile_cost._EXPECTED.add("test.tiny")  # announce() said it already
    tiny(1j)
    assert "compiling" not in capsys.readouterr().err


def test_the_measured_times_ship_in_the_wheel():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    data = project["tool"]["setuptools"]["package-data"]["simrl"]
    assert "engine/compile_times.toml" in data
    assert compile_cost.TIMES_FILE == ROOT / "simrl" / "engine" / "compile_times.toml"
    assert compile_cost.measured()["seconds"]["bandit.run_chunk"] > 0
