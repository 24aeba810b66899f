"""What the simulator must do: anchors, learning, the martingale, the clipping bias, errors."""

import numpy as np
import pytest
from scipy import stats

from simrl import Config, NonFiniteError, simulate
from simrl.engine.batch import RunSpec, run_batch

SMALL = {
    "task": {"num_prompts": 8, "num_answers": 6},
    "algo": {"group_size": 8, "epochs": 2},
    "run": {"steps": 60, "seeds": 8, "passk": [1]},
}


@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_frozen_leaves_policy_bitwise_unchanged(engine):
    cfg = Config.from_dict(SMALL, {"reward.kind": "frozen", "run.seeds": 3})
    res = simulate(cfg, engine=engine)
    np.testing.assert_array_equal(
        res.logits, np.broadcast_to(res.task.base_logits, res.logits.shape)
    )
    per_step = res.metrics.groupby("step")["acc"].agg(["min", "max"])
    assert (per_step["min"] == per_step["max"]).all()
    assert (res.metrics["acc"] == res.metrics["acc"].iloc[0]).all()


@pytest.mark.parametrize("optim", ["sgd", "adam", "npg"])
def test_true_reward_raises_accuracy(optim):
    lr = {"sgd": 4.0, "adam": 0.05, "npg": 0.5}[optim]
    res = simulate(Config.from_dict(SMALL, {"optim.kind": optim, "optim.lr": lr}))
    base_acc = res.metrics.loc[res.metrics.step == 0, "acc"].to_numpy()
    gain = res.final["acc"].to_numpy() - base_acc
    assert (gain > 0.05).all(), gain


def test_random_reward_pg_sgd_is_a_martingale_in_the_logits():
    """E[z_{t+1} | z_t] = z_t for random rewards, pg loss, 1 epoch, sgd: the mean final
    logits over 4000 runs equal the base logits within 3 standard errors, entry by entry.
    Accuracy (a nonlinear function of the logits) drifts at second order; we print it."""
    cfg = Config.from_dict(
        {
            "task": {"num_prompts": 2, "num_answers": 4, "prior_strength": 0.4},
            "reward": {"kind": "random", "p": 0.5},
            "algo": {"loss": "pg", "epochs": 1, "group_size": 4},
            "optim": {"kind": "sgd", "lr": 1.0},
            "run": {"steps": 30, "seeds": 4000, "passk": [1]},
        }
    )
    res = simulate(cfg)
    z = res.logits  # (R, S, K)
    z_scores = (z.mean(0) - res.task.base_logits) / (z.std(0, ddof=1) / np.sqrt(len(z)))
    assert np.abs(z_scores).max() < 3, z_scores
    assert z.std(0).min() > 0.05  # the logits did move: the test has power
    drift = res.final["acc"] - 0.4
    print(
        f"\naccuracy drift after 30 steps: {drift.mean():+.5f} +- {drift.std(ddof=1) / np.sqrt(len(drift)):.5f} (SE)"
        f"; logit sd across runs {z.std(0).mean():.3f}; max |z| {np.abs(z_scores).max():.2f}"
    )


def test_martingale_check_detects_a_biased_update():
    """Negative control: the same check, on the same settings, rejects an update whose
    reward depends on the answer (the fixed wrong label of reward 'incorrect')."""
    cfg = Config.from_dict(
        {
            "task": {"num_prompts": 2, "num_answers": 4, "prior_strength": 0.4},
            "reward": {"kind": "incorrect"},
            "algo": {"loss": "pg", "epochs": 1, "group_size": 4},
            "optim": {"kind": "sgd", "lr": 1.0},
            "run": {"steps": 30, "seeds": 4000, "passk": [1]},
        }
    )
    z = simulate(cfg).logits
    base = Config.from_dict({"task": {"num_prompts": 2, "num_answers": 4, "prior_strength": 0.4}})
    from simrl.tasks import build_bandit

    z_scores = (z.mean(0) - build_bandit(base.task).base_logits) / (
        z.std(0, ddof=1) / np.sqrt(len(z))
    )
    assert np.abs(z_scores).max() > 3


def test_clipping_biases_random_rewards_toward_the_base_policys_top_answer():
    """Spurious Rewards (arXiv 2506.10947) and Oertell et al.: with rewards independent of
    the answer, PPO clipping over several epochs leaves more mass on the base policy's most
    likely answer than the unclipped surrogate at the same settings."""
    common = {
        "task": {"num_prompts": 4, "num_answers": 4, "prior_strength": 0.5},
        "reward": {"kind": "random"},
        "algo": {"group_size": 8, "epochs": 4, "clip_low": 0.2, "clip_high": 0.2},
        "optim": {"kind": "sgd", "lr": 10.0},
        "run": {"steps": 50, "seeds": 1000, "passk": [1]},
    }
    clipped = simulate(Config.from_dict(common, {"algo.loss": "vanilla"}))
    unclipped = simulate(Config.from_dict(common, {"algo.loss": "pg"}))
    v, p = clipped.final["mass_base_top"], unclipped.final["mass_base_top"]
    m = clipped.metrics[clipped.metrics.step > 0]
    clip_frac = (m["clip_low_frac"] + m["clip_high_frac"]).mean()
    print(
        f"\nclip fraction {clip_frac:.3f}; mass on base top answer: clipped mean {v.mean():.3f} "
        f"median {v.median():.3f}, unclipped mean {p.mean():.3f} median {p.median():.3f}"
    )
    assert clip_frac > 0.1
    assert v.mean() > p.mean() and v.median() > p.median()
    assert stats.ttest_ind(v, p, equal_var=False, alternative="greater").pvalue < 1e-6
    assert stats.mannwhitneyu(v, p, alternative="greater").pvalue < 1e-6


#: a step so large that the logits overflow on the first update
OVERFLOW = {"optim.lr": 1e308, "algo.agg": "token-sum-norm"}


@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_non_finite_values_stop_the_run_naming_run_and_step(engine):
    cfg = Config.from_dict(SMALL, {**OVERFLOW, "run.seeds": 2})
    with pytest.raises(NonFiniteError, match=r"run 0 \(replicate 0\) at step 1"):
        simulate(cfg, engine=engine)


@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_non_finite_runs_can_be_recorded_instead(engine):
    cfg = Config.from_dict(SMALL, {**OVERFLOW, "run.seeds": 2, "run.on_nonfinite": "record"})
    res = simulate(cfg, engine=engine)
    assert (res.final["failed_step"] == 1).all()
    assert np.isfinite(res.logits).all()  # the last finite logits
    assert res.metrics.loc[res.metrics.step > 0, "acc"].isna().all()


def test_a_failing_run_does_not_disturb_its_batch_mates():
    good = RunSpec(Config.from_dict(SMALL), 0)
    bad = RunSpec(Config.from_dict(SMALL, {**OVERFLOW, "run.on_nonfinite": "record"}), 0)
    alone = run_batch([good])
    mixed = run_batch([bad, good])
    np.testing.assert_array_equal(alone.metrics[0], mixed.metrics[1])
    assert mixed.failed_step.tolist() == [1, -1]


def test_first_order_prediction_is_close_for_small_steps():
    res = simulate(Config.from_dict(SMALL, {"optim.lr": 0.05, "run.seeds": 4}))
    m = res.metrics[res.metrics.step > 0]
    rel = ((m["dH_exact"] - m["dH_first_order"]).abs() / m["dH_exact"].abs()).median()
    assert rel < 0.02


@pytest.mark.parametrize("engine", ["fast", "reference"])
@pytest.mark.parametrize("optim", ["sgd", "adam"])
def test_held_out_prompts_of_the_bandit_never_move(engine, optim):
    """Independent prompts share no parameters: training on the first 3 prompts leaves the
    held-out prompts bitwise at the base policy (the sequence task's shared mode state is
    what can transfer)."""
    cfg = Config.from_dict(
        SMALL,
        {"task.train_prompts": 3, "optim.kind": optim, "optim.lr": 0.1 if optim == "adam" else 4.0},
    )
    res = simulate(cfg, engine=engine)
    np.testing.assert_array_equal(
        res.logits[:, 3:], np.broadcast_to(res.task.base_logits[3:], res.logits[:, 3:].shape)
    )
    assert res.metrics["acc_heldout"].nunique() == 1
    base_acc = res.metrics.loc[res.metrics.step == 0, "acc"].to_numpy()
    assert (res.final["acc"].to_numpy() > base_acc + 0.05).all()


def test_without_a_split_held_out_metrics_are_nan():
    res = simulate(Config.from_dict(SMALL, {"run.steps": 3}))
    assert res.metrics["acc_heldout"].isna().all() and res.metrics["pass_at_1_heldout"].isna().all()
