"""The policy class (simrl/policy.py) on the reference engine: a linear policy with Phi = 0
is the tabular run bitwise; the feature families have the overlap their docs state; the
held-out audit columns agree with their first-order prediction to O(lr^2); mixed batches
refuse a linear policy in one line (the numba engine's linear policy:
tests/engine/test_linear_fast.py)."""

from __future__ import annotations

import numpy as np
import pytest
from simrl.theory.shared import policy_overlap

from simrl.config import Config
from simrl.engine.batch import RunSpec, run_batch
from simrl.errors import ConfigError
from simrl.policy import (
    POLICY_EVAL_METRICS,
    POLICY_UPDATE_METRICS,
    build_features,
    low_rank_features,
    random_features,
)
from simrl.prereg.identity import identity_toml
from simrl.tasks import build_task

BASE = {
    "task": {"num_prompts": 8, "num_answers": 4, "train_prompts": 6, "prior_strength": 0.4},
    "algo": {"group_size": 4, "prompts_per_step": 4},
    "run": {"steps": 12, "eval_every": 3, "seeds": 2, "passk": [1, 4]},
}

#: configs that cover the seams the policy class touches: optimisers, epochs x minibatches,
#: KL and entropy terms, ProRL resets (w's optimiser state too), exact mode, other losses,
#: the audit, a reward that updates nothing
CASES = {
    "sgd-epochs-minibatches": {"algo": {"epochs": 2, "minibatches": 2}},
    "adam-kl-entropy-reset": {
        "optim": {"kind": "adam", "lr": 0.05},
        "algo": {"kl_coef": 0.1, "kl_kind": "k3", "entropy_coef": 0.01, "ref_reset_every": 5},
    },
    "adam-exact-kl": {
        "optim": {"kind": "adam", "lr": 0.05},
        "algo": {"kl_coef": 0.05, "kl_kind": "exact_reverse"},
    },
    "exact-pg": {"algo": {"exact": True, "loss": "pg"}},
    "clip-cov-audit": {"algo": {"loss": "clip_cov", "epochs": 2}, "run": {"audit": True}},
    "steer-random-reward": {"algo": {"loss": "steer"}, "reward": {"kind": "random"}},
    "gspo-dr-grpo": {"algo": {"loss": "gspo", "advantage": "dr_grpo"}},
    "frozen": {"reward": {"kind": "frozen"}},
}


def _merge(a: dict, b: dict) -> dict:
    out = {k: dict(v) for k, v in a.items()}
    for k, v in b.items():
        out.setdefault(k, {}).update(v)
    return out


def _run(cfg: Config, seeds: int = 2):
    return run_batch([RunSpec(cfg, i) for i in range(seeds)], engine="reference")


@pytest.mark.parametrize("case", sorted(CASES))
def test_phi_zero_is_the_tabular_run_bitwise(case, tmp_path):
    data = _merge(BASE, CASES[case])
    np.save(tmp_path / "phi.npy", np.zeros((8, 4, 3)))
    tab = _run(Config.from_dict(data))
    lin_data = _merge(
        data,
        {
            "policy": {
                "kind": "linear",
                "features": "file",
                "features_file": str(tmp_path / "phi.npy"),
            }
        },
    )
    lin = _run(Config.from_dict(lin_data))
    assert lin.names[: len(tab.names)] == tab.names
    assert lin.names[len(tab.names) :] == POLICY_EVAL_METRICS + POLICY_UPDATE_METRICS
    a, b = tab.metrics, lin.metrics[:, :, : len(tab.names)]
    assert np.array_equal(a, b, equal_nan=True)
    assert np.array_equal(tab.logits, lin.logits)
    overlap = lin.metrics[:, :, lin.names.index("policy_overlap")]
    assert np.all(overlap == 0.0)


def test_a_linear_policy_moves_held_out_prompts_and_the_audit_follows():
    data = _merge(
        BASE,
        {
            "policy": {"kind": "linear", "rho": 0.6, "dim": 4, "strength": 1.0},
            "optim": {"lr": 0.02},
            "run": {"steps": 6, "eval_every": 1},
        },
    )
    res = _run(Config.from_dict(data), seeds=1)
    m = res.metrics[0, 1:]
    held = m[:, res.names.index("dH_heldout")]
    spill = m[:, res.names.index("dH_spill_first_order")]
    assert np.all(held != 0)  # held-out states move through w
    # first order in the step: at lr 0.02 the prediction's error is a few % of the scale of
    # the exact change (a mean over held-out states can cancel, so not per row)
    assert np.abs(held - spill).max() <= 0.05 * np.abs(held).max()
    # a tabular policy never moves a held-out prompt
    tab = _run(Config.from_dict(_merge(BASE, {"optim": {"lr": 0.02}})), seeds=1)
    assert np.all(
        tab.metrics[0, :, tab.names.index("acc_heldout")]
        == tab.metrics[0, 0, tab.names.index("acc_heldout")]
    )
    assert not np.all(
        m[:, res.names.index("acc_heldout")] == res.metrics[0, 0, res.names.index("acc_heldout")]
    )


def test_spill_error_is_second_order_in_lr():
    errs = []
    for lr in (0.04, 0.02):
        data = _merge(
            BASE,
            {
                "policy": {"kind": "linear", "rho": 0.6, "dim": 4},
                "optim": {"lr": lr},
                "run": {"steps": 1, "eval_every": 1},
            },
        )
        res = _run(Config.from_dict(data), seeds=1)
        m, names = res.metrics[0, 1], res.names
        errs.append(abs(m[names.index("dH_heldout")] - m[names.index("dH_spill_first_order")]))
    assert errs[1] < 0.35 * errs[0]  # ~ 1/4


def test_reruns_are_bitwise_identical():
    cfg = Config.from_dict(_merge(BASE, {"policy": {"kind": "linear", "features": "low_rank"}}))
    a, b = _run(cfg), _run(cfg)
    assert np.array_equal(a.metrics, b.metrics, equal_nan=True)


def test_overlap_column_is_theory_policy_overlap():
    cfg = Config.from_dict(
        _merge(BASE, {"policy": {"kind": "linear", "features": "shared_answer_features"}})
    )
    task = build_task(cfg.task)
    phi = build_features(cfg, task)
    res = _run(cfg, seeds=1)
    got = res.metrics[0, :, res.names.index("policy_overlap")]
    assert np.all(got == policy_overlap(phi, task.base_logits, tabular=True))
    assert 0 < got[0] < 1


@pytest.mark.parametrize("rho", [0.0, 0.3, 0.9])
def test_random_features_kernel_is_exact_with_enough_features(rho):
    S, K, strength = 5, 3, 2.0
    phi = random_features(S, K, (S + 1) * K, rho, strength, seed=5)
    k = np.einsum("sad,tbd->satb", phi, phi)
    same_s = np.eye(S)[:, None, :, None]
    same_a = np.eye(K)[None, :, None, :]
    want = strength**2 * (rho * same_a + (1 - rho) * same_s * same_a)
    np.testing.assert_allclose(k, want, atol=1e-12)


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9])
@pytest.mark.parametrize("strength", [1.0, 3.0])
def test_overlap_closed_form_for_exact_random_features(rho, strength):
    """At a uniform base policy: overlap = rho without a tabular part, and
    rho s^2 / (1 + s^2) with one (theory/NOTES.md, "policy.overlap")."""
    S, K = 4, 3
    phi = random_features(S, K, (S + 1) * K, rho, strength, seed=2)
    z = np.zeros((S, K))
    assert policy_overlap(phi, z, tabular=False) == pytest.approx(rho, abs=1e-12)
    want = rho * strength**2 / (1 + strength**2)
    assert policy_overlap(phi, z, tabular=True) == pytest.approx(want, abs=1e-12)


def test_gaussian_random_features_follow_rho_in_expectation():
    phi0 = random_features(6, 4, 8, 0.0, 1.0, seed=1)
    phi9 = random_features(6, 4, 8, 0.9, 1.0, seed=1)

    # same-answer cross-state inner products: mean ~ rho (E = rho), spread ~ 1 / sqrt(d)
    def cross(phi):
        k = np.einsum("sad,tad->sta", phi, phi)
        return k[~np.eye(6, dtype=bool)].mean()

    assert abs(cross(phi0)) < 0.2 and abs(cross(phi9) - 0.9) < 0.2


def test_low_rank_kernel_is_delta_times_embedding_gram():
    phi = low_rank_features(5, 3, 2, 1.5, seed=1)
    flat = phi.reshape(15, -1)
    k = (flat @ flat.T).reshape(5, 3, 5, 3)
    u = phi[:, 0, :2]  # U(s, :) sits at answer 0's block
    assert np.allclose(np.linalg.norm(u, axis=1), 1.5)
    assert np.allclose(
        k, np.einsum("sj,tj->st", u, u)[:, None, :, None] * np.eye(3)[None, :, None, :]
    )


def test_shared_answer_features_mark_the_plurality_and_format_answers():
    cfg = Config.from_dict(
        _merge(
            BASE,
            {
                "task": {"format_mass": 0.1},
                "policy": {"kind": "linear", "features": "shared_answer_features", "strength": 0.7},
            },
        )
    )
    task = build_task(cfg.task)
    phi = build_features(cfg, task)
    assert phi.shape == (8, 4, 2)
    S = np.arange(8)
    assert np.all(phi[S, task.base_top, 0] == 0.7)
    assert np.all(phi[S, task.format_answer, 1] == 0.7)
    assert phi.sum() == pytest.approx(0.7 * 16)


def test_the_numba_engine_runs_a_linear_policy_with_the_audit():
    """kernels/linear_audit.py (parity: tests/engine/test_linear_fast.py)."""
    cfg = Config.from_dict(
        _merge(BASE, {"policy": {"kind": "linear"}, "run": {"audit": True, "steps": 2}})
    )
    out = run_batch([RunSpec(cfg, 0)], engine="fast")
    assert np.isfinite(out.metrics[0, 1:, out.names.index("dH_token_sum")]).all()


def test_a_batch_cannot_mix_policy_kinds():
    lin = Config.from_dict(_merge(BASE, {"policy": {"kind": "linear"}}))
    with pytest.raises(ConfigError, match=r"policy\.kind"):
        run_batch([RunSpec(Config.from_dict(BASE), 0), RunSpec(lin, 0)], engine="reference")


def test_identity_leaves_a_default_policy_out():
    base = Config.from_dict(BASE)
    assert "[policy]" not in identity_toml(base)
    assert "[policy]" in base.to_toml()  # a saved config.toml lists it
    lin = Config.from_dict(_merge(BASE, {"policy": {"kind": "linear", "rho": 0.3}}))
    text = identity_toml(lin)
    assert '[policy]\nkind = "linear"\nrho = 0.3\n' in text


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        ({"kind": "linear", "rho": 1.0}, "policy.rho"),
        ({"kind": "linear", "rho": -0.1}, "policy.rho"),
        ({"kind": "linear", "features": "low_rank", "rank": 9}, "policy.rank"),
        ({"kind": "linear", "dim": 0}, "policy.dim"),
        ({"rho": 0.5}, "policy.rho"),  # tabular: the linear fields stay at their defaults
        ({"kind": "linear", "features": "file"}, "policy.features_file"),
        ({"kind": "linear", "features_file": "x.npy"}, "policy.features_file"),
    ],
)
def test_bad_policy_fields_are_one_config_error(policy, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        Config.from_dict(_merge(BASE, {"policy": policy}))


def test_sequence_tasks_refuse_a_linear_policy():
    with pytest.raises(ConfigError, match=r"policy\.kind"):
        Config.from_dict({"task": {"kind": "sequence"}, "policy": {"kind": "linear"}})


def _registry_cases():
    from simrl.advantages import ADVANTAGES
    from simrl.kl import KL_ESTIMATORS
    from simrl.losses import POLICY_LOSSES

    cases = [{"algo": {"loss": name}} for name in POLICY_LOSSES.names]
    cases += [{"algo": {"advantage": name}} for name in ADVANTAGES.names]
    cases += [{"algo": {"kl_coef": 0.1, "kl_kind": name}} for name in KL_ESTIMATORS.names]
    cases += [{"optim": {"kind": "adam", "lr": 0.05}}, {"optim": {"kind": "npg", "lr": 0.1}}]
    cases += [{"algo": {"exact": True}}]
    return cases


@pytest.mark.parametrize("extra", _registry_cases(), ids=lambda e: str(e))
def test_every_registry_entry_runs_on_a_linear_policy(extra):
    """Each loss, advantage estimator, KL estimator and optimiser (npg: policy.npg_step) acts on
    the per-state logit gradient, so each runs on a linear policy, and moves held-out
    prompts through w."""
    data = _merge(
        _merge(BASE, {"policy": {"kind": "linear", "rho": 0.5, "dim": 4}, "run": {"steps": 3}}),
        extra,
    )
    res = _run(Config.from_dict(data), seeds=1)
    assert np.isfinite(res.metrics[0, :, res.names.index("acc")]).all()
    held = res.metrics[0, 1:, res.names.index("dH_heldout")]
    assert np.isfinite(held).all() and np.any(held != 0)


STUDY = """
title = "overlap"
question = "does a policy factor run?"

[design]
seeds = 2
steps = 4
eval_every = 2
passk = [1]
engine = "{engine}"
stopping_rule = "fixed"

[config]
task = {{ kind = "bandit", num_prompts = 8, num_answers = 4, prior_strength = 0.35 }}
algo = {{ group_size = 4 }}

[[factor]]
name = "policy"
[factor.levels.tabular]
policy = {{ kind = "tabular" }}
[factor.levels.rho0]
policy = {{ kind = "linear", rho = 0.0, dim = 4 }}
[factor.levels.rho6]
policy = {{ kind = "linear", rho = 0.6, dim = 4 }}

[outcomes]
primary = ["acc"]

[analysis]
model = "acc ~ C(policy, Sum)"

[[hypothesis]]
id = "spill"
statement = "overlap changes accuracy"
outcome = "acc"
test = "paired"
factor = "policy"
contrast = ["rho6", "rho0"]
direction = "two-sided"
sesoi = 0.0
"""


def test_a_study_can_vary_the_policy_on_the_reference_engine(tmp_path):
    from simrl.prereg.executors import run_unit
    from simrl.prereg.grid import expand, units
    from simrl.prereg.spec import load_study

    (tmp_path / "fast").mkdir()
    audited = STUDY.format(engine="fast").replace(
        "algo = {{ group_size = 4 }}".replace("{{", "{").replace("}}", "}"),
        "algo = { group_size = 4 }\nrun = { audit = true }",
    )
    assert "audit = true" in audited
    (tmp_path / "fast" / "prereg.toml").write_text(audited)
    load_study(tmp_path / "fast")  # the numba engine runs linear cells with the audit
    (tmp_path / "fast" / "prereg.toml").write_text(STUDY.format(engine="fast"))
    load_study(tmp_path / "fast")
    (tmp_path / "ref").mkdir()
    (tmp_path / "ref" / "prereg.toml").write_text(STUDY.format(engine="reference"))
    study = load_study(tmp_path / "ref")
    cells = expand(study)
    by_label = {c.labels["policy"]: c for c in cells}
    assert "[policy]" not in identity_toml(by_label["tabular"].config)  # a default adds nothing
    assert "[policy]" in identity_toml(by_label["rho6"].config)
    groups = units(study, cells)
    assert len(groups) == 2  # tabular and linear cells never share a batch
    for unit in groups:
        frames = run_unit(unit)
        assert len(frames) == len(unit.cells)
