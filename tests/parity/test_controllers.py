"""Parity of simrl's controllers (simrl/controllers.py) with the installed verl and TRL.

- KL in the reward: verl 0.9.1's own `core_algos.kl_penalty` (the per-token value),
  `verl.utils.torch_functional.masked_mean` and the controllers `get_kl_controller`
  (`FixedKLController`, `AdaptiveKLController`), composed as `ray_trainer.apply_kl_penalty`
  composes them (token_level_rewards = scores - beta kld, current_kl = mean over the batch
  of masked_mean(kld, mask, -1), kl_ctrl.update(current_kl, n_steps=batch_size)); the
  ray trainer module itself does not import without the trainer's dependencies (torchdata,
  peft, ray), which the CI does not install. Compared over several steps with the same
  controller objects (so the adaptive trajectory is checked), 1e-10; and the reference
  engines' reported beta against the verl controller fed the engines' reported current_kl.
- TR-DPO: TRL 1.16.0's own `SyncRefModelCallback._sync_target_model` on torch parameters
  holding the logits, at TRL's global steps, against the reference engine's reference.
- Adaptive entropy: TRL 1.16.0's own `GRPOTrainer._compute_loss` with
  `use_adaptive_entropy=True` (on tests/parity/test_trl.py's stub), step after step: the
  applied coefficient (from the entropies' gradient), the coefficient after each optimiser
  step and the measured entropy, against simrl's controller, 1e-10.
"""

from __future__ import annotations

import types
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="parity needs torch")
core_algos = pytest.importorskip(
    "verl.trainer.ppo.core_algos", reason="parity with verl needs verl: pip install verl==0.9.1"
)
trl = pytest.importorskip("trl", reason="parity with TRL needs trl: pip install trl==1.16.0")
from omegaconf import OmegaConf  # noqa: E402
from trl.trainer.callbacks import SyncRefModelCallback  # noqa: E402
from verl.utils.torch_functional import masked_mean  # noqa: E402

from simrl import controllers  # noqa: E402
from simrl.config import AlgoConfig, Config  # noqa: E402
from simrl.engine import reference, sequence_ref  # noqa: E402
from simrl.engine.batch import run_batch  # noqa: E402
from simrl.engine.result import RunSpec  # noqa: E402
from simrl.engine.streams import fill_block, run_generator, stream_layout  # noqa: E402
from simrl.tasks import build_task  # noqa: E402

VERL_VERSION, TRL_VERSION = "0.9.1", "1.16.0"  # the versions these rules were read from
TOL = 1e-10
#: simrl's estimator name -> verl's algorithm.kl_penalty name
VERL_KL = {"k1": "kl", "k2": "mse", "k3": "low_var_kl", "abs": "abs", "k1+": "k1+", "k3+": "k3+"}


def test_installed_versions_are_the_ones_read():
    import verl

    assert verl.__version__ == VERL_VERSION
    assert trl.__version__ == TRL_VERSION


def verl_controller(a: AlgoConfig):
    return core_algos.get_kl_controller(
        OmegaConf.create(
            {
                "type": a.kl_ctrl,
                "kl_coef": a.kl_reward_coef,
                "target_kl": a.kl_target,
                "horizon": a.kl_horizon,
            }
        )
    )


@pytest.mark.parametrize("kind", sorted(VERL_KL))
@pytest.mark.parametrize("ctrl", ["fixed", "adaptive"])
def test_kl_in_reward_matches_verl(kind, ctrl):
    """Five steps of random ragged batches: the responses' penalised rewards (an outcome
    estimator sums the token rewards), current_kl and the controller's value after each
    update, simrl against verl."""
    a = AlgoConfig(
        kl_in_reward=True, kl_reward_kind=kind, kl_ctrl=ctrl, kl_reward_coef=0.05,
        kl_target=0.02, kl_horizon=40,
    )  # fmt: skip
    theirs = verl_controller(a)
    ours = controllers.initial(a)
    rng = np.random.default_rng(7)
    n_groups, G, T = 3, 4, 6
    for _ in range(5):
        B = n_groups * G
        length = rng.integers(1, T + 1, size=B)
        mask = (np.arange(T)[None, :] < length[:, None]).astype(float)
        old = np.log(rng.uniform(0.05, 0.95, size=(B, T)))
        ref = old + rng.normal(0.0, 0.4, size=(B, T))
        score = np.zeros((B, T))
        score[np.arange(B), length - 1] = rng.integers(0, 2, size=B)
        # verl ray_trainer.apply_kl_penalty, step by step with verl's own functions
        kld = core_algos.kl_penalty(torch.tensor(old), torch.tensor(ref), VERL_KL[kind])
        kld = kld * torch.tensor(mask)
        beta = theirs.value
        token_rewards = torch.tensor(score) - beta * kld
        current = torch.mean(masked_mean(kld, mask=torch.tensor(mask), axis=-1), dim=0).item()
        theirs.update(current_kl=current, n_steps=B)
        # simrl
        k = [
            controllers.kl_values(kind, old[i, : length[i]], ref[i, : length[i]]) for i in range(B)
        ]
        k_sum = np.array([x.sum() for x in k]).reshape(n_groups, G)
        r = score.sum(axis=1).reshape(n_groups, G)
        pen, cur, used, ours = controllers.penalise_rewards(
            a, ours, r, k_sum, length.reshape(n_groups, G).astype(float)
        )
        np.testing.assert_allclose(pen.ravel(), token_rewards.sum(dim=-1).numpy(), rtol=0, atol=TOL)
        assert abs(cur - current) <= TOL
        assert used == beta
        assert abs(ours.kl_beta - theirs.value) <= TOL * max(1.0, abs(theirs.value))
    if ctrl == "adaptive":
        assert ours.kl_beta != a.kl_reward_coef  # the controller moved


def small(kind: str, **algo) -> Config:
    over = {
        "task.kind": kind, "run.steps": 12, "run.seeds": 1, "run.eval_every": 1,
        "algo.minibatches": 2, "algo.epochs": 2,
    }  # fmt: skip
    over.update({f"algo.{k}": v for k, v in algo.items()})
    return Config.from_dict({}, over)


@pytest.mark.parametrize("kind", ["bandit", "sequence"])
def test_engine_beta_follows_verl_adaptive_controller(kind):
    """The reference engines' applied beta per step is verl's AdaptiveKLController fed the
    engine's reported current_kl with n_steps = the step's responses."""
    cfg = small(
        kind, kl_in_reward=True, kl_reward_kind="k3", kl_ctrl="adaptive", kl_reward_coef=0.1,
        kl_target=0.001, kl_horizon=500, kl_coef=0.05,
    )  # fmt: skip
    res = run_batch([RunSpec(cfg, 0)], engine="reference")
    m = {n: res.metrics[0, 1:, res.names.index(n)] for n in res.names}
    theirs = verl_controller(cfg.algo)
    for t in range(cfg.run.steps):
        assert abs(m["kl_reward_coef"][t] - theirs.value) <= TOL * theirs.value
        n = int(m["groups_used"][t]) * cfg.algo.group_size
        theirs.update(current_kl=m["kl_reward"][t], n_steps=n)
    assert m["kl_reward"][0] == 0.0  # the policy starts at the reference
    assert np.all(m["kl_reward"][1:] > 0)  # k3 >= 0, and the policy moved off it
    assert m["kl_reward_coef"][-1] != m["kl_reward_coef"][0]


def run_steps(cfg: Config, steps: int):
    """The reference engine's states after each step (the bandit or the sequence form)."""
    task = build_task(cfg.task)
    lay = stream_layout(cfg, getattr(task, "max_len", None))
    if cfg.task.kind == "sequence":
        mod, params = sequence_ref, sequence_ref.SeqParams(cfg, task, lay)
    else:
        mod, params = reference, reference.RunParams(cfg, task, lay)
    state = replace(mod.initial_state(task), control=controllers.initial(cfg.algo))
    gen, u = run_generator(cfg, 0), np.empty((1, lay.total))
    out = []
    for t in range(steps):
        fill_block(gen, u)
        state, _ = mod.step(state, params, u[0], t)
        out.append(state)
    return out


@pytest.mark.parametrize("kind", ["bandit", "sequence"])
def test_ref_mixing_matches_trl_callback(kind):
    """One update per step (epochs = minibatches = 1), tau = 3: TRL's callback at its global
    steps mixes a torch copy of the logits into the reference's; the engine's reference
    logits after every step agree (1e-10), and differ from the base's."""
    cfg = small(kind, ref_sync_steps=3, ref_mixup_alpha=0.6, kl_coef=0.1, minibatches=1, epochs=1)
    states = run_steps(cfg, 9)
    task = build_task(cfg.task)
    policy = torch.nn.Linear(1, 1)  # stands in for the model: its parameters are the logits
    ref_model = torch.nn.Linear(1, 1)
    policy.weight = torch.nn.Parameter(torch.tensor(task.base_logits))
    ref_model.weight = torch.nn.Parameter(torch.tensor(task.base_logits))
    policy.bias = ref_model.bias = None
    callback = SyncRefModelCallback(ref_model=ref_model, accelerator=None)
    args = types.SimpleNamespace(ref_model_sync_steps=3, ref_model_mixup_alpha=0.6)
    for step, st in enumerate(states, start=1):
        with torch.no_grad():
            policy.weight.copy_(torch.tensor(st.logits))
        if step % args.ref_model_sync_steps == 0:  # on_step_end's condition, TRL's rule
            SyncRefModelCallback._sync_target_model(policy, ref_model, args.ref_model_mixup_alpha)
        np.testing.assert_allclose(
            st.ref_logits, ref_model.weight.detach().numpy(), rtol=0, atol=TOL
        )
        assert st.control.updates == step
    assert np.max(np.abs(states[-1].ref_logits - task.base_logits)) > 1e-3
    assert callback.ref_model is ref_model


def test_ref_mixing_counts_updates_within_a_step():
    """Two updates a step (minibatches = 2), tau = 2: TRL's global_step counts optimiser
    updates, so the reference mixes once a step, after the step's second update (the
    step's final logits)."""
    cfg = small("bandit", ref_sync_steps=2, ref_mixup_alpha=0.5, kl_coef=0.1, epochs=1)
    states = run_steps(cfg, 3)
    ref = build_task(cfg.task).base_logits
    for st in states:
        ref = controllers.mix_reference(ref, st.logits, 0.5)
        np.testing.assert_allclose(st.ref_logits, ref, rtol=0, atol=TOL)
        assert st.control.updates % 2 == 0


# ---- TRL's adaptive entropy coefficient -------------------------------------------------


def test_adaptive_entropy_matches_trl():
    """TRL's `_compute_loss` with use_adaptive_entropy over eight optimiser steps whose
    measured entropies cross the target both ways: the bonus it applies (d loss / d H =
    -applied coef keep / sum keep), its coefficient and last entropy after each step, and
    simrl's controller (applied_entropy_coef, kept_entropy_mean, after_update) from the
    same entropies and mask, 1e-10. The first step applies nothing (TRL: last = inf)."""
    from tests.parity.test_trl import B, T, TrlStub, config, make_data

    a = AlgoConfig(
        entropy_adaptive=True, entropy_coef=0.01, entropy_target=1.0, entropy_coef_delta=0.004,
        entropy_coef_min=0.002, entropy_coef_max=0.02, entropy_agg="kept-token-mean",
    )  # fmt: skip
    d, p = make_data(4), config("dapo", None)
    mask = torch.tensor(d["mask"])
    m = d["mask"].astype(bool)
    zeros = torch.zeros((B, T), dtype=torch.float64)
    stub = TrlStub("dapo", "token", None, zeros, p, entropies=zeros, entropy_coef=a.entropy_coef)
    stub.use_adaptive_entropy = True
    stub._entropy_bonus_enabled = True
    stub._last_world_entropy = float("inf")
    stub._entropy_window_stats = None
    stub.args.entropy_target = a.entropy_target
    stub.args.entropy_coef_delta = a.entropy_coef_delta
    stub.args.entropy_coef_min = a.entropy_coef_min
    stub.args.entropy_coef_max = a.entropy_coef_max
    ours = controllers.initial(a)
    rng = np.random.default_rng(5)
    levels = [0.5, 0.6, 1.5, 1.4, 0.3, 2.0, 0.8, 0.9]  # mean entropies around the target
    applied_seen = set()
    for level in levels:
        ent = rng.uniform(0.5, 1.5, size=(B, T)) * level
        logp = torch.tensor(d["logp"], requires_grad=True)
        ent_t = torch.tensor(ent, requires_grad=True)
        stub.logp, stub.entropies = logp, ent_t
        inputs = {
            "prompt_ids": torch.zeros((B, 1), dtype=torch.long),
            "prompt_mask": torch.ones((B, 1), dtype=torch.long),
            "completion_ids": torch.zeros((B, T), dtype=torch.long),
            "completion_mask": mask,
            "advantages": torch.tensor(d["adv"]),
            "old_per_token_logps": torch.tensor(d["logp_old"]),
            "num_items_in_batch": mask.sum(),
        }
        loss = stub._compute_loss(None, inputs)
        (g_ent,) = torch.autograd.grad(loss, ent_t)
        applied = controllers.applied_entropy_coef(a, ours)
        applied_seen.add(applied > 0)
        n = m.sum()
        np.testing.assert_allclose(g_ent.numpy()[m], np.full(n, -applied / n), rtol=0, atol=TOL)
        e = controllers.kept_entropy_mean(ent[m], np.ones(n), np.ones(n, dtype=bool))
        ours, _ = controllers.after_update(a, ours, e, None, None)
        assert abs(ours.last_entropy - stub._last_world_entropy) <= TOL
        assert abs(ours.entropy_coef - stub.entropy_coef) <= TOL
    assert applied_seen == {False, True}
