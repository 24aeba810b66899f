"""The controllers (simrl/controllers.py) in the engines: off by default (no state, no
columns, the same numbers), bad values and combinations refused in one line before any
work, the numba engine running them with a linear policy, and what each does to a run. Parity with
verl and TRL: tests/parity/test_controllers.py; the bridge: tests/bridge/test_controllers.py."""

from __future__ import annotations

import numpy as np
import pytest

from simrl import controllers
from simrl.config import AlgoConfig, Config
from simrl.controllers import CONTROL_METRICS
from simrl.engine.batch import run_batch
from simrl.engine.result import RunSpec
from simrl.errors import ConfigError
from simrl.examples_path import EXAMPLES
from simrl.prereg.identity import identity_toml

FIELDS = tuple(controllers.FIELDS)


def cfg(kind="bandit", **algo) -> Config:
    over = {"task.kind": kind, "run.steps": 6, "run.seeds": 1, "run.eval_every": 2}
    over.update({f"algo.{k}": v for k, v in algo.items()})
    return Config.from_dict({}, over)


def test_defaults_are_off_and_out_of_the_identity():
    a = AlgoConfig()
    assert not controllers.active(a) and controllers.initial(a) is None
    text = identity_toml(Config())
    for name in FIELDS:
        assert f"{name} " not in text and f"{name}=" not in text, name
    on = identity_toml(cfg(kl_in_reward=True))
    assert "kl_in_reward" in on


@pytest.mark.parametrize("kind", ["bandit", "sequence"])
def test_defaults_add_no_column_and_change_nothing(kind):
    """A config that names every controller field at its default runs to the same numbers
    as one that does not (the reference engine), with no controller column."""
    plain = cfg(kind)
    named = cfg(kind, **{n: getattr(AlgoConfig(), n) for n in FIELDS})
    a, b = (run_batch([RunSpec(c, 0)], engine="reference") for c in (plain, named))
    assert a.names == b.names and not set(CONTROL_METRICS) & set(a.names)
    np.testing.assert_array_equal(a.metrics, b.metrics)
    np.testing.assert_array_equal(a.logits, b.logits)


@pytest.mark.parametrize(
    "over, field",
    [
        ({"kl_in_reward": True, "exact": True}, "algo.kl_in_reward"),
        ({"kl_reward_kind": "k3_ratio"}, "algo.kl_reward_kind"),
        ({"kl_ctrl": "pid"}, "algo.kl_ctrl"),
        ({"kl_horizon": 0}, "algo.kl_horizon"),
        ({"kl_target": 0.0}, "algo.kl_target"),
        ({"ref_sync_steps": 4}, "algo.ref_sync_steps"),  # no KL term reads the reference
        ({"ref_sync_steps": 4, "kl_coef": 0.1, "ref_reset_every": 5}, "algo.ref_sync_steps"),
        ({"ref_mixup_alpha": 1.5}, "algo.ref_mixup_alpha"),
        (
            {"entropy_adaptive": True, "entropy_coef_min": 0.5, "entropy_coef_max": 0.1},
            "algo.entropy_coef_min",
        ),
    ],
)
def test_bad_values_are_one_clear_line(over, field):
    with pytest.raises(ConfigError) as err:
        cfg(**over)
    assert str(err.value).startswith(field) and "\n" not in str(err.value)


def test_per_token_return_estimators_are_refused_on_sequence_tasks():
    with pytest.raises(ConfigError, match=r"^algo.kl_in_reward.*reinforce_pp"):
        cfg("sequence", kl_in_reward=True, advantage="reinforce_pp", prompts_per_step=2)
    cfg("bandit", kl_in_reward=True, advantage="reinforce_pp", prompts_per_step=2)  # length 1


def test_adaptive_entropy_exact_sequence_is_refused():
    with pytest.raises(ConfigError, match=r"^algo.entropy_adaptive"):
        cfg("sequence", entropy_adaptive=True, exact=True)
    cfg("bandit", entropy_adaptive=True, exact=True)


@pytest.mark.parametrize("name, value", [("kl_in_reward", True), ("entropy_adaptive", True)])
def test_numba_engine_runs_a_linear_policy_with_a_controller(name, value):
    """The numba engine runs the controllers for a linear policy too
    (kernels/linear_audit.py; parity: tests/engine/test_linear_fast.py)."""
    c = Config.from_dict(
        {},
        {
            "policy.kind": "linear",
            "run.steps": 2,
            "run.seeds": 1,
            "task.num_prompts": 4,
            f"algo.{name}": value,
        },
    )
    out = run_batch([RunSpec(c, 0)], engine="fast")
    col = out.names.index("kl_reward" if name == "kl_in_reward" else "entropy_coef_now")
    assert np.isfinite(out.metrics[0, 1:, col]).all()


def test_a_batch_mixing_controllers_is_refused():
    with pytest.raises(ConfigError, match="controller"):
        run_batch([RunSpec(cfg(), 0), RunSpec(cfg(kl_in_reward=True), 0)], engine="reference")


def test_cli_bad_value_is_one_line_exit_2(capsys):
    from simrl.cli import main

    code = main(["run", str(EXAMPLES / "quickstart.toml"), "--set", "algo.kl_ctrl=pid"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "algo.kl_ctrl" in err[0]


@pytest.mark.parametrize("kind", ["bandit", "sequence"])
def test_each_controller_changes_the_run_and_reports(kind):
    """Each controller on changes the logits against the same run without it, and reports
    its column; the others' columns are NaN."""
    base = run_batch([RunSpec(cfg(kind, kl_coef=0.2), 0)], engine="reference")
    cases = {
        "kl_reward": {"kl_in_reward": True, "kl_reward_coef": 0.5, "kl_coef": 0.2},
        None: {"ref_sync_steps": 1, "ref_mixup_alpha": 0.5, "kl_coef": 0.2},
        "entropy_coef_now": {
            "entropy_adaptive": True,
            "entropy_coef": 0.05,
            "entropy_target": 10.0,
            "kl_coef": 0.2,
        },
    }
    for col, over in cases.items():
        res = run_batch([RunSpec(cfg(kind, **over), 0)], engine="reference")
        assert np.max(np.abs(res.logits - base.logits)) > 1e-6, over
        for name in CONTROL_METRICS:
            values = res.metrics[0, 1:, res.names.index(name)]
            on = name == col or (col == "kl_reward" and name == "kl_reward_coef")
            assert np.all(np.isfinite(values)) == on, (over, name)


def test_adaptive_entropy_coefficient_walks_to_its_bound():
    """With a target above every entropy the coefficient grows by delta per update up to
    its maximum (TRL: e <= target); with a target of 0 it falls to its minimum."""
    up = run_batch(
        [RunSpec(cfg(entropy_adaptive=True, entropy_coef=0.0, entropy_target=100.0,
                     entropy_coef_delta=0.01, entropy_coef_max=0.03), 0)],
        engine="reference",
    )  # fmt: skip
    col = up.metrics[0, 1:, up.names.index("entropy_coef_now")]
    assert col[-1] == pytest.approx(0.03)
    down = run_batch(
        [RunSpec(cfg(entropy_adaptive=True, entropy_coef=0.02, entropy_target=0.0,
                     entropy_coef_delta=0.01, entropy_coef_min=0.005), 0)],
        engine="reference",
    )  # fmt: skip
    col = down.metrics[0, 1:, down.names.index("entropy_coef_now")]
    assert col[-1] == pytest.approx(0.005)
