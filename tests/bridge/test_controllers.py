"""The controllers (simrl/controllers.py) on the bridge.

Parity (torch vs numpy, 1e-10 per step): the bridge's update with its controllers
(simrl/bridge/control.py) on the one-token model of tests/bridge/test_parity.py against
the reference engine's step with the same batch, step after step, the controllers' state
carried on both sides: the adaptive entropy coefficient (applied value, measured entropy,
bounds) and TR-DPO's reference mix (the reference's logits are the torch reference's
parameters; with a KL term that reads them). KL in the reward: the tiny model end to end,
its reported beta against verl's own adaptive controller fed its reported current_kl.
"""

from dataclasses import replace

import numpy as np
import pytest
import torch
from simrl.theory import entropy, log_softmax

from simrl import controllers
from simrl.bridge.control import BridgeControl
from simrl.bridge.update import UpdateBatch, ppo_update
from simrl.config import Config
from simrl.engine import reference as ref
from simrl.engine.streams import run_generator, stream_layout
from simrl.tasks.bandit import build_bandit
from tests.bridge.test_parity import BASE, TOL

CASES = {
    "entropy-adaptive": {
        "algo.entropy_adaptive": True, "algo.entropy_coef": 0.05, "algo.entropy_target": 1.2,
        "algo.entropy_coef_delta": 0.03, "algo.entropy_coef_max": 0.2, "algo.minibatches": 2,
    },
    "entropy-adaptive-kept-mean": {
        "algo.entropy_adaptive": True, "algo.entropy_coef": 0.1, "algo.entropy_target": 1.2,
        "algo.entropy_agg": "kept-token-mean", "algo.agg": "token-sum", "algo.minibatches": 2,
    },
    "ref-sync-k3": {
        "algo.ref_sync_steps": 2, "algo.ref_mixup_alpha": 0.6, "algo.kl_coef": 0.3,
        "algo.kl_kind": "k3", "algo.minibatches": 3,
    },
    "ref-sync-exact-kl": {
        "algo.ref_sync_steps": 1, "algo.ref_mixup_alpha": 0.3, "algo.kl_coef": 0.3,
        "algo.kl_kind": "exact_reverse", "algo.minibatches": 2,
    },
}  # fmt: skip


def bridge_step(cfg, z, ref_z, control, batch, adv):
    """reference.step's update through the bridge's ppo_update (SGD) on parameters z."""
    n_groups, G = batch.answers.shape
    state = torch.as_tensor(np.repeat(batch.prompt, G))
    z0 = z.detach().clone()
    logp0 = torch.log_softmax(z0, -1)
    tokens = torch.as_tensor(batch.answers.reshape(-1, 1))
    ub = UpdateBatch(
        tokens=tokens,
        mask=torch.ones((n_groups * G, 1), dtype=torch.float64),
        adv=torch.as_tensor(adv.ravel()),
        logp_old=logp0[state, tokens[:, 0]][:, None],
        entropy_old=torch.as_tensor(entropy(z0.numpy()))[state][:, None],
        logp_ref=torch.log_softmax(ref_z.detach(), -1)[state, tokens[:, 0]][:, None],
        n_groups=n_groups,
        group_size=G,
    )
    ppo_update(
        cfg, ub, forward=lambda idx: z[state[idx]][:, None, :],
        optimizer=torch.optim.SGD([z], lr=cfg.optim.lr), params=[z], keys=None,
        forward_ref=lambda idx: ref_z[state[idx]][:, None, :], control=control,
    )  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_bridge_controllers_match_the_reference(case):
    cfg = Config.from_dict(BASE, {**CASES[case], "run.steps": 6})
    task = build_bandit(cfg.task)
    params = ref.RunParams(cfg, task, stream_layout(cfg))
    gen = run_generator(cfg, 0)
    state = replace(ref.initial_state(task), control=controllers.initial(cfg.algo))
    z = torch.nn.Parameter(torch.tensor(task.base_logits, dtype=torch.float64))
    ref_z = torch.nn.Parameter(torch.tensor(task.base_logits, dtype=torch.float64))
    ref_z.requires_grad_(False)
    control = BridgeControl(cfg.algo, [z], [ref_z])
    coefs = set()
    for t in range(cfg.run.steps):
        u = gen.random(params.layout.total)
        pi_old = np.exp(log_softmax(state.logits))
        batch = ref.sampled_batch(params, pi_old, u)
        adv = ref.advantages(params, batch, pi_old)
        state, _ = ref.step(state, params, u, t)
        bridge_step(cfg, z, ref_z, control, batch, adv)
        np.testing.assert_allclose(z.detach().numpy(), state.logits, rtol=0, atol=TOL)
        np.testing.assert_allclose(ref_z.detach().numpy(), state.ref_logits, rtol=0, atol=TOL)
        ours, theirs = state.control, control.state
        assert ours.updates == theirs.updates
        assert abs(ours.entropy_coef - theirs.entropy_coef) <= TOL
        if np.isfinite(ours.last_entropy):
            assert abs(ours.last_entropy - theirs.last_entropy) <= TOL
        coefs.add(round(ours.entropy_coef, 12))
    if cfg.algo.entropy_adaptive:
        assert len(coefs) > 1, "the coefficient never moved: the case tests nothing"
    if cfg.algo.ref_sync_steps:
        assert np.max(np.abs(state.ref_logits - task.base_logits)) > 1e-6


def test_kl_in_reward_end_to_end_follows_verl():
    """The tiny model with KL in the reward (adaptive): the reported beta per step is verl
    0.9.1's AdaptiveKLController fed the reported current_kl with n = the step's
    completions, and the penalty (k3) is >= 0, 0 at the start, positive once the policy moved."""
    core_algos = pytest.importorskip("verl.trainer.ppo.core_algos")
    from omegaconf import OmegaConf

    from tests.bridge.test_end_to_end import tiny

    cfg = tiny(**{
        "algo.kl_in_reward": True, "algo.kl_reward_kind": "k3", "algo.kl_ctrl": "adaptive",
        "algo.kl_reward_coef": 0.2, "algo.kl_target": 1e-4, "algo.kl_horizon": 50,
        "run.steps": 3, "run.eval_every": 1,
    })  # fmt: skip
    from simrl.bridge import run_bridge

    res = run_bridge(cfg)
    m = res.metrics.sort_values("step")
    m = m[m.step > 0]
    theirs = core_algos.get_kl_controller(
        OmegaConf.create({"type": "adaptive", "kl_coef": 0.2, "target_kl": 1e-4, "horizon": 50})
    )
    for _, row in m.iterrows():
        assert abs(row["kl_reward_coef"] - theirs.value) <= TOL * theirs.value
        n = int(row["groups_used"]) * cfg.algo.group_size
        theirs.update(current_kl=row["kl_reward"], n_steps=n)
    assert m["kl_reward"].iloc[0] == pytest.approx(0.0, abs=1e-6)  # policy = reference
    assert (m["kl_reward"] >= 0).all() and m["kl_reward"].iloc[-1] > 0  # k3 >= 0; it moved
