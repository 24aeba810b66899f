"""The feature hooks (simrl/engine/kernels/hooks.py): a call compiles a feature's code only
when one of its runs uses it, the flags that choose it agree with the config, and the step
kernels reach the features only through the hooks. The numbers of the features are held
to the reference engine by the parity suites (test_parity.py's audit and exact cases,
test_controller_parity.py, test_quadrants.py, test_sequence_parity.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from simrl.config import Config
from simrl.engine.kernels import hooks
from simrl.engine.kernels.controllers import pack_controls
from simrl.engine.packing import pack
from simrl.engine.streams import stream_layout

CONFIGS = {
    "default": {},
    "exact": {"algo.exact": True},
    "audit": {"run.audit": True},
    "kl-reward": {"algo.kl_in_reward": True, "algo.kl_reward_coef": 0.5},
    "entropy-adaptive": {"algo.entropy_adaptive": True, "algo.entropy_coef": 0.05},
    "ref-sync": {"algo.ref_sync_steps": 2, "algo.kl_coef": 0.1},
    "quadrants": {"run.audit": True, "run.audit_quadrants": True},
    "token-baseline": {"algo.advantage": "optimal_token_baseline"},
    "all": {"algo.exact": True, "run.audit": True, "run.audit_quadrants": True},
}


def packed(cfg):
    _, ip, *_ = pack([cfg], [stream_layout(cfg, None)])
    return ip, pack_controls([cfg])


@pytest.mark.parametrize("name", CONFIGS)
def test_features_of_config_agree_with_the_packed_flags(name):
    cfg = Config.from_dict({}, CONFIGS[name])
    assert hooks.features_of_config(cfg) == hooks.features_of(*packed(cfg))


def test_a_default_run_compiles_no_feature_and_each_feature_only_its_hooks():
    default = hooks.features_of_config(Config.from_dict({}, {}))
    assert default == frozenset()
    for family in hooks.FAMILY_FIELDS:
        assert not any(real for _, real in hooks.hook_fields(family, default))
        for feature, fields in hooks.FEATURES.items():
            real = {f for f, r in hooks.hook_fields(family, {feature}) if r}
            assert real == set(fields) & set(hooks.FAMILY_FIELDS[family])


def test_every_field_belongs_to_a_feature_and_a_family():
    fields = set(hooks.Hooks._fields)
    assert {f for fs in hooks.FEATURES.values() for f in fs} == fields
    assert {f for fs in hooks.FAMILY_FIELDS.values() for f in fs} == fields
    for field in fields:  # a real form and a stub of each
        assert callable(getattr(hooks, f"h_{field}")) and callable(getattr(hooks, f"s_{field}"))


def test_a_batch_mixing_features_gets_the_union():
    cfgs = [Config.from_dict({}, CONFIGS[n]) for n in ("exact", "audit", "default")]
    layouts = [stream_layout(c, None) for c in cfgs]
    _, ip, *_ = pack(cfgs, layouts)
    assert hooks.features_of(ip, np.zeros((3, 0))) == {"exact", "audit"}


def test_stub_and_real_hook_share_their_type():
    """numba types a first-class function by its signature: a call with the feature and one
    without reach the same compiled kernel (compiles two cheap hooks, not a kernel)."""
    from numba import typeof

    for field in ("before_update", "token_baselines_bandit"):
        assert typeof(hooks.compiled(field, True)) == typeof(hooks.compiled(field, False))


KERNEL_MODULES = ("step.py", "update.py", "seq_step.py", "seq_update.py")
#: what the kernels must reach only through algos.hooks
HOOKED = {
    "exact_batch",
    "exact_tokens",
    "forward_reach",
    "q_values",
    "row_q",
    "penalise_bandit",
    "penalise_sequence",
    "before_update",
    "after_update",
    "controls_end",
    "quadrants_end",
    "measure_bandit",
    "measure_sequence",
    "quadrant_bandit",
    "quadrant_sequence",
    "breakdown_minibatch",
    "breakdown_step",
    "sequence_terms",
    "token_terms",
    "bandit_token_baselines",
    "sequence_token_baselines",
}


@pytest.mark.parametrize("module", KERNEL_MODULES)
def test_the_step_kernels_call_the_features_only_through_hooks(module):
    """A name called directly would be compiled into every step kernel again."""
    path = Path(hooks.__file__).with_name(module)
    called = {
        node.func.id
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert not called & HOOKED
