"""The numba engine matches the numpy reference (sequence_ref, the spec) on sequence tasks
within 1e-9, logits and every metric column with NaNs in the same places, after a few
dozen steps, for a parametrised set of configs that covers every registry entry and
every feature of sequence_ref; and a run's numbers do not depend on its batch or on the
engine's chunking (bitwise)."""

import numpy as np
import pytest

from simrl import Config, NonFiniteError
from simrl.algorithms.advantages import ADVANTAGES
from simrl.engine import fast
from simrl.engine.batch import RunSpec, run_batch
from simrl.engine.kernels.seq_metrics import N_BUCKETS, weighted_quantiles
from simrl.examples.custom_sequence import build as build_custom
from simrl.metrics import ENTROPY_QUANTILES
from simrl.metrics_sequence import weighted_quantile
from tests.engine.cases import (
    ADVANTAGE_OPTION_CASES,
    EXACT_CASES,
    LOSS_OPTION_CASES,
    registry_cases,
    uncovered,
)

TOL = 1e-9
#: 4 prompts, 2 modes (shared mode row), 3 reasoning tokens of vocab 3 with a fork at
#: position 1, the environment's answer: 33 rows, 36 states, max_len 4
SMALL = {
    "task": {
        "kind": "sequence",
        "num_prompts": 4,
        "num_answers": 3,
        "num_modes": 2,
        "vocab": 3,
        "reasoning_tokens": 3,
        "fork_positions": [1],
        "fork_effect": 0.5,
        "format_mass": 0.0,
    },
    "algo": {"group_size": 4, "epochs": 2},
    "optim": {"lr": 0.5},
    "run": {"steps": 30, "seeds": 2, "passk": [1, 3]},
}
POLICY = {"task.answer": "policy"}
FORMAT = {"task.format_mass": 0.3}
VARIABLE = {"task.end_prob": 0.3, "task.min_steps": 1}

CASES = {
    **registry_cases(reward_extra={"format": FORMAT}, agg_extra=VARIABLE),
    # the task family
    "answer=policy": POLICY,
    "format-token": {**FORMAT, **POLICY, "reward.kind": "noisy", "reward.flip": 0.2},
    "variable-length": {**VARIABLE, "task.answer": "policy"},
    "own-mode-rows": {"task.share_mode_state": False, **FORMAT},
    "held-out": {"task.train_prompts": 3, "algo.prompts_per_step": 2},
    "three-modes": {
        "task.num_modes": 3,
        "task.mode_accuracy": [0.8, 0.5, 0.2],
        "task.fork_positions": [0, 2],
    },
    # losses and their options
    **LOSS_OPTION_CASES,
    **ADVANTAGE_OPTION_CASES,
    "remax-policy-answers": {**POLICY, **VARIABLE, "algo.advantage": "remax"},
    # the likelihood of responses of unequal lengths (a product over their tokens)
    "unlikeliness-variable-policy": {**POLICY, **VARIABLE, "reward.kind": "unlikeliness"},
    "entropy-adv-variable": {**VARIABLE, "algo.entropy_adv_alpha": 0.4, "run.audit": True},
    # the estimators that read the responses' lengths, on responses of unequal lengths;
    # rewards off {0, 1} (the overlong penalty) for the rules that treat them apart
    **{
        f"variable-{e.name}": {**VARIABLE, "algo.advantage": e.name}
        for e in ADVANTAGES
        if e.reads_lengths
    },
    **{
        f"overlong-{name}": {
            **VARIABLE,
            "algo.overlong_cache": 2,
            "algo.overlong_factor": 0.5,
            "algo.advantage": name,
        }
        for name in ("w_reinforce", "passk", "psr", "nsr", "remax")
    },
    "entropy-bonus": {"algo.entropy_coef": 0.05, **POLICY},
    # the sequence-level losses on responses of unequal lengths (per-response means)
    "gspo-variable": {
        "algo.loss": "gspo",
        "algo.clip_low": 3e-4,
        "algo.clip_high": 4e-4,
        "algo.epochs": 3,
        "algo.agg": "seq-mean-token-mean",
        **VARIABLE,
    },
    "gmpo-variable-minibatches": {
        "algo.loss": "gmpo",
        "algo.epochs": 4,
        "optim.lr": 4.0,
        "algo.minibatches": 2,
        "algo.agg": "seq-mean-token-mean",
        **VARIABLE,
    },
    "forking-0.2": {"algo.forking_top_quantile": 0.2},
    # TRL's entropy bonus: the mean entropy of the tokens the forking rule keeps
    "entropy-kept-token-mean-forking": {
        "algo.entropy_coef": 0.1,
        "algo.entropy_agg": "kept-token-mean",
        "algo.forking_top_quantile": 0.5,
        **POLICY,
        **VARIABLE,
    },
    "exact-entropy-kept-token-mean": {
        "algo.exact": True,
        "algo.entropy_coef": 0.1,
        "algo.entropy_agg": "kept-token-mean",
        "algo.agg": "token-sum",  # W = 1, not the mean's 1 / (B T)
    },
    "forking-0.5-policy-variable": {"algo.forking_top_quantile": 0.5, **POLICY, **VARIABLE},
    "overlong": {**VARIABLE, "algo.overlong_cache": 2, "algo.overlong_factor": 0.5},
    "overlong-self-consistency": {
        **VARIABLE,
        **POLICY,
        "algo.overlong_cache": 3,
        "reward.kind": "self_consistency",
    },
    # batches and epochs
    "minibatches": {"algo.minibatches": 3, "algo.epochs": 2},
    "subset-prompts": {"algo.prompts_per_step": 3, "algo.minibatches": 2},
    "drop": {"algo.dynamic_sampling": "drop", "algo.prompts_per_step": 3},
    "resample": {
        "algo.dynamic_sampling": "resample",
        "algo.prompts_per_step": 2,
        "algo.max_resample_rounds": 4,
    },
    "ddof0-eps": {"algo.std_ddof": 0, "algo.std_eps": 1e-4},
    "eval_every": {"run.eval_every": 7},
    "train-split-adam": {
        "task.train_prompts": 3,
        "algo.prompts_per_step": 2,
        "optim.kind": "adam",
        "optim.lr": 0.1,
    },
    # the exact expected gradient
    **EXACT_CASES,
    "exact-incorrect-kl": {
        "algo.exact": True,
        "reward.kind": "incorrect",
        "algo.kl_coef": 0.1,
        "algo.kl_kind": "k2",
        **POLICY,
    },
    "exact-format-variable": {
        "algo.exact": True,
        "reward.kind": "format",
        "algo.agg": "seq-mean-token-sum",
        **FORMAT,
        **VARIABLE,
    },
    "exact-held-out-subset": {
        "algo.exact": True,
        "task.train_prompts": 3,
        "algo.prompts_per_step": 2,
        "algo.minibatches": 2,
        "algo.agg": "seq-mean-token-mean",
    },
}

#: configs also run with run.audit = true (and the per-row audit compared)
AUDITED = [
    "loss=vanilla",
    "loss=steer",
    "forking-0.2",
    "optim=adam",
    "optim=npg",
    "exact-vanilla",
    "held-out",
    "overlong",
    "overlong-self-consistency",
    "kl=k3",
]


def _both(cfg: Config, audit_prompts: bool = False, task=None):
    specs = [RunSpec(cfg, i, task=task) for i in range(cfg.run.seeds)]
    ref = run_batch(specs, engine="reference", audit_prompts=audit_prompts)
    return ref, run_batch(specs, engine="fast", audit_prompts=audit_prompts)


def _assert_close(name: str, ref: np.ndarray, fast_: np.ndarray) -> None:
    np.testing.assert_array_equal(np.isnan(ref), np.isnan(fast_), err_msg=f"{name}: NaNs differ")
    # relative beyond magnitude 1 (an overflowing run's entropy change is ~1e306)
    diff = np.abs(np.nan_to_num(ref) - np.nan_to_num(fast_)) / np.maximum(
        1.0, np.abs(np.nan_to_num(ref))
    )
    assert diff.max() <= TOL, (
        f"{name} differs by {diff.max():.3g} at {np.unravel_index(diff.argmax(), diff.shape)}"
    )


def _assert_match(ref, fast_) -> None:
    assert ref.names == fast_.names
    for j, name in enumerate(ref.names):
        _assert_close(name, ref.metrics[..., j], fast_.metrics[..., j])
    _assert_close("logits", ref.logits, fast_.logits)
    np.testing.assert_array_equal(ref.failed_step, fast_.failed_step)


@pytest.mark.parametrize("overrides", CASES.values(), ids=CASES.keys())
def test_fast_matches_reference(overrides):
    cfg = Config.from_dict(SMALL, overrides)
    ref, fast_ = _both(cfg)
    _assert_match(ref, fast_)
    moved = not np.array_equal(
        ref.logits, np.broadcast_to(ref.tasks[0].base_logits, ref.logits.shape)
    )
    assert moved == (cfg.reward.kind != "frozen"), "the case must exercise an update"


def test_cases_cover_every_registry_entry():
    assert uncovered(CASES) == {}


def test_cases_exercise_their_features():
    """Selection, clipping, the forking rule, the overlong penalty and dynamic sampling do
    act in the parity cases above (not only their absence)."""

    def mean_of(name: str, metric: str) -> float:
        res = run_batch([RunSpec(Config.from_dict(SMALL, CASES[name]), 0)], engine="reference")
        return float(np.nanmean(res.metrics[0, 1:, res.names.index(metric)]))

    assert mean_of("clip_cov-active", "cov_selected_frac") > 0
    assert mean_of("kl_cov-many", "cov_selected_frac") > 0
    assert mean_of("clip-higher+dual", "clip_high_frac") > 0
    assert 0 < mean_of("forking-0.2", "forking_kept_frac") < 1
    assert mean_of("variable-length", "tokens_per_response") < 5
    assert mean_of("overlong", "reward_mean") < mean_of("agg=token-mean", "reward_mean")
    assert mean_of("drop", "groups_used") < 3
    assert mean_of("resample", "zero_var_frac") > 0


@pytest.mark.parametrize("name", AUDITED)
def test_fast_matches_reference_with_the_audit_on(name):
    cfg = Config.from_dict(SMALL, {**CASES[name], "run.audit": True})
    ref, fast_ = _both(cfg, audit_prompts=True)
    _assert_match(ref, fast_)
    _assert_close("audit_prompts", ref.audit_prompts, fast_.audit_prompts)
    assert np.isfinite(ref.metrics[:, 1:, ref.names.index("dH_token_sum")]).any()


def test_weighted_quantiles_match_metrics_sequence():
    """The kernel's sort-free search (buckets, refined) against the spec's sorted cumsum, on
    values with exact ties, near-ties from rounding, zero weights and large clusters."""
    rng = np.random.default_rng(0)
    for trial in range(400):
        n = int(rng.integers(1, 600))
        h = rng.random(n) * 2.0
        if trial % 4 == 0:
            h = np.round(h, 1)
        elif trial % 4 == 1:  # a cluster equal up to rounding
            h[: n // 2 + 1] = 0.3 * (1.0 + rng.integers(-3, 4, n // 2 + 1) * 2.0**-52)
        elif trial % 4 == 2:  # a dense cluster spread over 1e-6
            h[: 3 * n // 4] = 0.7 + rng.random(3 * n // 4) * 1e-6
        w = rng.random(n)
        w[rng.random(n) < 0.1] = 0.0
        w[0] = max(w[0], 0.1)
        out = np.zeros(3)
        weighted_quantiles(
            h, w, n, h.min(), h.max(), np.zeros(n, np.int64), np.zeros(N_BUCKETS),
            np.zeros((2, n)), np.zeros(n, np.int64), np.zeros(N_BUCKETS), out,
        )  # fmt: skip
        want = [weighted_quantile(h, w, q) for q in ENTROPY_QUANTILES]
        np.testing.assert_allclose(out, want, rtol=0, atol=TOL, err_msg=f"trial {trial}")


def test_custom_task_with_a_row_shared_across_prompts():
    cfg = Config.from_dict(
        {
            "task": {"kind": "sequence", "num_prompts": 2, "train_prompts": 1},
            "algo": {"group_size": 6, "epochs": 2},
            "optim": {"kind": "adam", "lr": 0.05},
            "run": {"steps": 25, "seeds": 2, "passk": [1, 4], "audit": True},
        }
    )
    ref, fast_ = _both(cfg, audit_prompts=True, task=build_custom())
    _assert_match(ref, fast_)
    _assert_close("audit_prompts", ref.audit_prompts, fast_.audit_prompts)


def test_non_finite_runs_are_recorded_or_raised_like_the_reference():
    overflow = {"optim.kind": "adam", "optim.lr": 1e308, "run.steps": 5}
    cfg = Config.from_dict(SMALL, {**overflow, "run.on_nonfinite": "record"})
    ref, fast_ = _both(cfg)
    assert (fast_.failed_step == 2).all()
    _assert_match(ref, fast_)
    with pytest.raises(NonFiniteError, match=r"run 0 \(replicate 0\) at step 2"):
        run_batch([RunSpec(Config.from_dict(SMALL, overflow), 0)], engine="fast")


def _others() -> list[RunSpec]:
    """Runs with other configs, seeds and a second task instance of the same shapes."""
    overrides = [
        {"algo.loss": "clip_cov", "reward.kind": "random", "optim.kind": "adam", "optim.lr": 0.1},
        {"task.seed": 3, "algo.exact": True, "optim.kind": "npg"},
        {"algo.forking_top_quantile": 0.3, "algo.kl_coef": 0.2, "run.audit": True},
        {"algo.dynamic_sampling": "resample", "algo.prompts_per_step": 2, "task.seed": 5},
        {"reward.kind": "self_consistency", "algo.loss": "steer", "optim.kind": "npg"},
    ]
    return [RunSpec(Config.from_dict(SMALL, o), 11 + i) for i, o in enumerate(overrides)]


@pytest.mark.parametrize("overrides", [{}, {"algo.loss": "kl_cov", "optim.kind": "adam"}])
def test_run_alone_equals_run_in_a_batch(overrides):
    spec = RunSpec(Config.from_dict(SMALL, overrides), replicate=7)
    alone = run_batch([spec])
    others = _others()
    batch = run_batch([*others[:2], spec, *others[2:]])
    np.testing.assert_array_equal(alone.metrics[0], batch.metrics[2])
    np.testing.assert_array_equal(alone.logits[0], batch.logits[2])


def test_blocks_and_chunks_of_steps_do_not_change_results(monkeypatch):
    specs = [*_others(), RunSpec(Config.from_dict(SMALL), 0)]
    whole = run_batch(specs)
    monkeypatch.setattr(fast, "BLOCK_RUN_STEPS", 4)  # one run per thread, 4 steps a call
    chunked = run_batch(specs)
    np.testing.assert_array_equal(whole.metrics, chunked.metrics)
    np.testing.assert_array_equal(whole.logits, chunked.logits)
