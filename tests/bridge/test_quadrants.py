"""run.audit_quadrants on the bridge (simrl/bridge/quadrants.py): STEER's four quadrants of
the probe breakdown.

- On a one-token "model" whose logits are free parameters (tests/bridge/test_parity.py's
  setting, every state a probe), one step's quadrant metrics equal the numpy reference's
  (simrl/engine/reference.py with run.audit_quadrants), 1e-10, for several losses,
  minibatches, epochs, a sampled KL and an entropy bonus (in the residual on both sides);
- on the tiny Llama: the quadrants' parameter displacements sum to the sgd update's step
  (one minibatch, no KL or entropy term; with gradient clipping too), the four first-order
  terms to dH_token_sum, exact dH = sum of them + the residual; the parameters are
  restored bitwise after the alone logits; the config refuses Adam and a missing run.audit.
"""

import numpy as np
import pytest
import torch
from simrl.theory import entropy, log_softmax

from simrl.bridge import quadrants as Q
from simrl.bridge.update import ProbeSums, UpdateBatch, ppo_update
from simrl.config import Config
from simrl.engine import reference as ref
from simrl.engine.step_end import RunState
from simrl.engine.streams import run_generator, stream_layout
from simrl.errors import ConfigError
from simrl.tasks.bandit import build_bandit

TOL = 1e-10
BASE = {
    "task": {"num_prompts": 6, "num_answers": 5, "prior_strength": 0.3},
    "algo": {"group_size": 6, "epochs": 1, "clip_low": 0.1, "clip_high": 0.1},
    "optim": {"kind": "sgd", "lr": 2.0},
    "run": {"steps": 1, "seeds": 1, "audit": True, "audit_quadrants": True},
}
CASES = {
    "ppo-one-update": {},
    "ppo-epochs-clipped": {"algo.epochs": 3, "optim.lr": 6.0},
    "minibatches-rloo": {"algo.minibatches": 3, "algo.advantage": "rloo", "algo.epochs": 2},
    "kl-k3": {"algo.kl_kind": "k3", "algo.kl_coef": 0.3},
    "kl-exact": {"algo.kl_kind": "exact_reverse", "algo.kl_coef": 0.3},
    "entropy-bonus": {"algo.entropy_coef": 0.1, "algo.epochs": 2},
    "entropy-adv": {"algo.entropy_adv_alpha": 0.4},
    "cispo": {"algo.loss": "cispo", "algo.epochs": 2},
    "dr_grpo-random": {"reward.kind": "random", "algo.advantage": "dr_grpo"},
}


def bridge_quadrants(cfg, task, z0, batch, adv):
    """One step through the bridge's update with every state a probe: (z1, per-state
    QUADRANT_METRICS rows, the probe sums)."""
    n_groups, G = batch.answers.shape
    S = z0.shape[0]
    z = torch.nn.Parameter(torch.tensor(z0, dtype=torch.float64))
    state = torch.as_tensor(np.repeat(batch.prompt, G))
    logp0 = torch.log_softmax(torch.tensor(z0, dtype=torch.float64), -1)
    tokens = torch.as_tensor(batch.answers.reshape(-1, 1))
    ref_z = torch.tensor(task.base_logits)
    ub = UpdateBatch(
        tokens=tokens,
        mask=torch.ones((n_groups * G, 1), dtype=torch.float64),
        adv=torch.as_tensor(adv.ravel()),
        logp_old=logp0[state, tokens[:, 0]][:, None],
        entropy_old=torch.as_tensor(entropy(z0))[state][:, None],
        logp_ref=torch.log_softmax(ref_z, -1)[state, tokens[:, 0]][:, None],
        n_groups=n_groups,
        group_size=G,
    )
    quads = Q.QuadrantSums.start(S, [z])
    where = {(i, 0): int(s) for i, s in enumerate(state)}
    sums = ProbeSums.empty(where, S, quads)
    ppo_update(
        cfg,
        ub,
        forward=lambda idx: z[state[idx]][:, None, :],
        optimizer=torch.optim.SGD([z], lr=cfg.optim.lr),
        params=[z],
        keys=None,
        forward_ref=lambda idx: ref_z[state[idx]][:, None, :],
        probes=sums,
    )
    z1 = z.detach().numpy().copy()
    alone = quads.alone_logits([z], lambda: z.detach().numpy().copy())
    assert np.array_equal(z.detach().numpy(), z1)  # restored bitwise
    return z1, Q.quadrant_rows(z0, z1, quads.first, alone), sums


@pytest.mark.parametrize("case", list(CASES))
def test_one_token_model_quadrants_match_the_reference(case):
    cfg = Config.from_dict(BASE, CASES[case])
    task = build_bandit(cfg.task)
    params = ref.RunParams(cfg, task, stream_layout(cfg))
    u = run_generator(cfg, 0).random(params.layout.total)
    z0 = ref.initial_state(task).logits
    pi_old = np.exp(log_softmax(z0))
    batch = ref.sampled_batch(params, pi_old, u)
    adv = ref.advantages(params, batch, pi_old)
    state = RunState(z0, task.base_logits.copy(), ref.init_state(task.shape))
    new, metrics = ref.step(state, params, u, 0)
    z1, rows, sums = bridge_quadrants(cfg, task, z0, batch, adv)
    np.testing.assert_allclose(z1, new.logits, rtol=0, atol=TOL)
    moved = np.any(new.logits != z0, axis=1)
    assert moved.any()
    got = rows[moved].mean(axis=0)
    want = np.array([metrics[n] for n in Q.QUADRANT_METRICS])
    assert np.abs(got - want).max() <= TOL, dict(zip(Q.QUADRANT_METRICS, got - want, strict=True))
    # the parts: the first-order terms sum to the one-token total, the residual closes it
    np.testing.assert_allclose(rows[:, :4].sum(1), sums.token, rtol=0, atol=1e-14)
    exact = entropy(z1) - entropy(z0)
    np.testing.assert_allclose(rows[:, :4].sum(1) + rows[:, 8], exact, rtol=0, atol=1e-14)
    assert (np.abs(rows[moved, :4]) > 0).sum() >= 2  # more than one quadrant holds tokens


@pytest.fixture
def cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SIMRL_CACHE", str(tmp_path_factory.getbasetemp() / "simrl-cache"))


QUAD = {"run.audit": True, "run.audit_quadrants": True, "optim.kind": "sgd"}


def test_tiny_model_quadrants_sum_to_the_step_and_close_the_entropy_change(cache, monkeypatch):
    """On the tiny Llama (sgd, one minibatch, no KL or entropy term, gradient clipping on):
    the four D_q sum to the update's parameter step (float32 rounding); per probe the first
    order terms sum to dH_token_sum and, with the residual, to dH_exact; the alone changes
    are defined at every probe (held-out ones too: spill-over); the parameters are
    restored bitwise; the update metrics hold the probe means."""
    from simrl.bridge import run_bridge
    from simrl.bridge.probes import PROBE_COLUMNS
    from tests.bridge.test_end_to_end import tiny

    gaps, orig = [], Q.QuadrantSums.alone_logits

    def spy(self, params, probe_logits):
        now = [p.detach().clone() for p in params]
        step = torch.cat([(p - p0).ravel() for p, p0 in zip(now, self.theta0, strict=True)])
        parts = torch.cat([sum(d[i] for d in self.dtheta).ravel() for i in range(len(now))])
        gaps.append(float((parts - step).abs().max() / step.abs().max()))
        out = orig(self, params, probe_logits)
        assert all(torch.equal(p, v) for p, v in zip(params, now, strict=True))
        return out

    monkeypatch.setattr(Q.QuadrantSums, "alone_logits", spy)
    cfg = tiny(**QUAD, **{"optim.lr": 0.5, "reward.kind": "random", "bridge.max_grad_norm": 0.5})
    res = run_bridge(cfg)
    assert len(gaps) == cfg.run.steps and max(gaps) <= 1e-5, gaps
    a = res.audit
    assert set(PROBE_COLUMNS + Q.QUADRANT_METRICS) <= set(a.columns)
    first = a[[f"dH_q_{q}" for q in Q.QUADRANTS]].to_numpy()
    np.testing.assert_allclose(first.sum(1), a["dH_token_sum"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(first.sum(1) + a["dH_q_residual"], a["dH_exact"], rtol=0, atol=1e-12)
    alone = a[[f"dH_q_{q}_alone" for q in Q.QUADRANTS]].to_numpy()
    assert np.isfinite(alone).all() and (np.abs(alone) > 0).any()
    held = a["kind"] == "heldout"
    assert (first[held] == 0).all() and (np.abs(alone[held]) > 0).any()
    last = res.metrics.iloc[-1]
    for name in Q.QUADRANT_METRICS:
        assert name in res.metrics.columns and np.isfinite(last[name])
    step_rows = a[a["step"] == cfg.run.steps]
    assert np.isclose(last["dH_q_residual"], step_rows["dH_q_residual"].mean())


def test_the_config_needs_the_audit_and_sgd():
    from tests.bridge.test_end_to_end import tiny

    tiny(**QUAD)  # accepted
    for bad in ({"run.audit": False}, {"optim.kind": "adam"}):
        with pytest.raises(ConfigError, match=r"^run\.audit_quadrants"):
            tiny(**{**QUAD, **bad})


def test_the_entropy_audit_at_scale_has_the_split_of_rl_step(cache):
    """simrl/bridge/entropy_audit.py with run.audit_quadrants: its rows carry the split,
    equal to rl_step's on the same batch (every probe visited, as in test_entropy_audit)."""
    from simrl.bridge import entropy_audit as ea
    from simrl.bridge.step import audit_columns
    from tests.bridge.test_entropy_audit import cfg_for, probe_set, rl_step_audit

    ctx = ea.audit_context(cfg_for(**QUAD, **{"optim.lr": 0.5}))
    ps = probe_set(ctx, n_heldout=0, cuts=0)
    table = ea.audit_table(ctx, ps, [0.5], updates=1, seed=3)
    want = rl_step_audit(ctx, ps, 3)
    cols = list(audit_columns(ctx.cfg))
    assert cols[-len(Q.QUADRANT_METRICS) :] == list(Q.QUADRANT_METRICS)
    np.testing.assert_allclose(table[cols].to_numpy(), want, rtol=1e-6, atol=1e-12)
    assert np.abs(table[[f"dH_q_{q}_alone" for q in Q.QUADRANTS]].to_numpy()).max() > 0
