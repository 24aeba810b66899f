"""The numba engine's linear policy (simrl/engine/kernels/linear.py, fast_linear.py):
parity with the numpy reference within 1e-9 after 50 steps for every feature family and a
representative set of losses and optimisers; Phi = 0 is the tabular numba run bitwise;
an overlap sweep is one call whose runs do not depend on their batch-mates; npg's exact
Fisher of w (policy.fisher_w, npg_w_direction; kernels/linear.npg_w) against a direct
computation."""

from __future__ import annotations

import numpy as np
import pytest

from simrl.config import Config
from simrl.engine.batch import RunSpec, run_batch
from simrl.policy import fisher_w, npg_w_direction
from tests.engine.test_parity import _assert_match

#: a held-out prompt (train_prompts < num_prompts) and a subset of prompts per step, so
#: that both held-out columns see states outside the batch
SMALL = {
    "task": {
        "num_prompts": 6,
        "num_answers": 5,
        "train_prompts": 5,
        "prior_strength": 0.3,
        "format_mass": 0.1,
    },
    "algo": {"group_size": 4, "epochs": 2, "prompts_per_step": 3},
    "optim": {"lr": 0.5},
    "run": {"steps": 50, "seeds": 2, "passk": [1, 3]},
}

LIN = "policy.kind"


def _features_file(tmp_path, seed: int = 0, d: int = 3) -> str:
    path = tmp_path / f"phi{seed}.npy"
    np.save(path, 0.6 * np.random.default_rng(seed).standard_normal((6, 5, d)))
    return str(path)


#: family x loss x optimiser; each case a distinct compiled kernel or a distinct family
CASES = {
    "random-exact-sgd-minibatches": {
        "policy.features": "random_features",
        "policy.rho": 0.5,
        "policy.dim": 40,  # >= (S + 1) K: the orthonormal, exact kernel
        "algo.minibatches": 2,
    },
    "random-gaussian-adam-kl-entropy-reset": {
        "policy.features": "random_features",
        "policy.rho": 0.3,
        "policy.dim": 4,
        "optim.kind": "adam",
        "optim.lr": 0.05,
        "algo.kl_coef": 0.1,
        "algo.kl_kind": "k3",
        "algo.entropy_coef": 0.02,
        "algo.ref_reset_every": 7,
    },
    "shared-answer-clip-cov": {
        "policy.features": "shared_answer_features",
        "policy.strength": 0.8,
        "algo.loss": "clip_cov",
    },
    "low-rank-exact-exact-kl": {
        "policy.features": "low_rank",
        "policy.rank": 2,
        "algo.exact": True,
        "algo.kl_coef": 0.05,
        "algo.kl_kind": "exact_reverse",
    },
    "file-resample": {
        "policy.features": "file",
        "algo.dynamic_sampling": "resample",
        "algo.max_resample_rounds": 3,
    },
    "file-npg": {"policy.features": "file", "optim.kind": "npg", "optim.lr": 0.3},
    "random-npg-exact": {
        "policy.features": "random_features",
        "policy.rho": 0.6,
        "policy.dim": 5,
        "optim.kind": "npg",
        "optim.lr": 0.2,
        "algo.exact": True,
    },
}


def _config(overrides: dict, tmp_path) -> Config:
    over = {LIN: "linear", **overrides}
    if over.get("policy.features") == "file":
        over["policy.features_file"] = _features_file(tmp_path)
    return Config.from_dict(SMALL, over)


def _both(cfg: Config):
    specs = [RunSpec(cfg, i) for i in range(cfg.run.seeds)]
    return run_batch(specs, engine="reference"), run_batch(specs, engine="fast")


@pytest.mark.parametrize("overrides", CASES.values(), ids=CASES.keys())
def test_fast_linear_matches_reference(overrides, tmp_path):
    ref, fast = _both(_config(overrides, tmp_path))
    _assert_match(ref, fast)
    held = fast.metrics[:, 1:, fast.names.index("dH_heldout")]
    assert np.isfinite(held).any() and np.nanmax(np.abs(held)) > 0, "w must move held-out states"
    assert np.isfinite(fast.metrics[:, :, fast.names.index("policy_overlap")]).all()


def test_cases_cover_every_feature_family():
    from simrl.config_policy import FEATURE_FAMILIES

    assert {c["policy.features"] for c in CASES.values()} == set(FEATURE_FAMILIES)


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {
            "optim.kind": "adam",
            "optim.lr": 0.05,
            "algo.kl_coef": 0.1,
            "algo.kl_kind": "k3",
            "algo.entropy_coef": 0.02,
            "algo.ref_reset_every": 7,
        },
        {"optim.kind": "npg", "optim.lr": 0.3},
    ],
    ids=["sgd", "adam-kl-entropy-reset", "npg"],
)
def test_phi_zero_is_the_tabular_numba_run_bitwise(extra, tmp_path):
    tab_cfg = Config.from_dict(SMALL, extra)
    path = tmp_path / "zero.npy"
    np.save(path, np.zeros((6, 5, 3)))
    lin_cfg = Config.from_dict(
        SMALL,
        {**extra, LIN: "linear", "policy.features": "file", "policy.features_file": str(path)},
    )
    tab = run_batch([RunSpec(tab_cfg, i) for i in range(2)], engine="fast")
    lin = run_batch([RunSpec(lin_cfg, i) for i in range(2)], engine="fast")
    n = len(tab.names)
    assert lin.names[:n] == tab.names
    np.testing.assert_array_equal(lin.metrics[:, :, :n], tab.metrics)
    np.testing.assert_array_equal(lin.logits, tab.logits)
    assert np.all(lin.metrics[:, :, lin.names.index("policy_overlap")] == 0.0)


def test_an_overlap_sweep_is_one_call_and_each_run_is_its_own(tmp_path):
    """Runs of different rho (and a different family: another d, zero-padded) in one
    kernel call give what each gives alone, bitwise, and what the reference gives."""
    levels = [
        {"policy.features": "random_features", "policy.rho": rho, "policy.dim": 4}
        for rho in (0.0, 0.3, 0.9)
    ] + [{"policy.features": "shared_answer_features"}]
    cfgs = [_config(lv, tmp_path) for lv in levels]
    specs = [RunSpec(c, 1) for c in cfgs]
    together = run_batch(specs, engine="fast")
    ov = together.metrics[:, 0, together.names.index("policy_overlap")]
    assert len(set(ov.tolist())) == len(levels)  # each run its own overlap
    for r, spec in enumerate(specs):
        alone = run_batch([spec], engine="fast")
        np.testing.assert_array_equal(together.metrics[r], alone.metrics[0])
        np.testing.assert_array_equal(together.logits[r], alone.logits[0])
        ref = run_batch([spec], engine="reference")
        assert np.nanmax(np.abs(ref.metrics[0] - alone.metrics[0])) <= 1e-9


def _dense_fisher_w(z, phi, n_train):
    """sum_{s < n_train} J_s^T (diag pi_s - pi_s pi_s^T) J_s with J_s = dz_s / dw = Phi_s,
    written out entry by entry (E_a[grad log pi grad log pi^T], grad_w log pi_s(a) =
    Phi_s(a) - sum_b pi_s(b) Phi_s(b))."""
    d = phi.shape[2]
    f = np.zeros((d, d))
    for s in range(n_train):
        pi = np.exp(z[s] - z[s].max())
        pi /= pi.sum()
        mean = pi @ phi[s]
        for a in range(z.shape[1]):
            score = phi[s, a] - mean
            f += pi[a] * np.outer(score, score)
    return f


@pytest.mark.parametrize("seed", range(4))
def test_fisher_of_w_and_its_solve_against_a_direct_computation(seed):
    from simrl.engine.kernels.linear import npg_w

    rng = np.random.default_rng(seed)
    S, K, d, n_train = 5, 4, 3 + seed, 4
    phi = rng.standard_normal((S, K, d))
    if seed == 3:
        phi[:, :, -1] = 0.0  # a null direction (a padded feature): dropped by the solve
    z = rng.standard_normal((S, K))
    f = fisher_w(z, phi, n_train)
    np.testing.assert_allclose(f, _dense_fisher_w(z, phi, n_train), atol=1e-12)
    # a gradient the engine produces: Phi^T g with each g_s a softmax gradient (sum 0)
    g = rng.standard_normal((S, K))
    g[n_train:] = 0.0
    g -= g.mean(axis=1, keepdims=True)
    gw = np.einsum("skd,sk->d", phi, g)
    x = npg_w_direction(f, gw)
    np.testing.assert_allclose(x, np.linalg.pinv(f, rcond=1e-10, hermitian=True) @ gw, atol=1e-9)
    np.testing.assert_allclose(f @ x, gw, atol=1e-9)  # gw lies in F_w's range
    # the numba form: w <- w - lr F_w^+ gw at the same pi
    pi = np.exp(z - z.max(axis=1, keepdims=True))
    pi /= pi.sum(axis=1, keepdims=True)
    w = rng.standard_normal(d)
    w_nb = w.copy()
    npg_w(0.3, phi, pi, gw, w_nb, n_train)
    np.testing.assert_allclose(w_nb, w - 0.3 * x, atol=1e-12)


def test_fisher_of_w_is_zero_without_features():
    z = np.random.default_rng(0).standard_normal((4, 3))
    f = fisher_w(z, np.zeros((4, 3, 2)), 4)
    assert np.all(f == 0.0)
    assert np.all(npg_w_direction(f, np.zeros(2)) == 0.0)


# ---- the rollout sampler, the controllers and run.audit (kernels/linear_sampler.py,
# kernels/linear_audit.py) -------------------------------------------------------------

#: a linear policy whose w moves every state (rho 0.3, d 4) under each feature below
RF = {"policy.features": "random_features", "policy.rho": 0.3, "policy.dim": 4}
ADAM = {"optim.kind": "adam", "optim.lr": 0.05}
#: TIS bounds that bind (a stale, truncated sampler's weights leave them), off round
#: numbers (tests/engine/test_sampler_parity.py: a weight exactly on a mask bound is
#: decided by the last bit of each engine's exp)
BIND = {"algo.staleness": 2, "algo.top_p": 0.85}

SAMPLER_CASES = {
    "temperature-0.7": {**RF, "algo.temperature": 0.7},
    "temperature-1.6-adam": {**RF, **ADAM, "algo.temperature": 1.6},
    "top_k-top_p-temperature": {
        **RF,
        "algo.top_k": 2,
        "algo.top_p": 0.9,
        "algo.temperature": 1.3,
    },
    "staleness-2-minibatches-shared": {
        "policy.features": "shared_answer_features",
        "algo.staleness": 2,
        "algo.minibatches": 2,
    },
    **{
        f"tis-{mode}-binding": {
            **RF,
            **BIND,
            "algo.tis": mode,
            "algo.tis_clip_min": 0.913 if mode.endswith("truncate") else 0.813,
            "algo.tis_clip_max": 1.087 if mode.endswith("truncate") else 1.187,
        }
        for mode in ("token_truncate", "token_mask", "sequence_truncate", "sequence_mask")
    },
    "tis-token_truncate-binding-adam-temperature": {
        **RF,
        **BIND,
        **ADAM,
        "algo.temperature": 1.3,
        "algo.tis": "token_truncate",
        "algo.tis_clip_min": 0.913,
        "algo.tis_clip_max": 1.087,
    },
    "temperature-kl-k3-entropy-reset": {
        **RF,
        "algo.temperature": 0.7,
        "algo.kl_coef": 0.1,
        "algo.kl_kind": "k3",
        "algo.entropy_coef": 0.02,
        "algo.ref_reset_every": 7,
    },
    "temperature-kl-exact-low-rank": {
        "policy.features": "low_rank",
        "policy.rank": 2,
        "algo.temperature": 1.4,
        "algo.kl_coef": 0.1,
        "algo.kl_kind": "k2",
    },
    # npg's Fisher is softmax(z)'s (policy.npg_step reads z), w's the exact F_w
    "temperature-npg": {**RF, "algo.temperature": 1.3, "optim.kind": "npg", "optim.lr": 0.1},
    "remax-top_k": {**RF, "algo.advantage": "remax", "algo.top_k": 2, "algo.temperature": 0.9},
}

KL_ADAPTIVE = {
    "algo.kl_in_reward": True,
    "algo.kl_reward_coef": 0.5,
    "algo.kl_reward_kind": "k3",
    "algo.kl_ctrl": "adaptive",
    "algo.kl_target": 0.01,
    "algo.kl_horizon": 40,
}
SYNC = {"algo.kl_coef": 0.2, "algo.ref_sync_steps": 3, "algo.ref_mixup_alpha": 0.6}
ENTROPY = {
    "algo.entropy_adaptive": True,
    "algo.entropy_coef": 0.05,
    "algo.entropy_target": 1.0,
    "algo.entropy_coef_delta": 0.02,
}
CONTROL_CASES = {
    "kl-reward-fixed": {**RF, "algo.kl_in_reward": True, "algo.kl_reward_coef": 0.5},
    "kl-reward-adaptive-adam": {**RF, **ADAM, **KL_ADAPTIVE},
    "ref-sync-mix": {**RF, **SYNC},
    "ref-sync-exact-kl-minibatches": {
        **RF,
        **SYNC,
        "algo.kl_kind": "exact_forward",
        "algo.minibatches": 2,
    },
    "entropy-adaptive-shared": {"policy.features": "shared_answer_features", **ENTROPY},
    "entropy-adaptive-kept-mean-exact": {
        **RF,
        **ENTROPY,
        "algo.entropy_agg": "kept-token-mean",
        "algo.exact": True,
    },
    "all-three-adam": {**RF, **ADAM, **KL_ADAPTIVE, **ENTROPY, **SYNC},
    "all-three-npg": {**RF, **KL_ADAPTIVE, **ENTROPY, **SYNC, "optim.kind": "npg", "optim.lr": 0.2},
}

AUDIT = {"run.audit": True}
AUDIT_CASES = {
    "audit": {**RF, **AUDIT},
    "audit-adam-kl-minibatches": {
        **RF,
        **AUDIT,
        **ADAM,
        "algo.kl_coef": 0.1,
        "algo.kl_kind": "k3",
        "algo.minibatches": 2,
    },
    "audit-exact-low-rank": {
        "policy.features": "low_rank",
        "policy.rank": 2,
        **AUDIT,
        "algo.exact": True,
    },
    "audit-entropy-adv-clip-cov": {
        **RF,
        **AUDIT,
        "algo.loss": "clip_cov",
        "algo.entropy_adv_alpha": 0.2,
    },
    "audit-controllers": {**RF, **AUDIT, **ENTROPY, **SYNC},
}


def _acts(cfg: Config, fast) -> None:
    """The case exercises what it names (on the numba run, which matches the reference)."""
    col = {n: fast.names.index(n) for n in fast.names}
    rows = fast.metrics[:, 1:]
    if cfg.algo.kl_in_reward:
        kl = rows[..., col["kl_reward"]]
        assert np.isfinite(kl).all() and np.abs(kl).max() > 0
        if cfg.algo.kl_ctrl == "adaptive":
            beta = rows[..., col["kl_reward_coef"]]
            assert np.ptp(beta) > 1e-3 * cfg.algo.kl_reward_coef
    if cfg.algo.entropy_adaptive:
        c = rows[..., col["entropy_coef_now"]]
        assert np.isfinite(c).all() and np.ptp(c) > 0
    if cfg.run.audit:
        for name in ("dH_second_order", "dH_cui_t1", "dH_token_sum"):
            assert np.isfinite(rows[..., col[name]]).any(), name
            assert np.nanmax(np.abs(rows[..., col[name]])) > 0, name


@pytest.mark.parametrize(
    "overrides",
    [*SAMPLER_CASES.values(), *CONTROL_CASES.values(), *AUDIT_CASES.values()],
    ids=[*(f"sampler-{k}" for k in SAMPLER_CASES), *CONTROL_CASES, *AUDIT_CASES],
)
def test_fast_linear_features_match_reference(overrides, tmp_path):
    cfg = _config(overrides, tmp_path)
    ref, fast = _both(cfg)
    _assert_match(ref, fast)
    held = fast.metrics[:, 1:, fast.names.index("dH_heldout")]
    assert np.isfinite(held).any() and np.nanmax(np.abs(held)) > 0, "w must move held-out states"
    _acts(cfg, fast)


@pytest.mark.parametrize("mode", ["token_truncate", "sequence_mask"])
def test_the_tis_bounds_bind_in_the_linear_cases(mode, tmp_path):
    """The binding cases' clamp or mask changes the run against unbounded weights (so the
    parity above covers a bound that acts)."""
    over = SAMPLER_CASES[f"tis-{mode}-binding"]
    bounded = run_batch([RunSpec(_config(over, tmp_path), 0)], engine="fast")
    wide = {**over, "algo.tis_clip_min": 0.0, "algo.tis_clip_max": 1e9}
    unbounded = run_batch([RunSpec(_config(wide, tmp_path), 0)], engine="fast")
    assert np.abs(bounded.logits - unbounded.logits).max() > 1e-6


def test_the_linear_audit_per_state_matches_reference(tmp_path):
    """run_batch's audit_prompts: every state's breakdown at every step, NaN where the
    step did not move the state's theta_tab, within 1e-9 of the reference."""
    cfg = _config(AUDIT_CASES["audit-adam-kl-minibatches"], tmp_path)
    specs = [RunSpec(cfg, i) for i in range(cfg.run.seeds)]
    ref = run_batch(specs, engine="reference", audit_prompts=True)
    fast = run_batch(specs, engine="fast", audit_prompts=True)
    np.testing.assert_array_equal(np.isnan(ref.audit_prompts), np.isnan(fast.audit_prompts))
    assert np.isfinite(fast.audit_prompts).any()
    diff = np.abs(np.nan_to_num(ref.audit_prompts) - np.nan_to_num(fast.audit_prompts))
    assert diff.max() <= 1e-9


def test_chunks_carry_the_linear_controllers_and_sampler_state(monkeypatch, tmp_path):
    """Steps cut into chunks (the controllers' rows and the staleness ring written back
    between calls) give the numbers of one call."""
    import simrl.engine.fast as fast

    cfgs = [
        _config(CONTROL_CASES["all-three-adam"], tmp_path),
        _config(SAMPLER_CASES["tis-sequence_truncate-binding"], tmp_path),
    ]
    whole = [run_batch([RunSpec(c, 0)], engine="fast") for c in cfgs]
    monkeypatch.setattr(fast, "BLOCK_RUN_STEPS", 7)
    for c, w in zip(cfgs, whole, strict=True):
        cut = run_batch([RunSpec(c, 0)], engine="fast")
        np.testing.assert_array_equal(w.metrics, cut.metrics)
        np.testing.assert_array_equal(w.logits, cut.logits)


def test_a_plain_linear_run_reaches_only_the_plain_kernel(monkeypatch, tmp_path):
    """The kernel of each batch: the plain one without a sampler, controller or audit;
    the sampler's or the audit's otherwise (a plain run neither compiles nor runs them)."""
    from simrl.engine import fast_linear
    from simrl.engine.kernels.linear import run_chunk_linear

    chosen = []
    real = fast_linear.chunk_kernel_linear

    def spy(samp, cp, configs, runs):
        kernel, extra = real(samp, cp, configs, runs)
        chosen.append(kernel.py_func.__name__)
        return kernel, extra

    monkeypatch.setattr(fast_linear, "chunk_kernel_linear", spy)
    plain = _config({**RF, "run.steps": 5}, tmp_path)
    for over, name in [
        ({}, run_chunk_linear.py_func.__name__),
        ({"algo.temperature": 0.8}, "run_chunk_linear_sampler"),
        ({"algo.entropy_adaptive": True}, "run_chunk_linear_audit"),
        ({"run.audit": True}, "run_chunk_linear_audit"),
    ]:
        chosen.clear()
        run_batch([RunSpec(plain.replace(**over), 0)], engine="fast")
        assert set(chosen) == {name}, over
