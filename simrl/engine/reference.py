"""The numpy reference engine: one run, one step, written to be read. It is the spec.

    state, metrics = step(state, params, u, t)

`state` (RunState) is what changes: logits, reference logits, optimiser state. `params`
(RunParams) is what does not: the resolved config, the task and the stream layout. `u`
holds the step's uniforms (simrl/engine/streams.py); no other randomness is used. The
numba engine (simrl/engine/fast.py) implements the same step and is tested against it.

One step:
  1. batch: choose prompts, sample G answers per prompt from pi_old (inverse CDF), reward
     them; with dynamic sampling drop or resample zero-variance groups. In exact mode the
     batch holds every answer a of each prompt, weighted by G pi_old(a), with
     A(a) = r(a) - E_{pi_old} r.
  2. advantages of the batch's groups (the advantage registry).
  3. epochs x minibatches (whole groups, in batch order): per-token loss derivatives
     (the policy-loss registry) times aggregation weights, plus KL and entropy terms,
     chained to the logits through d log pi(a) / dz = e_a - pi; one optimiser step each.
  4. ProRL reference reset every `ref_reset_every` steps.
  5. update metrics: clip fractions, exact entropy change against -Cov(log pi, dz).

The policy class (simrl/policy.py) sits at one seam: where the optimiser applies the
logit gradient. A tabular policy steps the logits; a linear one (params.features is
Phi) steps theta_tab with the gradient and w with Phi^T times it, and z = theta_tab + Phi w.
Everything before that seam (sampling, losses, advantages, KL, entropy terms) sees only
logits, so every registry entry works on both.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import pairwise

import numpy as np

from simrl import controllers
from simrl.aggregation import AGGREGATIONS
from simrl.algorithms.advantage import ADVANTAGES, entropy_term
from simrl.algorithms.advantage import compute as compute_advantages
from simrl.algorithms.aggregation import weights
from simrl.algorithms.kl_estimator import sampled_kl as sampled_kl_form
from simrl.algorithms.losses import POLICY_LOSSES
from simrl.algorithms.reward import call_numpy
from simrl.algorithms.tokens import LossOut, TokenBatch, bandit_positions
from simrl.config import Config
from simrl.dynamic_sampling import dynamic_sampling
from simrl.engine.dh_breakdown import BreakdownSums
from simrl.engine.step_end import (
    RunState,
    facts,
    finish_step,
    frozen_update_metrics,
    mean_or_nan,
    minibatch_ppo_kl,
)
from simrl.engine.streams import StreamLayout
from simrl.kl import KL_ESTIMATORS
from simrl.optim import OPTIMIZERS, init_state
from simrl.policy import apply_gradient, initial_linear_state
from simrl.rewards import REWARDS, expected_reward
from simrl.rollout_sampling import (
    behaviour_logits,
    differs,
    next_history,
    sampler_logp,
    tempered,
    tis_weights,
)
from simrl.tasks import BanditTask
from simrl.theory import (
    entropy,
    entropy_gradient,
    log_softmax,
    sampled_token_entropy_change,
    steer_omega_code,
)

#: the forking-token rule keeps entropies within this of its threshold: identical states of
#: different prompts have entropies equal up to rounding, and the threshold is often one of
#: them; rounding must not decide which are kept (tests/engine/test_sequence_parity.py)
FORK_TIE_TOL = 1e-12


@dataclass(frozen=True)
class RunParams:
    config: Config
    task: BanditTask
    layout: StreamLayout
    features: np.ndarray | None = None  # Phi (S, K, d) of a linear policy; None = tabular


@dataclass
class Batch:
    """Tokens of the batch (one per response for bandits), grouped by prompt."""

    prompt: np.ndarray  # (n_groups,) prompt of each group
    answers: np.ndarray  # (n_groups, n) answers of each group (n = G, or K in exact mode)
    rewards: np.ndarray  # (n_groups, n)
    count: np.ndarray  # (n_groups, n) how many sampled tokens each entry stands for
    reward_mean: float
    zero_var_frac: float


def initial_state(task: BanditTask, features: np.ndarray | None = None) -> RunState:
    state = RunState(task.base_logits.copy(), task.base_logits.copy(), init_state(task.shape))
    if features is None:
        return state
    lin = initial_linear_state(task.base_logits, features)
    return RunState(state.logits, state.ref_logits, state.opt, lin)


def select_prompts(keys: np.ndarray, num_prompts: int, prompts_per_step: int) -> np.ndarray:
    """All num_prompts (training) prompts in order, or the first prompts_per_step of a
    uniform random order."""
    if prompts_per_step == num_prompts:
        return np.arange(num_prompts)
    return np.argsort(keys, kind="stable")[:prompts_per_step]


def sample_answers(pi: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF sampling: the first answer whose cumulative probability exceeds u."""
    cdf = np.cumsum(pi)
    return np.minimum(np.searchsorted(cdf, u, side="right"), pi.size - 1)


def sampled_batch(params: RunParams, pi_old: np.ndarray, u: np.ndarray) -> Batch:
    cfg, task, lay = params.config, params.task, params.layout
    S, P, G = cfg.train_prompts, cfg.prompts_per_step, cfg.algo.group_size
    reward = REWARDS[cfg.reward.kind]

    def draw_round(rnd: int) -> list[tuple[int, np.ndarray, np.ndarray]]:
        us = u[rnd * lay.round_size : (rnd + 1) * lay.round_size]
        u_sample = us[lay.sel : lay.sel + lay.sample].reshape(P, G)
        u_reward = us[lay.sel + lay.sample : lay.sel + lay.sample + lay.reward].reshape(-1, G)
        u_tie = us[lay.sel + lay.sample + lay.reward : lay.round_size]
        groups = []
        for i, s in enumerate(select_prompts(us[: lay.sel], S, P)):
            answers = sample_answers(pi_old[s], u_sample[i])
            r = call_numpy(
                reward,
                answers,
                facts(task, s),
                u_reward[i] if lay.reward else None,
                u_tie[i] if lay.tie else 0.0,
                reward=cfg.reward,
                # a response's likelihood under pi_old (a reward with reads_likelihood)
                lik=pi_old[s][answers] if reward.reads_likelihood else None,
            )
            groups.append((int(s), answers, r))
        return groups

    kept, first, zero_var_frac = dynamic_sampling(
        draw_round, cfg.algo.dynamic_sampling, lay.rounds, P
    )
    reward_mean = float(np.mean([g[2] for g in first]))
    n = len(kept)
    return Batch(
        prompt=np.array([g[0] for g in kept], dtype=np.int64),
        answers=np.array([g[1] for g in kept], dtype=np.int64).reshape(n, G),
        rewards=np.array([g[2] for g in kept], dtype=float).reshape(n, G),
        count=np.ones((n, G)),
        reward_mean=reward_mean,
        zero_var_frac=zero_var_frac,
    )


def exact_batch(params: RunParams, pi_old: np.ndarray, u: np.ndarray) -> Batch:
    """Every answer of each chosen prompt, standing for G pi_old(a) sampled tokens."""
    cfg, task = params.config, params.task
    S, K, G = cfg.train_prompts, cfg.task.num_answers, cfg.algo.group_size
    prompts = select_prompts(u[: params.layout.sel], S, cfg.prompts_per_step)
    answers = np.tile(np.arange(K), (prompts.size, 1))
    reward_fn = REWARDS[cfg.reward.kind].fn
    rewards = np.array(
        [
            reward_fn(answers[i], facts(task, s), None, 0.0, p=0.0, flip=0.0)
            for i, s in enumerate(prompts)
        ]
    )
    expected = (pi_old[prompts] * rewards).sum(axis=1)
    return Batch(
        prompt=prompts,
        answers=answers,
        rewards=rewards,
        count=G * pi_old[prompts],
        reward_mean=float(expected.mean()),
        zero_var_frac=float(np.mean([r.min() == r.max() for r in rewards])),
    )


def advantages(params: RunParams, batch: Batch, pi_old: np.ndarray) -> np.ndarray:
    a = params.config.algo
    if a.exact:  # A(a) = r(a) - E_{pi_old} r
        expected = (pi_old[batch.prompt] * batch.rewards).sum(axis=1, keepdims=True)
        return batch.rewards - expected
    greedy = None
    if ADVANTAGES[a.advantage].reads_greedy:  # ReMax: the reward of the argmax answer
        cfg, task = params.config, params.task
        greedy = np.array(
            [
                expected_reward(
                    cfg.reward.kind, facts(task, s), p=cfg.reward.p, flip=cfg.reward.flip
                )[int(np.argmax(pi_old[s]))]
                for s in batch.prompt
            ]
        )
    if ADVANTAGES[a.advantage].token_baseline:  # one token per response: T = 1
        pi = pi_old[batch.prompt]  # (n, K)
        picked = np.take_along_axis(pi, batch.answers, axis=1)
        scores = (1.0 - 2.0 * picked + (pi**2).sum(axis=1, keepdims=True))[:, :, None]
        adv = compute_advantages(a.advantage, batch.rewards, a, scores=scores)
        return adv[:, :, 0]
    return compute_advantages(a.advantage, batch.rewards, a, greedy=greedy)  # lengths 1


def minibatch_gradient(
    params: RunParams,
    z: np.ndarray,
    ref_logits: np.ndarray,
    logp_old: np.ndarray,
    h_old: np.ndarray,
    batch: Batch,
    adv: np.ndarray,
    groups: np.ndarray,
    keys: np.ndarray,
    breakdown: BreakdownSums | None = None,
    is_weight: np.ndarray | None = None,
    entropy_coef: float | None = None,
) -> tuple[np.ndarray, np.ndarray, object]:
    """Gradient (S, K) of the aggregated loss of the minibatch `groups` at logits z.

    Returns (grad, per-token counts, LossOut) so the caller can tally clip fractions; adds
    the minibatch's breakdown terms to `breakdown` when given.
    """
    n = batch.answers.shape[1]
    count = batch.count[groups].ravel()
    # aggregation over the minibatch's sampled responses (one token each); an exact entry
    # stands for `count` sampled tokens
    n_seq = len(groups) * params.config.algo.group_size
    agg = AGGREGATIONS[params.config.algo.agg]
    w = weights(agg, np.ones((n_seq, 1)), params.config.algo.loss_scale_factor)[0, 0] * count
    seq, pos, length = bandit_positions(groups[0] * n, groups.size * n)
    state = np.repeat(batch.prompt[groups], n)
    a = params.config.algo
    tokens = TokenTable(
        state=state,
        token=batch.answers[groups].ravel(),
        adv=entropy_term(
            adv[groups].ravel(), h_old[state], a.entropy_adv_alpha, a.entropy_adv_kappa
        ),
        weight=w,
        keys=keys,
        seq=seq,
        pos=pos,
        length=length,
        count=count,
        is_weight=None if is_weight is None else is_weight[groups].ravel(),
    )
    grad, out, _, _ = token_gradient(
        params.config, z, ref_logits, logp_old, h_old, tokens, breakdown, entropy_coef
    )
    return grad, count, out


@dataclass(frozen=True)
class TokenTable:
    """The tokens of a minibatch: the state (parameter row) each was generated at, the
    token, its sequence-level advantage, its aggregation weight (times the number of
    sampled tokens it stands for), Clip-Cov's keys, and its place in its response
    (simrl/algorithms/tokens.py: response in the batch, position, response length)."""

    state: np.ndarray  # (N,)
    token: np.ndarray  # (N,)
    adv: np.ndarray  # (N,)
    weight: np.ndarray  # (N,)
    keys: np.ndarray | None
    seq: np.ndarray  # (N,)
    pos: np.ndarray  # (N,)
    length: np.ndarray  # (N,)
    #: the sampled tokens each entry stands for (1 sampled; an exact entry's expected
    #: count): what algo.entropy_agg = "kept-token-mean" counts; None = all 1
    count: np.ndarray | None = None
    #: the TIS weight of each token (algo.tis, simrl/rollout_sampling.py), multiplying
    #: its policy loss only; None = no correction
    is_weight: np.ndarray | None = None


def token_gradient(
    cfg: Config,
    z: np.ndarray,
    ref_logits: np.ndarray,
    logp_old: np.ndarray,
    h_old: np.ndarray,
    tokens: TokenTable,
    breakdown: BreakdownSums | None = None,
    entropy_coef: float | None = None,
) -> tuple[np.ndarray, LossOut, np.ndarray, np.ndarray]:
    """Gradient (S, K) at logits z of the aggregated loss of a minibatch of tokens; one
    function for bandit answers and sequence tokens alike.

    The policy loss (registry) gives d loss / d logp_t; the forking-token rule keeps only
    tokens whose current state entropy is in the top `forking_top_quantile` of the
    minibatch (TRL `get_high_entropy_mask`: threshold torch.quantile(H, 1 - q), keep
    H >= threshold - FORK_TIE_TOL); d logp_t / dz = e_a - pi chains it to the logits; KL and entropy
    terms are added per token, weighted like the token. Returns (grad, LossOut, the
    per-token policy coefficient w_t * keep_t * dlogp_t, the keep mask). `entropy_coef`
    replaces algo.entropy_coef (the adaptive controller's applied value).
    """
    a = cfg.algo
    s_t, a_t, w = tokens.state, tokens.token, tokens.weight
    logp = log_softmax(z)
    pi = np.exp(logp)
    batch = TokenBatch(
        logp=logp[s_t, a_t],
        logp_old=logp_old[s_t, a_t],
        adv=tokens.adv,
        entropy_old=h_old[s_t],
        keys=tokens.keys,
        seq=tokens.seq,
        pos=tokens.pos,
        length=tokens.length,
    )
    out = POLICY_LOSSES[a.loss].fn(batch, a)
    keep = np.ones(s_t.shape, dtype=bool)
    if a.forking_top_quantile < 1.0 and s_t.size:
        h_tok = entropy(z)[s_t]
        keep = h_tok >= np.quantile(h_tok, 1.0 - a.forking_top_quantile) - FORK_TIE_TOL
    policy = w * out.dlogp * keep  # d loss / d logp_t
    if tokens.is_weight is not None:  # TRL: per_token_loss * importance_sampling_ratio
        policy = policy * tokens.is_weight
    coef = policy
    sampled_kl = KL_ESTIMATORS[a.kl_kind].sampled
    if a.kl_coef > 0 and sampled_kl:
        _, dk = sampled_kl_form(
            KL_ESTIMATORS[a.kl_kind], batch.logp, log_softmax(ref_logits)[s_t, a_t], batch.logp_old
        )
        coef = coef + w * a.kl_coef * dk
    S = z.shape[0]
    grad = np.zeros_like(z)
    np.add.at(grad, (s_t, a_t), coef)  # sum_t coef_t e_{a_t}
    grad -= np.bincount(s_t, weights=coef, minlength=S)[:, None] * pi  # - sum_t coef_t pi
    state_weight = np.bincount(s_t, weights=w, minlength=S)[:, None]  # (S, 1)
    if a.kl_coef > 0 and not sampled_kl:
        _, gk = KL_ESTIMATORS[a.kl_kind].fn(logp, log_softmax(ref_logits))
        grad += a.kl_coef * state_weight * gk
    ent_coef = a.entropy_coef if entropy_coef is None else entropy_coef
    if ent_coef > 0:  # loss -= coef * H
        grad -= ent_coef * entropy_weight(a, tokens, keep, state_weight) * entropy_gradient(z)
    if breakdown is not None:
        lr, h = cfg.optim.lr, entropy(z)
        breakdown.weight += state_weight[:, 0]
        # the token's own sgd step dz = -lr coef_t (e_a - pi), to first order
        one_token = sampled_token_entropy_change(z[s_t], a_t, -coef, lr)
        np.add.at(breakdown.token, s_t, one_token)
        if breakdown.quadrant is not None:  # run.audit_quadrants
            breakdown.add_quadrants(
                s_t, a_t, batch.adv, batch.logp_old, batch.entropy_old, one_token, coef, pi, lr
            )
        omega = steer_omega_code(
            batch.adv,
            np.exp(batch.logp_old),
            np.exp(batch.logp),
            batch.entropy_old,
            signed=True,
        )
        np.add.at(breakdown.steer_code, s_t, -lr * w * keep * omega)
        pi_a = np.exp(batch.logp)
        np.add.at(
            breakdown.steer_eq14, s_t, -lr * -coef * (1.0 - pi_a) ** 2 * (batch.logp + h[s_t])
        )
    return grad, out, policy, keep


def entropy_weight(a, tokens: TokenTable, keep: np.ndarray, state_weight: np.ndarray) -> np.ndarray:
    """(S, 1) weight of each state's entropy in the bonus (loss -= coef sum_s w_s H_s).

    algo.entropy_agg = "loss": the tokens' aggregation weights (the entropy aggregated
    like the policy loss over every response token: verl 0.9.1 workers/utils/losses.py
    `ppo_loss`, `agg_loss(loss_mat=entropy, loss_mask=response_mask,
    loss_agg_mode=loss_agg_mode)`); "kept-token-mean": the mean over the
    minibatch's tokens kept by the forking-token mask, whatever algo.agg is (TRL 1.16.0
    `GRPOTrainer._compute_loss`: (entropies * mask * entropy_mask).sum() /
    (mask * entropy_mask).sum().clamp(min=1))."""
    if a.entropy_agg == "loss":
        return state_weight
    count = np.ones(tokens.state.shape) if tokens.count is None else tokens.count
    kept = count * keep
    total = kept.sum()
    S = state_weight.shape[0]
    if total <= 0:  # TRL: 0 / clamp(0, min=1) = 0
        return np.zeros((S, 1))
    return (np.bincount(tokens.state, weights=kept, minlength=S) / total)[:, None]


def minibatch_groups(n_groups: int, minibatches: int) -> list[np.ndarray]:
    """Split groups 0..n-1 in order into `minibatches` near-equal chunks (empty ones dropped)."""
    bounds = [(i * n_groups) // minibatches for i in range(minibatches + 1)]
    return [np.arange(lo, hi) for lo, hi in pairwise(bounds) if hi > lo]


def step(state: RunState, params: RunParams, u: np.ndarray, t: int) -> tuple[RunState, dict]:
    """Step t (0-based) of one run. Returns the new state and the step's update metrics."""
    cfg, lay = params.config, params.layout
    a = cfg.algo
    if not REWARDS[cfg.reward.kind].updates:  # frozen
        return state, frozen_update_metrics()

    z0 = state.logits
    # the trained policy is pi_T = softmax(z / T) (simrl/rollout_sampling.py); T = 1: z0
    T = a.temperature
    logp_old = log_softmax(tempered(z0, T))
    pi_old = np.exp(logp_old)
    h_old = entropy(tempered(z0, T))
    sampler = differs(a)
    pi_sample, is_weight = pi_old, None
    if sampler:  # the rollouts' sampler q: stale, tempered, truncated
        logq = sampler_logp(behaviour_logits(state.history, z0, a.staleness), a)
        pi_sample = np.exp(logq)
    batch = (exact_batch if a.exact else sampled_batch)(params, pi_sample, u)
    # the controllers and a separate sampler are not combined (config_checks refuses it)
    ctl, ref, kl_now = state.control, state.ref_logits, (np.nan, np.nan)
    if ctl is not None and a.kl_in_reward:  # verl apply_kl_penalty: one token per response
        k = controllers.kl_values(
            a.kl_reward_kind,
            logp_old[batch.prompt[:, None], batch.answers],
            log_softmax(ref)[batch.prompt[:, None], batch.answers],
        )
        rewards, *kl_now, ctl = controllers.penalise_rewards(a, ctl, batch.rewards, k, 1.0)
        batch = replace(batch, rewards=rewards)
    adv = advantages(params, batch, pi_sample)
    if a.tis != "off":  # rho = pi_T,old(a) / q(a), per token (a bandit response is one)
        s_b = np.repeat(batch.prompt, batch.answers.shape[1])
        log_ratio = logp_old[s_b, batch.answers.ravel()] - logq[s_b, batch.answers.ravel()]
        is_weight = tis_weights(
            log_ratio, np.arange(log_ratio.size), a.tis, a.tis_clip_min, a.tis_clip_max
        ).reshape(batch.answers.shape)

    z, opt, lin = state.logits, state.opt, state.policy
    tally = np.zeros(5)  # counted tokens, low, high, dual, selected
    ppo: list[float] = []  # verl's ppo_kl of each minibatch update
    breakdown = BreakdownSums.zeros(*z.shape, cfg.run.audit_quadrants) if cfg.run.audit else None
    optimise = OPTIMIZERS[cfg.optim.kind].fn
    n = batch.answers.shape[1]
    u_cc = u[lay.cc_offset : lay.cc_offset + lay.cc].reshape(a.epochs, -1) if lay.cc else None
    for epoch in range(a.epochs):
        for groups in minibatch_groups(len(batch.prompt), a.minibatches):
            keys = u_cc[epoch, groups[0] * n : (groups[-1] + 1) * n] if lay.cc else None
            s_t, a_t = np.repeat(batch.prompt[groups], n), batch.answers[groups].ravel()
            zt = tempered(z, T)
            ppo.append(minibatch_ppo_kl(zt, logp_old, s_t, a_t, batch.count[groups].ravel()))
            grad, count, out = minibatch_gradient(
                params, zt, tempered(state.ref_logits, T), logp_old, h_old, batch, adv, groups,
                keys, breakdown, is_weight, controllers.applied_entropy_coef(a, ctl),
            )  # fmt: skip
            if T != 1.0:  # d loss / dz = (1 / T) d loss / d(z / T)
                grad = grad / T
            h_now = entropy(z)[s_t] if ctl is not None else None
            tally += [
                count.sum(),
                *(count @ m for m in (out.clip_low, out.clip_high, out.clip_dual, out.selected)),
            ]
            if lin is None:
                z, opt = optimise(z, grad, opt, cfg.optim)
            else:  # the policy-class seam: theta_tab and w from the logit gradient
                z, opt, lin = apply_gradient(
                    optimise, cfg.optim, lin, opt, params.features, grad, z, cfg.train_prompts
                )
            if ctl is not None:  # the bandit has no forking mask: every token is kept
                e = controllers.kept_entropy_mean(h_now, count, np.ones(count.size))
                ctl, ref = controllers.after_update(a, ctl, e, z, ref)

    batch_stats = (batch.reward_mean, batch.zero_var_frac, len(batch.prompt))
    if ctl is not None:
        state = replace(state, ref_logits=ref)
    new_state, metrics = finish_step(
        cfg, state, z, opt, z0, h_old if T == 1.0 else entropy(z0), t, tally, batch_stats,
        breakdown, params, lin, batch.prompt, ppo_kl=mean_or_nan(ppo),
    )  # fmt: skip
    if a.staleness > 0:
        new_state = replace(new_state, history=next_history(state.history, z0, a.staleness))
    if ctl is not None:
        metrics.update(controllers.metrics(a, ctl, *kl_now))
        new_state = replace(new_state, control=ctl)
    return new_state, metrics
