"""Sequence tasks: the graph, the exact DP against brute-force enumeration, the exact
expected gradient against the average of sampled gradients, and the forking-token rule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simrl import Config
from simrl.engine import sequence_ref as sr
from simrl.engine.batch import RunSpec, run_batch
from simrl.engine.streams import fill_block, run_generator, stream_layout
from simrl.errors import ConfigError
from simrl.metrics_sequence import sequence_eval_metrics, weighted_quantile
from simrl.tasks.reasoning import build_sequence, top_mass_for_entropy
from simrl.tasks.sequence import (
    NO_TOKEN,
    PAD_LOGIT,
    GraphBuilder,
    SequenceTask,
    leaf_expected_reward,
)

SMALL = {"kind": "sequence", "num_prompts": 3, "num_answers": 3, "vocab": 3, "reasoning_tokens": 3}

CASES = [
    {},
    {"answer": "policy"},
    {"format_mass": 0.3, "end_prob": 0.25, "fork_positions": [0, 2], "fork_effect": 0.6},
    {"answer": "policy", "format_mass": 0.2, "share_mode_state": False, "num_modes": 3,
     "mode_accuracy": [0.9, 0.5, 0.1], "end_prob": 0.3, "min_steps": 1},
]  # fmt: skip


def small_config(task: dict | None = None, **over) -> Config:
    return Config.from_dict({"task": {**SMALL, **(task or {})}}, over)


def enumerate_responses(task: SequenceTask, pi: np.ndarray, s: int):
    """Every response of prompt s by recursion: (probability, states visited, leaf)."""
    out = []

    def walk(n: int, prob: float, visited: list[int]) -> None:
        row = task.node_row[n]
        for v in range(task.row_width[row]):
            p = prob * pi[row, v]
            c = int(task.child[n, v])
            if c < 0:
                out.append((p, [*visited, n], -c - 1))
            else:
                walk(c, p, [*visited, n])

    walk(int(task.root[s]), 1.0, [])
    return out


def brute_force_metrics(task: SequenceTask, logits: np.ndarray, n_train: int) -> dict:
    logp = task.log_probs(logits)
    pi = np.exp(logp)
    h = -(pi * np.where(pi > 0, logp, 0.0)).sum(axis=1)
    acc, length, fmt, tokens, h_resp, h_ans = [], [], [], [], [], []
    for s in range(task.num_prompts):
        a = ln = f = hr = 0.0
        answers = np.zeros(task.num_answers)
        for p, visited, leaf in enumerate_responses(task, pi, s):
            a += p * (task.leaf_answer[leaf] * task.correct[s]).sum()
            ln += p * task.leaf_len[leaf]
            f += p * task.leaf_format[leaf]
            hr -= p * np.log(p) if p > 0 else 0.0  # each response (token sequence) once
            answers += p * task.leaf_answer[leaf]
            if s < n_train:
                tokens += [(h[task.node_row[n]], p) for n in visited]
        acc.append(a)
        length.append(ln)
        fmt.append(f)
        h_resp.append(hr)
        nz = answers[answers > 0]
        h_ans.append(-(nz * np.log(nz)).sum())
    ent = np.array([t[0] for t in tokens])
    w = np.array([t[1] for t in tokens])
    return {
        "acc": np.mean(acc[:n_train]),
        "acc_heldout": np.mean(acc[n_train:]) if n_train < task.num_prompts else np.nan,
        "length_mean": np.mean(length[:n_train]),
        "mass_format": np.mean(fmt[:n_train]),
        "entropy_mean": (w * ent).sum() / w.sum(),
        "entropy_q50": weighted_quantile(ent, w, 0.5),
        "entropy_gt05": (w * (ent > 0.5)).sum() / w.sum(),
        "entropy_response": np.mean(h_resp[:n_train]),
        "entropy_answer": np.mean(h_ans[:n_train]),
    }


@pytest.mark.parametrize("case", CASES)
def test_dp_equals_brute_force_enumeration(case):
    cfg = small_config(case)
    task = build_sequence(cfg.task)
    rng = np.random.default_rng(1)
    own = np.arange(task.shape[1])[None, :] < task.row_width[:, None]
    for trial in range(3):
        logits = np.where(own, task.base_logits + rng.normal(0, 1.5 * trial, task.shape), PAD_LOGIT)
        n_train = 2
        got = sequence_eval_metrics(logits, task, (1, 4), n_train)
        want = brute_force_metrics(task, logits, n_train)
        for name, value in want.items():
            if name == "mass_format" and not task.leaf_format.any():
                assert math.isnan(got[name])
                continue
            assert got[name] == pytest.approx(value, rel=1e-10, abs=1e-12), name
        acc = np.array([got["acc"]])
        assert got["pass_at_1"] == pytest.approx(got["acc"])
        assert 0 <= acc[0] <= 1


def test_base_policy_facts():
    cfg = small_config({"prior_strength": 0.7, "mode_accuracy": [0.8, 0.3]})
    task = build_sequence(cfg.task)
    m = sequence_eval_metrics(task.base_logits, task, (1,))
    # accuracy = sum_m P(mode) * accuracy(mode) when forks do not matter
    assert m["acc"] == pytest.approx(0.7 * 0.8 + 0.3 * 0.3)
    assert m["mode_usage_0"] == pytest.approx(0.7)
    assert m["mass_base_top"] == pytest.approx(0.7)
    assert m["length_mean"] == pytest.approx(cfg.max_len)
    assert m["kl_base"] == pytest.approx(0.0, abs=1e-12)
    assert (task.base_top_mode == 0).all()


def test_fork_states_have_the_configured_entropy():
    cfg = small_config({"fork_entropy": 0.9, "fork_positions": [1], "peak_mass": 0.9})
    task = build_sequence(cfg.task)
    pi = task.probs(task.base_logits)
    h = -(pi * np.where(pi > 0, np.log(np.where(pi > 0, pi, 1)), 0)).sum(axis=1)
    fork_rows = np.unique(task.node_row[task.node_fork])
    assert fork_rows.size > 0
    np.testing.assert_allclose(h[fork_rows], 0.9, atol=1e-9)
    t = top_mass_for_entropy(0.9, 3)
    assert 1 / 3 < t < 1


def test_shared_mode_state_is_one_row():
    shared = build_sequence(small_config().task)
    own = build_sequence(small_config({"share_mode_state": False}).task)
    assert np.unique(shared.node_row[shared.root]).size == 1
    assert np.unique(own.node_row[own.root]).size == own.num_prompts


def test_graph_builder_docstring_example_and_errors():
    g = GraphBuilder(num_prompts=2, num_answers=3)
    for s in range(2):
        root = g.state(s, [0.7, 0.3], row="habit")
        a = g.leaf(s, answer=0)
        b = g.state(s, [0.5, 0.5])
        g.connect_leaf(root, 0, a)
        g.connect(root, 1, b)
        g.connect_leaf(b, 0, g.leaf(s, answer=1))
        g.connect_leaf(b, 1, g.leaf(s, answer={0: 0.6, 2: 0.4}))
        g.root(s, root)
    task = g.build(correct=[0, 0])
    assert task.shape == (3, 2)  # the shared habit row + one row per prompt's second state
    m = sequence_eval_metrics(task.base_logits, task, (1,))
    assert m["acc"] == pytest.approx(0.7 + 0.3 * 0.5 * 0.6)
    assert task.child[0, 0] < 0 and task.child[0, 0] != NO_TOKEN
    assert task.max_len == 2
    assert not task.deterministic_answers

    bad = GraphBuilder(1, 2)
    r = bad.state(0, [0.5, 0.5])
    bad.root(0, r)
    bad.connect_leaf(r, 0, bad.leaf(0, 0))
    with pytest.raises(ConfigError, match="token 1 leads nowhere"):
        bad.build([0])
    with pytest.raises(ConfigError, match="must be positive"):
        bad.state(0, [1.0, 0.0])


def test_custom_task_runs_through_simulate():
    from simrl import simulate

    g = GraphBuilder(num_prompts=1, num_answers=2)
    root = g.state(0, [0.5, 0.5])
    g.connect_leaf(root, 0, g.leaf(0, 0))
    g.connect_leaf(root, 1, g.leaf(0, 1))
    g.root(0, root)
    task = g.build(correct=[0])
    cfg = Config.from_dict(
        {"task": {"kind": "sequence", "num_prompts": 1}, "run": {"steps": 20, "seeds": 2}}
    )
    res = simulate(cfg, engine="reference", task=task)
    assert (res.final["acc"] > 0.5).all()
    with pytest.raises(ConfigError, match="num_prompts"):
        simulate(cfg.replace(**{"task.num_prompts": 2}), engine="reference", task=task)


def first_step_dz(cfg: Config, seeds: int) -> np.ndarray:
    """(seeds, M, V) logit change of the first step of each replicate (reference engine)."""
    task = build_sequence(cfg.task)
    lay = stream_layout(cfg, task.max_len)
    params = sr.SeqParams(cfg, task, lay)
    out = np.empty((seeds, *task.shape))
    u = np.empty((1, lay.total))
    for i in range(seeds):
        fill_block(run_generator(cfg, i), u)
        state = sr.initial_state(task)
        new, _ = sr.step(state, params, u[0], 0)
        out[i] = new.logits - state.logits
    return out


@pytest.mark.parametrize(("advantage", "factor"), [("rloo", 1.0), ("dr_grpo", 7 / 8)])
def test_sampled_gradients_average_to_the_exact_gradient(advantage, factor):
    """E[RLOO policy gradient] = the exact expected gradient; Dr. GRPO's group-mean
    baseline shrinks it by (G - 1) / G. One sgd step with lr 1 is minus the gradient, so
    the mean sampled dz converges to the exact dz at rate std / sqrt(n)."""
    task = {"answer": "policy", "format_mass": 0.3, "end_prob": 0.3, "fork_effect": 0.5}
    over = {"algo.loss": "pg", "algo.agg": "seq-mean-token-sum", "algo.group_size": 8}
    over |= {"optim.lr": 1.0, "task.num_prompts": 2}
    exact = first_step_dz(small_config(task, **over, **{"algo.exact": True}), 1)[0]
    n = 3000
    sampled = first_step_dz(small_config(task, **over, **{"algo.advantage": advantage}), n)
    own = (
        np.arange(exact.shape[1])[None, :]
        < build_sequence(small_config(task, **over).task).row_width[:, None]
    )
    mean, se = sampled.mean(axis=0)[own], sampled.std(axis=0, ddof=1)[own] / math.sqrt(n)
    target = factor * exact[own]
    moving = se > 0
    z = (mean[moving] - target[moving]) / se[moving]
    # |z| below the two-sided 1e-4 / (entries) Bonferroni bound under the CLT
    assert np.abs(z).max() < 5.0, np.abs(z).max()
    assert np.allclose(mean[~moving], target[~moving], atol=1e-12)
    # and the check has power: the exact gradient is far from zero relative to the SE
    assert np.abs(target[moving] / se[moving]).max() > 20


def test_forking_rule_leaves_unselected_states_unchanged():
    """Only tokens at states in the top 20% of the minibatch's entropies get gradient,
    so the low-entropy states (peaked reasoning tokens, here also the mode state) keep
    their base logits exactly, while the forks move."""
    cfg = small_config(
        {"prior_strength": 0.5, "fork_positions": [1], "fork_entropy": 1.05, "reasoning_tokens": 4},
        **{"algo.forking_top_quantile": 0.2, "run.steps": 15, "run.seeds": 3, "optim.lr": 1.0},
    )
    task = build_sequence(cfg.task)
    res = run_batch([RunSpec(cfg, i) for i in range(3)], engine="reference")
    fork_rows = np.unique(task.node_row[task.node_fork])
    other = np.setdiff1d(np.arange(task.shape[0]), fork_rows)
    for r in range(3):
        assert np.array_equal(res.logits[r][other], task.base_logits[other])
        assert not np.array_equal(res.logits[r][fork_rows], task.base_logits[fork_rows])
    kept = res.metrics[:, 1:, res.names.index("forking_kept_frac")]
    assert np.all(kept < 0.35)
    share = res.metrics[:, 1:, res.names.index("fork_grad_share")]
    assert np.nanmin(share) == pytest.approx(1.0)


def test_exact_mode_refuses_length_dependent_aggregation():
    with pytest.raises(ConfigError, match=r"algo\.agg"):
        small_config({"end_prob": 0.2}, **{"algo.exact": True, "algo.agg": "token-mean"})
    small_config({"end_prob": 0.2}, **{"algo.exact": True, "algo.agg": "seq-mean-token-sum"})


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"task.mode_accuracy": [0.5]}, "task.mode_accuracy"),
        ({"task.mode_prior": [0.5, 0.6]}, "task.mode_prior"),
        ({"task.fork_positions": [7]}, "task.fork_positions"),
        ({"task.fork_entropy": 2.0}, "task.fork_entropy"),
        ({"task.min_steps": 9}, "task.min_steps"),
        ({"algo.overlong_cache": 9}, "algo.overlong_cache"),
        ({"reward.kind": "format"}, "reward.kind"),
        ({"task.prior_spread": 0.1}, "task.prior_spread"),
        ({"task.answer": "model"}, "task.answer"),
    ],
)
def test_sequence_config_errors(over, field):
    with pytest.raises(ConfigError) as e:
        Config.from_dict({"task": SMALL}, over)
    assert e.value.field == field


@pytest.mark.parametrize("field", ["task.num_modes", "task.vocab", "algo.forking_top_quantile"])
def test_bandit_refuses_sequence_fields(field):
    value = 0.5 if field.startswith("algo") else 3
    with pytest.raises(ConfigError, match=r"applies to task\.kind = 'sequence' only"):
        Config.from_dict({}, {field: value})


def test_leaf_expected_reward_matches_the_reward_definitions():
    task = build_sequence(small_config({"format_mass": 0.4}).task)
    true = leaf_expected_reward(task, "true", p=0.5, flip=0.1)
    assert np.allclose(leaf_expected_reward(task, "random", p=0.3, flip=0.1), 0.3)
    assert np.allclose(
        leaf_expected_reward(task, "noisy", p=0.5, flip=0.1), 0.9 * true + 0.1 * (1 - true)
    )
    assert np.array_equal(leaf_expected_reward(task, "format", p=0.5, flip=0.1), task.leaf_format)
    assert np.isnan(leaf_expected_reward(task, "self_consistency", p=0.5, flip=0.1)).all()


def test_transfer_to_held_out_prompts_only_through_the_shared_mode_state():
    over = {"run.steps": 30, "run.seeds": 2, "optim.lr": 2.0}
    task = {"num_prompts": 4, "train_prompts": 2, "prior_strength": 0.4}
    shared = run_batch([RunSpec(small_config(task, **over), i) for i in range(2)], "reference")
    own_cfg = small_config({**task, "share_mode_state": False}, **over)
    own = run_batch([RunSpec(own_cfg, i) for i in range(2)], "reference")
    col = shared.names.index("acc_heldout")
    assert np.all(shared.metrics[:, -1, col] > shared.metrics[:, 0, col] + 0.05)
    # per-prompt states: the held-out prompts' rows never move, their accuracy is the base's
    assert np.all(own.metrics[:, :, col] == own.metrics[:, :1, col])
    assert np.all(own.metrics[:, -1, own.names.index("acc")] > own.metrics[:, 0, 0])


def test_custom_example_task_and_cli(tmp_path):
    from simrl.cli import main
    from simrl.examples_path import EXAMPLES

    spec = f"{EXAMPLES / 'custom_sequence.py'}:build"
    out = tmp_path / "run"
    rc = main(
        ["run", str(EXAMPLES / "custom_sequence.toml"), "--task", spec, "--engine", "reference",
         "--set", "run.steps=10", "--set", "run.seeds=2", "--out", str(out), "--quiet"]
    )  # fmt: skip
    assert rc == 0 and (out / "final.parquet").is_file()
    assert main(["run", str(EXAMPLES / "custom_sequence.toml"), "--task", "x.py:build"]) == 2
    bandit = EXAMPLES / "quickstart.toml"
    assert main(["run", str(bandit), "--task", spec, "--engine", "reference", "--quiet"]) == 2


@pytest.mark.parametrize("name", ["sequence.toml", "custom_sequence.toml"])
def test_example_configs_load(name):
    from simrl.examples_path import EXAMPLES

    cfg = Config.from_toml(EXAMPLES / name)
    assert cfg.task.kind == "sequence"
