"""Parity: the bridge's torch loss, driven on a one-token "model" whose logits are free
parameters, reproduces the tabular simulator's update (simrl/engine/reference.py, the
specification) for the same batch: same answers, rewards, advantages, Clip-Cov keys,
epochs and minibatches; torch's SGD / Adam against simrl/optim.py.

Tolerance: 1e-10 on the logits after each step (float64 throughout; the two sides sum
the same terms in different orders); 1e-9 with Adam, whose division by sqrt(v) amplifies
that rounding (measured: 1.5e-10)."""

import numpy as np
import pytest
import torch
from simrl.theory import entropy, log_softmax

from simrl.aggregation import AGGREGATIONS
from simrl.algorithms.advantages import ADVANTAGES
from simrl.bridge.losses import TORCH_LOSSES
from simrl.bridge.update import UpdateBatch, ppo_update
from simrl.config import Config
from simrl.engine import reference as ref
from simrl.engine.step_end import RunState
from simrl.engine.streams import run_generator, stream_layout
from simrl.kl import KL_ESTIMATORS
from simrl.losses import POLICY_LOSSES
from simrl.tasks.bandit import build_bandit

TOL = 1e-10
TOL_ADAM = 1e-9
BASE = {
    "task": {"num_prompts": 6, "num_answers": 5, "prior_strength": 0.3},
    "algo": {"group_size": 6, "epochs": 3, "clip_low": 0.1, "clip_high": 0.1},
    "optim": {"lr": 2.0},
    "run": {"steps": 3, "seeds": 1},
}
CASES = {
    **{f"loss={n}": {"algo.loss": n} for n in POLICY_LOSSES.names},
    "cispo-clamps": {"algo.loss": "cispo", "optim.lr": 6.0},
    "cispo_trl-clamps": {"algo.loss": "cispo_trl", "algo.clip_high": 1.2, "optim.lr": 6.0},
    **{f"agg={n}": {"algo.agg": n, "algo.minibatches": 2} for n in AGGREGATIONS.names},
    **{f"kl={n}": {"algo.kl_kind": n, "algo.kl_coef": 0.3} for n in KL_ESTIMATORS.names},
    "adam": {"optim.kind": "adam", "optim.lr": 0.3},
    "clip-higher+dual": {"algo.clip_high": 0.28, "algo.dual_clip": 1.5, "optim.lr": 6.0},
    "clip_cov-active": {
        "algo.loss": "clip_cov",
        "algo.clip_cov_lb": 0.05,
        "algo.clip_cov_ub": 5.0,
        "algo.clip_cov_ratio": 0.2,
    },
    "kl_cov-many": {"algo.loss": "kl_cov", "algo.kl_cov_ratio": 0.3},
    "steer-exp": {"algo.loss": "steer", "algo.steer_mode": "exp"},
    "entropy-bonus": {"algo.entropy_coef": 0.1},
    # issue 17: TRL's entropy bonus (kept-token mean) under an aggregation where it
    # differs from the loss's; verl's loss_scale_factor on both norm modes
    "entropy-kept-token-mean": {
        "algo.entropy_coef": 0.1,
        "algo.entropy_agg": "kept-token-mean",
        "algo.agg": "token-sum",  # W = 1, not the mean's 1 / N
        "algo.minibatches": 2,
    },
    "agg-norm-scale": {"algo.agg": "seq-mean-token-sum-norm", "algo.loss_scale_factor": 0.4},
    "agg-old-norm-scale": {"algo.agg": "token-sum-norm", "algo.loss_scale_factor": 3.0},
    "minibatches-rloo": {"algo.minibatches": 3, "algo.advantage": "rloo"},
    "random-reward-dr_grpo": {"reward.kind": "random", "algo.advantage": "dr_grpo"},
    # every advantage estimator: the bridge computes advantages with the numpy form
    # (advantage.compute, lengths 1 on the one-token model), then updates with torch
    # (not the per-token estimator: optimal_token_baseline on the bridge reads its
    # sampler's record, tests/bridge/test_sampler_parity.py)
    **{
        f"advantage={n}": {"algo.advantage": n}
        for n in ADVANTAGES.names
        if not ADVANTAGES[n].token_baseline
    },
    "advantage=passk-k2": {"algo.advantage": "passk", "algo.passk_k": 2},
    # the entropy-based advantage, added per token by the bridge's update
    "entropy-adv": {"algo.entropy_adv_alpha": 0.4},
    "entropy-adv-cap": {
        "algo.entropy_adv_alpha": 5.0,
        "algo.entropy_adv_kappa": 1.5,
        "algo.advantage": "dr_grpo",
        "algo.minibatches": 2,
    },
}


def test_torch_losses_cover_the_registry():
    assert TORCH_LOSSES.names == POLICY_LOSSES.names


def torch_step(cfg: Config, task, z0: np.ndarray, batch: ref.Batch, adv: np.ndarray, u):
    """The same step, through the bridge: logits z (S, K) are the parameters; a response is
    one token whose state is its prompt."""
    a, lay = cfg.algo, stream_layout(cfg)
    n_groups, G = batch.answers.shape
    z = torch.nn.Parameter(torch.tensor(z0, dtype=torch.float64))
    state = torch.as_tensor(np.repeat(batch.prompt, G))
    # pi_old from torch, as the bridge's scoring pass gives it: KL-Cov's |logp - logp_old|
    # has gradient sign(diff), so on an epoch's first pass the two must agree bitwise (as
    # the reference's do), not within rounding (numpy's and torch's log_softmax may differ
    # in the last bit, depending on the CPU's vector unit)
    logp0 = torch.log_softmax(torch.tensor(z0, dtype=torch.float64), -1)
    tokens = torch.as_tensor(batch.answers.reshape(-1, 1))
    ref_z = torch.tensor(task.base_logits)  # the reference: the base policy (no reset here)
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
    keys = None
    if lay.cc:
        keys = u[lay.cc_offset : lay.cc_offset + lay.cc].reshape(a.epochs, -1)[:, : n_groups * G]
        keys = keys.reshape(a.epochs, n_groups * G, 1)
    o = cfg.optim
    if o.kind == "sgd":
        opt = torch.optim.SGD([z], lr=o.lr)
    else:
        opt = torch.optim.Adam([z], lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps)
    ppo_update(
        cfg,
        ub,
        forward=lambda idx: z[state[idx]][:, None, :],
        optimizer=opt,
        params=[z],
        keys=keys,
        forward_ref=lambda idx: ref_z[state[idx]][:, None, :],
    )
    return z.detach().numpy()


@pytest.mark.parametrize("case", list(CASES))
def test_one_token_model_matches_the_tabular_step(case):
    compare_with_tabular(CASES[case])


def compare_with_tabular(overrides: dict) -> None:
    """The bridge's update of a one-token model against reference.step, step by step."""
    cfg = Config.from_dict(BASE, overrides)
    task = build_bandit(cfg.task)
    params = ref.RunParams(cfg, task, stream_layout(cfg))
    gen = run_generator(cfg, 0)
    state = ref.initial_state(task)
    compared = 0
    for t in range(cfg.run.steps):
        u = gen.random(params.layout.total)
        z0 = state.logits
        pi_old = np.exp(log_softmax(z0))
        batch = ref.sampled_batch(params, pi_old, u)
        adv = ref.advantages(params, batch, pi_old)
        state_ref = RunState(z0, task.base_logits.copy(), ref.init_state(task.shape))
        new, _ = ref.step(state_ref, params, u, t)
        z_torch = torch_step(cfg, task, z0, batch, adv, u)
        tol = TOL_ADAM if cfg.optim.kind == "adam" else TOL
        np.testing.assert_allclose(z_torch, new.logits, rtol=0, atol=tol)
        compared += int(np.any(new.logits != z0))
        state = new
    assert compared >= 1, "no step moved the logits: the case tests nothing"
