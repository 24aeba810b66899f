"""Parity: the bridge's own rollout side (simrl/bridge/sampler.py: the token choice with
top-k / top-p, the recorded log q and sum q^2, the staleness ring, the TIS weights, the
unlikeliness likelihoods, optimal_token_baseline's score norms) and its update
(simrl/bridge/update.py ppo_update), driven on a one-token model whose logits are free
parameters, reproduce the numpy reference step (simrl/engine/reference.py) with the
reference's uniforms: the same answers, rewards, advantages and weights, and the same
logits after each step, max abs difference 1e-10 (1e-9 with Adam, as
tests/bridge/test_parity.py). Unlike tests/bridge/test_rollout_sampling_parity.py, the
batch here is drawn by the bridge's sampler, not taken from the reference."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from simrl.theory import entropy  # noqa: E402

from simrl.algorithms.advantage import ADVANTAGES  # noqa: E402
from simrl.algorithms.advantage import compute as compute_advantages  # noqa: E402
from simrl.bridge.rewards import BRIDGE_REWARDS  # noqa: E402
from simrl.bridge.sampler import (  # noqa: E402
    Sampler,
    StaleRing,
    choose,
    likelihoods,
    score_norms,
    tis_weights,
)
from simrl.bridge.update import UpdateBatch, ppo_update  # noqa: E402
from simrl.config import Config  # noqa: E402
from simrl.engine import reference as ref  # noqa: E402
from simrl.engine.streams import run_generator, stream_layout  # noqa: E402
from simrl.rewards import REWARDS  # noqa: E402
from simrl.tasks.bandit import build_bandit  # noqa: E402

TOL = 1e-10
TOL_ADAM = 1e-9
BASE = {
    "task": {"num_prompts": 6, "num_answers": 7, "prior_strength": 0.3},
    "algo": {"group_size": 6, "epochs": 2, "clip_low": 0.1, "clip_high": 0.1},
    "optim": {"lr": 2.0},
    "run": {"steps": 3, "seeds": 1},
}
CASES = {
    "top_p": {"algo.top_p": 0.7},
    "top_k-temperature": {"algo.top_k": 3, "algo.temperature": 1.3},
    "top_p-top_k-token_truncate": {
        "algo.top_p": 0.8,
        "algo.top_k": 4,
        "algo.tis": "token_truncate",
        "algo.tis_clip_max": 1.2,
    },
    "top_k-token_mask": {
        "algo.top_k": 3,
        "algo.tis": "token_mask",
        "algo.tis_clip_min": 0.5,
        "algo.tis_clip_max": 1.6,
    },
    "staleness-1-sequence_truncate": {
        "algo.staleness": 1,
        "algo.tis": "sequence_truncate",
        "algo.tis_clip_max": 1.1,
        "algo.minibatches": 2,
    },
    "staleness-2-adam": {
        "algo.staleness": 2,
        "algo.tis": "token_truncate",
        "optim.kind": "adam",
        "optim.lr": 0.3,
        "run.steps": 4,
    },
    "unlikeliness": {"reward.kind": "unlikeliness", "reward.unlikeliness_beta": 0.5},
    "unlikeliness-top_p-staleness": {
        "reward.kind": "unlikeliness",
        "algo.top_p": 0.9,
        "algo.staleness": 1,
        "algo.tis": "token_truncate",
    },
    "optimal_token_baseline": {"algo.advantage": "optimal_token_baseline"},
    "optimal_token_baseline-top_k-staleness": {
        "algo.advantage": "optimal_token_baseline",
        "algo.top_k": 4,
        "algo.staleness": 1,
        "algo.minibatches": 3,
    },
}


class Table(torch.nn.Module):
    """The one-token model: a logit per (prompt, answer)."""

    def __init__(self, z0: np.ndarray):
        super().__init__()
        self.z = torch.nn.Parameter(torch.tensor(z0, dtype=torch.float64))


def bridge_batch(cfg, task, lay, behaviour: Table, u: np.ndarray):
    """One round of the bridge's rollout side on the one-token model: prompts as the
    reference selects them, answers by the bridge's `choose` with the reference's
    uniforms, rewards by the bridge forms (unlikeliness from the recorded log q)."""
    a = cfg.algo
    S, P, G = cfg.train_prompts, cfg.prompts_per_step, a.group_size
    reward = REWARDS[cfg.reward.kind]
    sampler = Sampler(a.temperature, a.top_p, a.top_k, ADVANTAGES[a.advantage].token_baseline)
    us = u[: lay.round_size]
    u_sample = us[lay.sel : lay.sel + lay.sample].reshape(P, G)
    prompts = ref.select_prompts(us[: lay.sel], S, P)
    s = np.repeat(prompts, G)
    with torch.no_grad():
        tok, logq, sq = choose(
            behaviour.z[torch.as_tensor(s)], torch.tensor(u_sample.ravel()), sampler
        )
    answers = tok.numpy().reshape(P, G)
    mask = torch.ones((P * G, 1), dtype=torch.float64)
    lik = likelihoods(logq[:, None], mask) if reward.reads_likelihood else None
    rewards = []
    for g, p in enumerate(prompts):
        kw = {}
        if lik is not None:
            kw = {"lik": lik[g * G : (g + 1) * G], "param": reward.packed_param(cfg.reward)}
        correct = int(np.flatnonzero(task.correct[p])[0])  # num_correct 1: one answer
        rewards.append(
            BRIDGE_REWARDS[cfg.reward.kind].fn(
                list(answers[g]), correct, 0, None, 0.0, p=cfg.reward.p, flip=cfg.reward.flip, **kw
            )
        )
    rewards = np.array(rewards, dtype=float)
    return prompts, answers, rewards, logq[:, None], None if sq is None else sq[:, None]


@pytest.mark.parametrize("case", list(CASES))
def test_bridge_sampler_and_update_match_the_reference_steps(case):
    cfg = Config.from_dict(BASE, CASES[case])
    a = cfg.algo
    T = a.temperature
    task = build_bandit(cfg.task)
    assert (task.correct.sum(1) == 1).all()
    params = ref.RunParams(cfg, task, stream_layout(cfg))
    lay = params.layout
    gen = run_generator(cfg, 0)
    state = ref.initial_state(task)
    model = Table(task.base_logits)
    o = cfg.optim
    if o.kind == "sgd":
        opt = torch.optim.SGD([model.z], lr=o.lr)
    else:
        opt = torch.optim.Adam([model.z], lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps)
    ring = StaleRing(a.staleness) if a.staleness > 0 else None
    ref_z = torch.tensor(task.base_logits) / T
    tol = TOL_ADAM if o.kind == "adam" else TOL
    moved = stale_steps = 0
    for t in range(cfg.run.steps):
        u = gen.random(lay.total)
        z0 = state.logits
        new, _ = ref.step(state, params, u, t)

        # the bridge's side
        behaviour = model if ring is None else ring.begin(model)
        stale_steps += behaviour is not model
        prompts, answers, rewards, logq, sq = bridge_batch(cfg, task, lay, behaviour, u)
        n_groups, G = answers.shape
        s = np.repeat(prompts, G)
        state_t = torch.as_tensor(s)
        tokens = torch.as_tensor(answers.reshape(-1, 1))
        mask = torch.ones((n_groups * G, 1), dtype=torch.float64)
        with torch.no_grad():
            logp0 = torch.log_softmax(model.z / T, -1)
        logp_old = logp0[state_t, tokens[:, 0]][:, None]
        scores = None
        if ADVANTAGES[a.advantage].token_baseline:
            scores = score_norms(logq, sq, mask).reshape(n_groups, G, 1)
            adv = compute_advantages(a.advantage, rewards, a, None, None, scores)[:, :, 0]
        else:
            adv = compute_advantages(a.advantage, rewards, a)
        is_weight = None
        if a.tis != "off":
            is_weight = tis_weights(logp_old, logq, mask, a.tis, a.tis_clip_min, a.tis_clip_max)
        ub = UpdateBatch(
            tokens=tokens,
            mask=mask,
            # per token (B, 1) for the token baseline: the update's per-token path
            adv=torch.as_tensor(adv.reshape(-1, 1) if scores is not None else adv.ravel()),
            logp_old=logp_old,
            entropy_old=torch.as_tensor(entropy(z0 / T))[state_t][:, None],
            logp_ref=torch.log_softmax(ref_z, -1)[state_t, tokens[:, 0]][:, None],
            n_groups=n_groups,
            group_size=G,
            is_weight=is_weight,
        )
        ppo_update(
            cfg,
            ub,
            forward=lambda idx, st=state_t: (model.z[st[idx]] / T)[:, None, :],
            optimizer=opt,
            params=[model.z],
            keys=None,
            forward_ref=lambda idx, st=state_t: ref_z[st[idx]][:, None, :],
        )
        if ring is not None:
            ring.end()
        np.testing.assert_allclose(model.z.detach().numpy(), new.logits, rtol=0, atol=tol)
        moved += int(np.abs(new.logits - z0).max() > 1e-6)
        state = new
    assert moved >= 1, "no step moved the logits: the case tests nothing"
    if a.staleness > 0:
        assert stale_steps == cfg.run.steps - 1  # every step after the first sampled stale


def test_the_cases_exercise_what_they_name():
    """The sampler truncates, the unlikeliness ranks change rewards, the token baseline
    differs from GRPO's: on the first step of the matching cases."""
    cfg = Config.from_dict(BASE, CASES["unlikeliness"])
    task = build_bandit(cfg.task)
    lay = stream_layout(cfg)
    u = run_generator(cfg, 0).random(lay.total)
    _, _, rewards, _, _ = bridge_batch(cfg, task, lay, Table(task.base_logits), u)
    assert len({r for r in rewards.ravel() if r > 0}) > 1  # ranks scale the correct ones
    cfg = Config.from_dict(BASE, CASES["optimal_token_baseline"])
    _, _, rewards, logq, sq = bridge_batch(cfg, task, lay, Table(task.base_logits), u)
    n, G = rewards.shape
    scores = score_norms(logq, sq, torch.ones_like(logq)).reshape(n, G, 1)
    adv = compute_advantages(cfg.algo.advantage, rewards, cfg.algo, None, None, scores)
    grpo_like = rewards - rewards.mean(1, keepdims=True)
    assert np.abs(adv[:, :, 0] - grpo_like).max() > 1e-6


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bridge_token_baseline_on_sampled_completions_matches_verl(seed):
    """optimal_token_baseline on the bridge's own completions of a random small Llama
    (responses of unequal lengths, the end token counted, top-k / top-p sampling): the
    bridge's per-token advantages (step.step_advantages: score norms from the recorded
    log q and sum q^2) against verl 0.9.1's registered `optimal_token_baseline` given the
    same record as `old_log_probs` and `sum_pi_squared`, the reward on each response's
    last token; max abs difference 1e-10."""
    core = pytest.importorskip(
        "verl.trainer.ppo.core_algos", reason="parity with verl needs verl==0.9.1"
    )
    import verl
    from verl.trainer.config import AlgoConfig as VerlAlgoConfig

    assert verl.__version__ == "0.9.1"
    from simrl.bridge.rollout import sample
    from simrl.bridge.step import step_advantages
    from simrl.config import AlgoConfig
    from tests.bridge.test_decode import llama, prompts

    model = llama(4, seed=seed)
    G, T = 4, 10
    ps = prompts(G)
    with torch.inference_mode():
        eos = int(model(input_ids=torch.tensor([ps[0]])).logits[0, -1].argsort()[-2])
    u = np.random.default_rng(seed).random((len(ps), T))
    c = sample(model, ps, T, Sampler(0.9, 0.95, 20, sum_sq=True), eos, 0, u, torch.device("cpu"))
    lengths = c.mask.sum(1).numpy().reshape(-1, G)
    assert len(np.unique(lengths)) > 1, "every completion has the same length"
    n = lengths.shape[0]
    rewards = np.random.default_rng(10 + seed).normal(size=(n, G))
    a = AlgoConfig(advantage="optimal_token_baseline", group_size=G, prompts_per_step=n)
    ours = step_advantages(a, rewards, c, lengths, None)
    tlr = torch.zeros(c.mask.shape, dtype=torch.float64)
    for b, L in enumerate(lengths.ravel().astype(int)):
        tlr[b, L - 1] = rewards.ravel()[b]
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        got, _ = core.get_adv_estimator_fn("optimal_token_baseline")(
            token_level_rewards=tlr,
            response_mask=c.mask.double(),
            index=np.repeat(np.arange(n), G),
            old_log_probs=c.logq,
            sum_pi_squared=c.sum_sq,
            config=VerlAlgoConfig(),
        )
    finally:
        torch.set_default_dtype(old)
    diff = np.abs(got.numpy() - ours).max()
    assert diff <= TOL, f"bridge optimal_token_baseline vs verl: max |diff| {diff:.3g}"
    assert np.abs(ours - np.repeat(rewards.ravel(), T).reshape(-1, T) * c.mask.numpy()).max() > 1e-6
