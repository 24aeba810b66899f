"""The rollout sampler in the numpy references (simrl/rollout_sampling.py): temperature,
top-p, top-k, staleness and TIS; its config refusals; that its defaults leave the
engines' results and the cells' identity unchanged."""

from __future__ import annotations

import numpy as np
import pytest
from simrl.theory import log_softmax

from simrl.config import Config
from simrl.engine import reference as ref
from simrl.engine import sequence_ref as seq_ref
from simrl.engine.step_end import RunState
from simrl.engine.streams import run_generator, stream_layout
from simrl.errors import ConfigError
from simrl.examples_path import EXAMPLES
from simrl.prereg.identity import KEYED_FIELDS, identity_toml
from simrl.rollout_sampling import (
    SAMPLER_FIELDS,
    behaviour_logits,
    next_history,
    sampler_logp,
)
from simrl.simulate import simulate
from simrl.tasks.bandit import build_bandit

SMALL = {
    "task": {"num_prompts": 6, "num_answers": 6, "prior_strength": 0.3},
    "algo": {"group_size": 6, "epochs": 2},
    "run": {"steps": 6, "seeds": 2},
}
SET = {"temperature": 0.7, "top_p": 0.6, "top_k": 3, "staleness": 2, "tis": "token_mask"}


@pytest.mark.parametrize("name", [n for n, _ in SAMPLER_FIELDS] + ["tis_clip_max", "tis_clip_min"])
def test_the_new_fields_enter_the_identity_only_when_set(name):
    assert f"algo.{name}" not in KEYED_FIELDS
    base = Config.from_dict({})
    assert f"\n{name} = " not in identity_toml(base)
    value = {"tis_clip_max": 3.0, "tis_clip_min": 0.5}.get(name, SET.get(name))
    assert f"\n{name} = " in identity_toml(base.replace(**{f"algo.{name}": value}))


def _run(kind: str, algo: dict, engine: str = "reference"):
    cfg = Config.from_dict(SMALL, {"task.kind": kind, **{f"algo.{k}": v for k, v in algo.items()}})
    return simulate(cfg, engine=engine).metrics


@pytest.mark.parametrize("kind", ["bandit", "sequence"])
def test_tis_without_a_mismatch_is_the_on_policy_run_bitwise(kind):
    # q = pi_old: every weight is exp(0) = 1, and the loss is the on-policy one, bit for bit
    base = _run(kind, {})
    for algo in ({"tis": "token_truncate"}, {"tis": "sequence_mask", "tis_clip_min": 0.5}):
        assert base.equals(_run(kind, algo)), algo


@pytest.mark.parametrize("kind", ["bandit", "sequence"])
@pytest.mark.parametrize("field", [n for n, _ in SAMPLER_FIELDS if n != "tis"])
def test_each_sampler_field_changes_the_run(kind, field):
    base = _run(kind, {})
    other = _run(kind, {field: SET[field]})
    assert not base.equals(other)
    # the exact metrics measure softmax(z), the untempered policy: step 0 is the base's
    cols = ["acc", "entropy_mean"]
    first = lambda m: m[m.step == 0][cols].to_numpy()  # noqa: E731
    np.testing.assert_array_equal(first(base), first(other))


def test_top_k_and_top_p_draw_only_the_kept_answers(monkeypatch):
    cfg = Config.from_dict(
        SMALL,
        {"algo.top_k": 3, "algo.top_p": 0.7, "algo.temperature": 1.5},
    )
    task = build_bandit(cfg.task)
    params = ref.RunParams(cfg, task, stream_layout(cfg))
    z = np.random.default_rng(1).normal(0.0, 1.0, size=task.shape)  # no ties
    assert (np.isinf(sampler_logp(z, cfg.algo)).sum(axis=1) >= 3).all()
    seen = []
    real = ref.sampled_batch
    monkeypatch.setattr(
        ref, "sampled_batch", lambda p, pi, u: seen.append((pi, real(p, pi, u))) or seen[-1][1]
    )
    gen = run_generator(cfg, 0)
    state = RunState(z, z.copy(), ref.init_state(task.shape))
    for t in range(20):
        q = np.exp(sampler_logp(state.logits, cfg.algo))
        state, _ = ref.step(state, params, gen.random(params.layout.total), t)
        pi, batch = seen[t]
        np.testing.assert_array_equal(pi, q)  # drawn from q of the step's start
        G = batch.answers.shape[1]
        assert (q[np.repeat(batch.prompt, G), batch.answers.ravel()] > 0).all()


def test_staleness_draws_from_the_policy_k_updates_old(monkeypatch):
    cfg = Config.from_dict(SMALL, {"algo.staleness": 2})
    task = build_bandit(cfg.task)
    params = ref.RunParams(cfg, task, stream_layout(cfg))
    drawn = []
    real = ref.sampled_batch
    monkeypatch.setattr(ref, "sampled_batch", lambda p, pi, u: drawn.append(pi) or real(p, pi, u))
    gen = run_generator(cfg, 0)
    state = ref.initial_state(task)
    starts = []
    for t in range(6):
        starts.append(state.logits.copy())
        state, _ = ref.step(state, params, gen.random(params.layout.total), t)
        assert len(state.history) == min(t + 1, 2)
    for t in range(6):
        expected = np.exp(log_softmax(starts[max(t - 2, 0)]))
        np.testing.assert_array_equal(drawn[t], expected)
    assert not np.array_equal(starts[0], starts[3])  # the policy moved: the test can fail


def test_the_ring_keeps_the_last_k_starts():
    z = [np.full((1, 2), float(i)) for i in range(5)]
    h: tuple = ()
    for i in range(5):
        np.testing.assert_array_equal(behaviour_logits(h, z[i], 3), z[max(i - 3, 0)])
        h = next_history(h, z[i], 3)
    assert [float(x[0, 0]) for x in h] == [2.0, 3.0, 4.0]
    assert next_history(h, z[0], 0) == ()


def test_temperature_trains_the_tempered_policy():
    # at T the step's gradient is (1 / T) times the T = 1 step's gradient at z / T (with
    # the same batch): a run at T on logits T z0 moves z / T like the T = 1 run with
    # lr / T^2 on z0 (plain SGD, no KL, no entropy)
    T = 0.5
    cfg1 = Config.from_dict(SMALL, {"optim.lr": 0.4})
    cfgT = cfg1.replace(**{"algo.temperature": T, "optim.lr": 0.4 * T * T})
    task = build_bandit(cfg1.task)
    p1 = ref.RunParams(cfg1, task, stream_layout(cfg1))
    pT = ref.RunParams(cfgT, task, stream_layout(cfgT))
    u = run_generator(cfg1, 0).random(p1.layout.total)
    z0 = task.base_logits.copy()
    s1, _ = ref.step(RunState(z0, z0.copy(), ref.init_state(task.shape)), p1, u, 0)
    sT, _ = ref.step(RunState(T * z0, T * z0, ref.init_state(task.shape)), pT, u, 0)
    assert np.abs(sT.logits / T - s1.logits).max() < 1e-12
    assert np.abs(s1.logits - z0).max() > 1e-3


def test_sequence_staleness_and_tis_run():
    m = _run("sequence", {"staleness": 1, "tis": "sequence_truncate", "top_p": 0.9})
    assert np.isfinite(m["acc"]).all()


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"algo.temperature": 0.0}, "algo.temperature"),
        ({"algo.temperature": -1.0}, "algo.temperature"),
        ({"algo.top_p": 0.0}, "algo.top_p"),
        ({"algo.top_p": 1.5}, "algo.top_p"),
        ({"algo.top_k": -1}, "algo.top_k"),
        ({"algo.tis": "token"}, "algo.tis"),
        ({"algo.exact": True, "algo.top_p": 0.9}, "algo.top_p"),
        ({"algo.exact": True, "algo.top_k": 2}, "algo.top_k"),
        ({"algo.exact": True, "algo.temperature": 0.7}, "algo.temperature"),
        ({"algo.exact": True, "algo.staleness": 1}, "algo.staleness"),
        ({"algo.tis": "token_mask", "algo.tis_clip_min": 3.0}, "algo.tis_clip_min"),
        ({"algo.top_p": 0.9, "run.audit": True}, "run.audit"),
    ],
)
def test_bad_combinations_are_refused(overrides, field):
    with pytest.raises(ConfigError) as e:
        Config.from_dict({}, overrides)
    assert str(e.value).startswith(field)


def _cli(capsys, *args):
    from simrl.cli import main

    try:
        code = main(list(args))
    except SystemExit as e:
        code = e.code
    return code, capsys.readouterr().err


def test_the_numba_engine_runs_a_linear_policys_sampler(capsys, tmp_path):
    """The numba engine's linear policy has the sampler (kernels/linear_sampler.py; parity:
    tests/engine/test_linear_fast.py)."""
    code, err = _cli(
        capsys, "run", str(EXAMPLES / "quickstart.toml"), "--set", "algo.top_k=2",
        "--set", "policy.kind=linear", "--set", "run.steps=2", "--set", "run.seeds=1",
        "--set", "task.num_prompts=4", "--out", str(tmp_path / "o"),
    )  # fmt: skip
    assert code == 0, err


def test_the_cli_refuses_a_zero_temperature_in_one_line(capsys, tmp_path):
    code, err = _cli(
        capsys, "run", str(EXAMPLES / "quickstart.toml"), "--set", "algo.temperature=0",
        "--engine", "reference", "--out", str(tmp_path / "o"),
    )  # fmt: skip
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "algo.temperature" in lines[0], err


def test_sequence_reference_uses_the_sampler(monkeypatch):
    drawn = []
    real = seq_ref.sampled_tokens
    monkeypatch.setattr(
        seq_ref, "sampled_tokens", lambda p, pi, u: drawn.append(pi) or real(p, pi, u)
    )
    _run("sequence", {"top_k": 1})
    assert drawn and all(((pi > 0).sum(axis=1) == 1).all() for pi in drawn)  # greedy rows
