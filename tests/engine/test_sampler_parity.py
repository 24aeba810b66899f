"""The rollout sampler on the numba engine (kernels/rollout_sampler.py,
kernels/seq_rollout_sampler.py) matches the numpy references (reference.step,
sequence_ref.step; simrl/rollout_sampling.py) within 1e-9, logits and every metric
column, after 50 steps on the bandit and on the sequence task, for temperature, top-p,
top-k, staleness 1 and 2 and every TIS mode;
runs without a sampler never reach its kernels."""

import numpy as np
import pytest

from simrl.config import Config
from simrl.engine import fast_sampler
from simrl.engine.batch import RunSpec, run_batch
from tests.engine.test_parity import SMALL as BANDIT
from tests.engine.test_parity import _assert_match
from tests.engine.test_sequence_parity import SMALL as SEQUENCE_SMALL

SEQUENCE = {**SEQUENCE_SMALL, "run": {**SEQUENCE_SMALL["run"], "steps": 50}}

#: what makes the sampler differ from the trained policy, so that TIS weights are not 1
MISMATCH = {"algo.temperature": 0.8, "algo.top_p": 0.85}

CASES = {
    "temperature-0.7": {"algo.temperature": 0.7},
    "temperature-1.6-adam": {"algo.temperature": 1.6, "optim.kind": "adam", "optim.lr": 0.1},
    "top_p-0.7": {"algo.top_p": 0.7},
    "top_k-2": {"algo.top_k": 2},
    "top_k-top_p-temperature": {"algo.top_k": 2, "algo.top_p": 0.9, "algo.temperature": 1.3},
    "staleness-1": {"algo.staleness": 1},
    "staleness-2-minibatches": {"algo.staleness": 2, "algo.minibatches": 2},
    "tis-token_truncate": {**MISMATCH, "algo.tis": "token_truncate", "algo.tis_clip_max": 1.5},
    "tis-token_mask": {
        **MISMATCH,
        "algo.tis": "token_mask",
        "algo.tis_clip_min": 0.8,
        "algo.tis_clip_max": 1.2,
    },
    "tis-sequence_truncate-stale": {
        "algo.staleness": 2,
        "algo.temperature": 1.2,
        "algo.tis": "sequence_truncate",
        "algo.tis_clip_min": 0.5,
    },
    "tis-sequence_mask": {
        **MISMATCH,
        "algo.tis": "sequence_mask",
        "algo.tis_clip_min": 0.7,
        "algo.tis_clip_max": 1.3,
    },
    # a stale, truncated sampler whose weights leave the bounds: the clamp and the mask
    # act (each changes the run against unbounded weights, on the reference; the mask's
    # wider bounds leave tokens to learn from). The bounds are off round numbers: the
    # task's prior probabilities are multiples of 0.1, so a weight of exactly 0.9 (a kept
    # mass) would sit on a bound of 0.9, where the mask's decision follows the last bit
    # of each engine's exp
    **{
        f"tis-{mode}-binding": {
            "algo.staleness": 2,
            "algo.top_p": 0.85,
            "algo.tis": mode,
            "algo.tis_clip_min": 0.913 if mode.endswith("truncate") else 0.813,
            "algo.tis_clip_max": 1.087 if mode.endswith("truncate") else 1.187,
        }
        for mode in ("token_truncate", "token_mask", "sequence_truncate", "sequence_mask")
    },
    # the parts the trained policy feeds: the KL terms, the entropy bonus and advantage,
    # the entropy-reading losses, ReMax and the token baselines (from q), the optimisers
    "temperature-kl-k3": {"algo.temperature": 0.7, "algo.kl_coef": 0.1, "algo.kl_kind": "k3"},
    "temperature-kl-exact": {"algo.temperature": 1.4, "algo.kl_coef": 0.1, "algo.kl_kind": "k2"},
    "temperature-entropy": {
        "algo.temperature": 0.7,
        "algo.entropy_coef": 0.05,
        "algo.entropy_adv_alpha": 0.4,
    },
    "temperature-steer": {"algo.temperature": 1.3, "algo.loss": "steer"},
    # npg's Fisher is softmax(z)'s (the reference's optimiser reads z); lr 0.5 diverges
    "temperature-npg": {"algo.temperature": 1.3, "optim.kind": "npg", "optim.lr": 0.1},
    "remax-top_k": {"algo.advantage": "remax", "algo.top_k": 2, "algo.temperature": 0.9},
    "token-baseline-tis": {
        **MISMATCH,
        "algo.advantage": "optimal_token_baseline",
        "algo.tis": "token_truncate",
    },
    "unlikeliness-stale": {"reward.kind": "unlikeliness", "algo.staleness": 1},
    "resample-temperature": {
        "algo.temperature": 0.8,
        "algo.dynamic_sampling": "resample",
        "algo.prompts_per_step": 3,
        "algo.max_resample_rounds": 4,
    },
    "prorl-reset-temperature": {
        "algo.temperature": 0.8,
        "algo.kl_coef": 0.1,
        "algo.ref_reset_every": 7,
    },
}

SEQUENCE_CASES = {
    **CASES,
    # a response's tokens have weights nearer 1 than a bandit answer's: narrower bounds
    "tis-token_mask-binding": {
        **CASES["tis-token_mask-binding"],
        "algo.tis_clip_min": 0.913,
        "algo.tis_clip_max": 1.087,
    },
    "forking-temperature-tis": {
        **MISMATCH,
        "algo.forking_top_quantile": 0.5,
        "algo.tis": "sequence_truncate",
        "task.end_prob": 0.3,
        "task.min_steps": 1,
    },
    "gspo-variable-tis": {
        **MISMATCH,
        "algo.loss": "gspo",
        "algo.clip_low": 3e-4,
        "algo.clip_high": 4e-4,
        "algo.agg": "seq-mean-token-mean",
        "algo.tis": "sequence_mask",
        "algo.tis_clip_min": 0.5,
        "task.end_prob": 0.3,
        "task.min_steps": 1,
    },
}


def _both(cfg: Config):
    specs = [RunSpec(cfg, i) for i in range(cfg.run.seeds)]
    return run_batch(specs, engine="reference"), run_batch(specs, engine="fast")


def _check(base: dict, overrides: dict):
    cfg = Config.from_dict(base, overrides)
    ref, fast = _both(cfg)
    _assert_match(ref, fast)
    moved = not np.array_equal(
        ref.logits, np.broadcast_to(ref.tasks[0].base_logits, ref.logits.shape)
    )
    assert moved, "the case must exercise an update"
    return ref, fast


@pytest.mark.parametrize("overrides", CASES.values(), ids=CASES.keys())
def test_bandit_fast_matches_reference(overrides):
    _check(BANDIT, overrides)


@pytest.mark.parametrize("overrides", SEQUENCE_CASES.values(), ids=SEQUENCE_CASES.keys())
def test_sequence_fast_matches_reference(overrides):
    _check(SEQUENCE, overrides)


@pytest.mark.parametrize("base", [BANDIT, SEQUENCE], ids=["bandit", "sequence"])
def test_tis_without_a_mismatch_is_the_on_policy_run_bitwise(base):
    """q = pi_old: the sampler kernel's q is bitwise the run's cached pi_old, every weight
    exp(0) = 1, so the run is the plain kernel's, bit for bit (as the reference's is)."""
    cfg = Config.from_dict(base, {"run.steps": 20})
    plain = run_batch([RunSpec(cfg, 0)], engine="fast")
    tis = run_batch([RunSpec(cfg.replace(**{"algo.tis": "token_truncate"}), 0)], engine="fast")
    np.testing.assert_array_equal(plain.metrics, tis.metrics)
    np.testing.assert_array_equal(plain.logits, tis.logits)


@pytest.mark.parametrize("base", [BANDIT, SEQUENCE], ids=["bandit", "sequence"])
def test_a_run_without_the_sampler_never_reaches_its_kernels(base, monkeypatch):
    """A batch mixing runs with and without a sampler: the plain runs go to the plain
    kernel (bitwise their numbers alone), the others to the sampler kernel."""
    cfg = Config.from_dict(base, {"run.steps": 10})
    stale = cfg.replace(**{"algo.staleness": 1})
    calls = []
    real = fast_sampler.chunk_kernel

    def spy(plain, family, samp, runs):
        calls.append(samp is not None)
        return real(plain, family, samp, runs)

    monkeypatch.setattr(fast_sampler, "chunk_kernel", spy)
    mixed = run_batch([RunSpec(cfg, 0), RunSpec(stale, 0)], engine="fast")
    assert sorted(set(calls)) == [False, True]
    alone = run_batch([RunSpec(cfg, 0)], engine="fast")
    np.testing.assert_array_equal(mixed.metrics[0], alone.metrics[0])
    assert not np.array_equal(mixed.metrics[0], mixed.metrics[1])
    assert fast_sampler.sampler_arrays([cfg], (2, 2)) is None


def test_the_kernels_truncation_is_the_reference_rule():
    """kernels/rollout_sampler.truncate_row drops the entries that
    rollout_sampling.truncated_logits drops (top-k ties at the k-th kept, top-p on a
    stable ascending order, the largest always kept), rows with ties included."""
    from simrl.engine.kernels.rollout_sampler import truncate_row
    from simrl.rollout_sampling import truncated_logits

    rng = np.random.default_rng(0)
    for K in (1, 2, 5, 9):
        for _ in range(20):
            z = rng.normal(size=(3, K)) * 2.0
            z[1] = np.round(z[1])  # ties
            z[2, : K // 2] = z[2, -1]  # ties at the largest
            for top_p in (1.0, 0.93, 0.61, 0.37, 0.05):
                for top_k in sorted({0, 1, 2, K}):
                    want = truncated_logits(z, 1.0, top_p, top_k)
                    got = z.copy()
                    for s in range(3):
                        truncate_row(got, s, top_p, top_k)
                    np.testing.assert_array_equal(got, want, err_msg=f"{top_p=} {top_k=}")
