"""Parity: the bridge's torch update (simrl/bridge/update.py ppo_update) on a one-token
model whose logits are free parameters reproduces the reference step
(simrl/engine/reference.py) with a rollout sampler that differs from pi_old: the loss on
softmax(z / T) (the bridge's scoring divides the logits by the temperature, as
TRL and verl do), old log-probs, reference and entropies tempered, and the TIS weights
multiplying the per-token policy loss. One step, max abs difference 1e-10 on the logits.

The batch comes from the reference's sampler (simrl/rollout_sampling.py); the bridge's
own sampler (simrl/bridge/sampler.py) drawing the batch is tests/bridge/test_sampler_parity.py."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from simrl.theory import entropy, log_softmax  # noqa: E402

from simrl.bridge.update import UpdateBatch, ppo_update  # noqa: E402
from simrl.config import Config  # noqa: E402
from simrl.engine import reference as ref  # noqa: E402
from simrl.engine.step_end import RunState  # noqa: E402
from simrl.engine.streams import run_generator, stream_layout  # noqa: E402
from simrl.rollout_sampling import (  # noqa: E402
    behaviour_logits,
    sampler_logp,
    tempered,
    tis_weights,
)
from simrl.tasks.bandit import build_bandit  # noqa: E402

TOL = 1e-10
BASE = {
    "task": {"num_prompts": 6, "num_answers": 5, "prior_strength": 0.3},
    "algo": {"group_size": 6, "epochs": 3, "clip_low": 0.1, "clip_high": 0.1},
    "optim": {"lr": 2.0},
    "run": {"steps": 1, "seeds": 1},
}
CASES = {
    "temperature": {"algo.temperature": 0.6},
    "temperature-kl-entropy": {
        "algo.temperature": 1.7,
        "algo.kl_coef": 0.3,
        "algo.kl_kind": "k3",
        "algo.entropy_coef": 0.1,
    },
    "top_p-token_truncate": {
        "algo.top_p": 0.7,
        "algo.tis": "token_truncate",
        "algo.tis_clip_max": 1.2,
    },
    "top_k-token_mask": {
        "algo.top_k": 3,
        "algo.temperature": 1.3,
        "algo.tis": "token_mask",
        "algo.tis_clip_min": 0.5,
        "algo.tis_clip_max": 1.6,
    },
    "staleness-sequence_truncate": {
        "algo.staleness": 1,
        "algo.tis": "sequence_truncate",
        "algo.tis_clip_max": 1.1,
        "algo.minibatches": 2,
    },
    "staleness-adam": {
        "algo.staleness": 2,
        "algo.tis": "token_truncate",
        "optim.kind": "adam",
        "optim.lr": 0.3,
    },
}


@pytest.mark.parametrize("case", list(CASES))
def test_one_token_model_matches_the_reference_step_with_a_sampler(case):
    cfg = Config.from_dict(BASE, CASES[case])
    a = cfg.algo
    T = a.temperature
    task = build_bandit(cfg.task)
    params = ref.RunParams(cfg, task, stream_layout(cfg))
    u = run_generator(cfg, 0).random(params.layout.total)
    rng = np.random.default_rng(11)
    z0 = task.base_logits + rng.normal(0.0, 0.5, size=task.shape)
    history = tuple(
        task.base_logits + rng.normal(0.0, 0.5, size=task.shape) for _ in range(a.staleness)
    )
    state = RunState(z0, task.base_logits.copy(), ref.init_state(task.shape), history=history)
    new, _ = ref.step(state, params, u, 0)

    # the bridge's side: the same batch, tempered scoring, TIS weights, torch's optimiser
    logq = sampler_logp(behaviour_logits(history, z0, a.staleness), a)
    batch = ref.sampled_batch(params, np.exp(logq), u)
    adv = ref.advantages(params, batch, np.exp(logq))
    n_groups, G = batch.answers.shape
    s = np.repeat(batch.prompt, G)
    ans = batch.answers.ravel()
    zt0 = tempered(z0, T)
    is_weight = None
    if a.tis != "off":
        lr_ = log_softmax(zt0)[s, ans] - logq[s, ans]
        w = tis_weights(lr_, np.arange(s.size), a.tis, a.tis_clip_min, a.tis_clip_max)
        assert (w != 1.0).any()  # the correction acts
        is_weight = torch.as_tensor(w)[:, None]
    z = torch.nn.Parameter(torch.tensor(z0, dtype=torch.float64))
    state_t = torch.as_tensor(s)
    tokens = torch.as_tensor(ans.reshape(-1, 1))
    ref_z = torch.tensor(task.base_logits) / T
    logp0 = torch.log_softmax(torch.tensor(z0, dtype=torch.float64) / T, -1)
    ub = UpdateBatch(
        tokens=tokens,
        mask=torch.ones((n_groups * G, 1), dtype=torch.float64),
        adv=torch.as_tensor(adv.ravel()),
        logp_old=logp0[state_t, tokens[:, 0]][:, None],
        entropy_old=torch.as_tensor(entropy(zt0))[state_t][:, None],
        logp_ref=torch.log_softmax(ref_z, -1)[state_t, tokens[:, 0]][:, None],
        n_groups=n_groups,
        group_size=G,
        is_weight=is_weight,
    )
    o = cfg.optim
    if o.kind == "sgd":
        opt = torch.optim.SGD([z], lr=o.lr)
    else:
        opt = torch.optim.Adam([z], lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps)
    ppo_update(
        cfg,
        ub,
        forward=lambda idx: (z[state_t[idx]] / T)[:, None, :],
        optimizer=opt,
        params=[z],
        keys=None,
        forward_ref=lambda idx: ref_z[state_t[idx]][:, None, :],
    )
    np.testing.assert_allclose(z.detach().numpy(), new.logits, rtol=0, atol=TOL)
    assert np.abs(new.logits - z0).max() > 1e-6  # the step moved
