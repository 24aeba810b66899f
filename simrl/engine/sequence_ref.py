"""The numpy reference engine for sequence tasks: one run, one step, written to be read.

    state, metrics = step(state, params, u, t)

The same contract as simrl/engine/reference.py (the bandit's spec), with responses that
are token sequences over the task's graph (simrl/tasks/sequence.py). One step:
  1. batch: choose prompts; sample G responses per prompt from pi_old, token by token
     (inverse CDF, one uniform per position), then the environment's answer (one more
     uniform); reward the final answers (the reward registry; 'format' pays the format
     marker), plus DAPO's overlong penalty; dynamic sampling as for the bandit.
     In exact mode there is no sample: every (state, token) pair of each chosen prompt
     enters twice, as the part of its expected gradient with A > 0 and the part with
     A < 0 (see exact_tokens), weighted by its expected count G reach(n) pi_old(v | n).
  2. advantages per group (the advantage registry), broadcast to the response's tokens.
  3. epochs x minibatches (whole groups, in order): reference.token_gradient on the
     minibatch's tokens, each weighted by the verl aggregation mode over the minibatch's
     (responses x max_len) mask; one optimiser step each.
  4. ProRL reference reset; update metrics (clip fractions, exact entropy change of every
     moved row against first order; the dH breakdown with run.audit).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from simrl import controllers
from simrl.aggregation import AGGREGATIONS
from simrl.algorithms.advantage import ADVANTAGES, entropy_term
from simrl.algorithms.advantage import compute as compute_advantages
from simrl.algorithms.aggregation import weights
from simrl.config import Config
from simrl.dynamic_sampling import dynamic_sampling
from simrl.engine.dh_breakdown import BreakdownSums
from simrl.engine.reference import (
    TokenTable,
    minibatch_groups,
    select_prompts,
    token_gradient,
)
from simrl.engine.step_end import (
    RunState,
    finish_step,
    frozen_update_metrics,
    mean_or_nan,
    minibatch_ppo_kl,
)
from simrl.engine.streams import StreamLayout
from simrl.metrics_sequence import SEQUENCE_UPDATE_EXTRA
from simrl.optim import OPTIMIZERS, init_state
from simrl.rewards import REWARDS, PromptFacts, overlong_penalty, sequence_rewards
from simrl.rollout_sampling import (
    behaviour_logits,
    differs,
    next_history,
    sampler_logp,
    tempered,
    tis_weights,
)
from simrl.tasks.sequence import SequenceTask, leaf_expected_reward
from simrl.theory import entropy, log_softmax


@dataclass(frozen=True)
class SeqParams:
    config: Config
    task: SequenceTask
    layout: StreamLayout

    def breakdown_advantages(self, pi_old: np.ndarray) -> np.ndarray:
        """(M, V) exact expected advantages per parameter row (row_advantages)."""
        return row_advantages(self, pi_old)


@dataclass
class SeqTokens:
    """Every token of a step's batch, in batch order (group, response, position)."""

    group: np.ndarray  # (N,) group (prompt) index in the batch
    seq: np.ndarray  # (N,) response index in the batch: group * G + i
    pos: np.ndarray  # (N,) position in the response
    length: np.ndarray  # (N,) its response's length (0 in exact mode: no responses)
    row: np.ndarray  # (N,) parameter row of the token's state
    token: np.ndarray  # (N,)
    fork: np.ndarray  # (N,) bool: the token's state is a forking state
    adv: np.ndarray  # (N,)
    count: np.ndarray  # (N,) sampled tokens the entry stands for (1; exact: expected count)
    n_groups: int
    reward_mean: float
    zero_var_frac: float
    mean_length: float


def initial_state(task: SequenceTask) -> RunState:
    return RunState(task.base_logits.copy(), task.base_logits.copy(), init_state(task.shape))


def inverse_cdf(p: np.ndarray, u: float) -> int:
    """The first index whose cumulative probability exceeds u, never past the last index
    with positive probability (rounding of the cumulative sum)."""
    last = int(np.flatnonzero(p > 0)[-1])
    return min(int(np.searchsorted(np.cumsum(p), u, side="right")), last)


def sample_response(task: SequenceTask, pi: np.ndarray, s: int, u: np.ndarray):
    """One response of prompt s: (states, tokens, leaf, answer); u holds max_len + 1
    uniforms (one per position, then the environment's answer)."""
    T = task.max_len
    n = int(task.root[s])
    nodes, tokens = [], []
    for pos in range(T):
        row = task.node_row[n]
        v = inverse_cdf(pi[row, : task.row_width[row]], u[pos])
        nodes.append(n)
        tokens.append(v)
        c = int(task.child[n, v])
        if c < 0:
            leaf = -c - 1
            break
        n = c
    dist = task.leaf_answer[leaf]
    answer = int(np.argmax(dist)) if dist.max() == 1.0 else inverse_cdf(dist, u[T])
    return nodes, tokens, leaf, answer


def likelihood(task: SequenceTask, pi: np.ndarray, nodes, tokens) -> float:
    """A response's per-token likelihood under pi: exp of the mean of its tokens' log
    probabilities (the geometric mean; 1 for an empty response), summed in position order
    as the kernels' seq_sampling.sampled_tokens does. What a likelihood-reading reward
    ranks by: the unlikeliness reward's authors rank by the mean per-token log-probability
    (ray_lean_trainer.py `masked_mean(old_log_probs, eos_mask)`), which orders responses
    of different lengths as this does; a one-token response's is its probability."""
    ll = 0.0
    for n, v in zip(nodes, tokens, strict=True):
        ll += math.log(float(pi[task.node_row[n], v]))
    return math.exp(ll / len(tokens)) if len(tokens) else 1.0


def prompt_facts(task: SequenceTask, s: int) -> PromptFacts:
    return PromptFacts(task.correct[s], -1, int(task.incorrect_label[s]))


def greedy_leaf(task: SequenceTask, pi: np.ndarray, s: int) -> int:
    """The leaf of prompt s's greedy response: the argmax token of pi (the first of tied
    maxima) at every state from the root (ReMax's greedy baseline, exact)."""
    n = int(task.root[s])
    for _ in range(task.max_len):
        row = task.node_row[n]
        c = int(task.child[n, int(np.argmax(pi[row, : task.row_width[row]]))])
        if c < 0:
            return -c - 1
        n = c
    raise AssertionError("every path ends in a leaf within max_len tokens")


def sampled_tokens(params: SeqParams, pi_old: np.ndarray, u: np.ndarray, kl=None) -> SeqTokens:
    """The step's sampled batch. `kl(rewards, nodes, tokens)` (KL in the reward), given
    the kept groups' rewards (n, G) and each response's states and tokens, returns the
    penalised rewards."""
    cfg, task, lay = params.config, params.task, params.layout
    S, P, G, T = cfg.train_prompts, cfg.prompts_per_step, cfg.algo.group_size, task.max_len
    a, U = cfg.algo, T + 1

    def draw_round(rnd: int) -> list[tuple[int, list, np.ndarray]]:
        us = u[rnd * lay.round_size : (rnd + 1) * lay.round_size]
        u_sample = us[lay.sel : lay.sel + lay.sample].reshape(P, G, U)
        u_reward = us[lay.sel + lay.sample : lay.sel + lay.sample + lay.reward].reshape(-1, G)
        u_tie = us[lay.sel + lay.sample + lay.reward : lay.round_size]
        groups = []
        for i, s in enumerate(select_prompts(us[: lay.sel], S, P)):
            responses = [sample_response(task, pi_old, int(s), u_sample[i, j]) for j in range(G)]
            answers = np.array([r[3] for r in responses])
            formats = task.leaf_format[[r[2] for r in responses]]
            lengths = np.array([len(r[1]) for r in responses])
            lik = None
            if REWARDS[cfg.reward.kind].reads_likelihood:
                lik = np.array([likelihood(task, pi_old, r[0], r[1]) for r in responses])
            rew = sequence_rewards(
                cfg.reward.kind,
                answers,
                formats,
                prompt_facts(task, int(s)),
                u_reward[i] if lay.reward else None,
                u_tie[i] if lay.tie else 0.0,
                p=cfg.reward.p,
                flip=cfg.reward.flip,
                lik=lik,
                param=REWARDS[cfg.reward.kind].packed_param(cfg.reward),
            ) + overlong_penalty(lengths, T, a.overlong_cache, a.overlong_factor)
            groups.append((int(s), responses, rew))
        return groups

    kept, first, zero_var_frac = dynamic_sampling(draw_round, a.dynamic_sampling, lay.rounds, P)
    reward_mean = float(np.mean([g[2] for g in first]))
    mean_length = float(np.mean([len(r[1]) for g in first for r in g[1]]))
    n = len(kept)
    rewards = np.array([g[2] for g in kept], dtype=float).reshape(n, G)
    lengths = np.array([[len(r[1]) for r in g[1]] for g in kept], dtype=float).reshape(n, G)
    if kl is not None:
        rewards = kl(
            rewards, [[r[0] for r in g[1]] for g in kept], [[r[1] for r in g[1]] for g in kept]
        )
    greedy = None
    if ADVANTAGES[a.advantage].reads_greedy:  # ReMax: the greedy responses' rewards
        r_leaf = leaf_expected_reward(task, cfg.reward.kind, p=cfg.reward.p, flip=cfg.reward.flip)
        r_leaf = r_leaf + overlong_penalty(task.leaf_len, T, a.overlong_cache, a.overlong_factor)
        greedy = np.array([r_leaf[greedy_leaf(task, pi_old, g[0])] for g in kept])
    scores = None
    if ADVANTAGES[a.advantage].token_baseline:  # each token's 1 - 2 pi_old(y) + sum pi_old^2
        sum_sq = (pi_old**2).sum(axis=1)
        scores = np.zeros((n, G, T))
        for j, (_, responses, _) in enumerate(kept):
            for i, (nodes, tokens, _, _) in enumerate(responses):
                rows = task.node_row[np.asarray(nodes)]
                scores[j, i, : len(tokens)] = 1.0 - 2.0 * pi_old[rows, tokens] + sum_sq[rows]
    adv = compute_advantages(a.advantage, rewards, a, lengths, greedy, scores)
    cols: dict[str, list] = {
        k: [] for k in ("group", "seq", "pos", "length", "node", "token", "adv")
    }
    for j, (_, responses, _) in enumerate(kept):
        for i, (nodes, tokens, _, _) in enumerate(responses):
            L = len(tokens)
            cols["group"] += [j] * L
            cols["seq"] += [j * G + i] * L
            cols["pos"] += list(range(L))
            cols["length"] += [L] * L
            cols["node"] += nodes
            cols["token"] += tokens
            cols["adv"] += list(adv[j, i, :L]) if scores is not None else [adv[j, i]] * L
    node = np.array(cols["node"], dtype=np.int64)
    return SeqTokens(
        group=np.array(cols["group"], dtype=np.int64),
        seq=np.array(cols["seq"], dtype=np.int64),
        pos=np.array(cols["pos"], dtype=np.int64),
        length=np.array(cols["length"], dtype=np.int64),
        row=task.node_row[node],
        token=np.array(cols["token"], dtype=np.int64),
        fork=task.node_fork[node],
        adv=np.array(cols["adv"], dtype=float),
        count=np.ones(node.size),
        n_groups=n,
        reward_mean=reward_mean,
        zero_var_frac=zero_var_frac,
        mean_length=mean_length,
    )


def exact_tokens(params: SeqParams, pi_old: np.ndarray, u: np.ndarray) -> SeqTokens:
    """The exact expected gradient as a weighted token table (theory/NOTES.md, "Exact
    sequence gradient"). With a reward in {0, 1}, baseline b = E_pi_old[r] of the prompt
    and A = r - b, the expected loss gradient of token v at state n is
        G reach(n) pi_old(v|n) [Q(n,v) f(ratio, 1 - b) + (1 - Q(n,v)) f(ratio, -b)],
    f(ratio, A) the loss's d/dlogp at advantage A, Q(n,v) = P(r = 1 | n, v): A's sign is
    the reward's, so clipping (which depends on A's sign only) splits the expectation
    into these two entries."""
    cfg, task = params.config, params.task
    G = cfg.algo.group_size
    prompts = select_prompts(u[: params.layout.sel], cfg.train_prompts, cfg.prompts_per_step)
    r_leaf = leaf_expected_reward(task, cfg.reward.kind, p=cfg.reward.p, flip=cfg.reward.flip)
    reach = task.node_reach(pi_old)
    q = task.q_values(pi_old, r_leaf)  # (N, V)
    b = q[task.root, :] * pi_old[task.node_row[task.root]]
    baseline = b.sum(axis=1)  # (S,) E_pi_old[r] per prompt
    leaf_p = task.leaf_reach(pi_old, reach)
    cols: dict[str, list] = {k: [] for k in ("group", "node", "token", "adv", "count")}
    for j, s in enumerate(prompts):
        nodes = np.flatnonzero(task.node_prompt == s)
        for n in nodes:
            row = task.node_row[n]
            for v in range(task.row_width[row]):
                expected = G * reach[n] * pi_old[row, v]
                for adv, share in ((1.0 - baseline[s], q[n, v]), (-baseline[s], 1.0 - q[n, v])):
                    cols["group"].append(j)
                    cols["node"].append(n)
                    cols["token"].append(v)
                    cols["adv"].append(adv)
                    cols["count"].append(expected * share)
    node = np.array(cols["node"], dtype=np.int64)
    chosen = np.isin(task.leaf_prompt, prompts)
    return SeqTokens(
        group=np.array(cols["group"], dtype=np.int64),
        seq=np.zeros(node.size, dtype=np.int64),
        pos=task.node_depth[node],
        length=np.zeros(node.size, dtype=np.int64),
        row=task.node_row[node],
        token=np.array(cols["token"], dtype=np.int64),
        fork=task.node_fork[node],
        adv=np.array(cols["adv"], dtype=float),
        count=np.array(cols["count"], dtype=float),
        n_groups=len(prompts),
        reward_mean=float(baseline[prompts].mean()),
        zero_var_frac=float(np.mean([baseline[s] in (0.0, 1.0) for s in prompts])),
        mean_length=float((leaf_p * task.leaf_len)[chosen].sum() / len(prompts)),
    )


def aggregation_weights(cfg: Config, tok: SeqTokens, sel: np.ndarray, n_groups: int, T: int):
    """Per-token weights of the minibatch tokens `sel` (verl agg_loss over the minibatch's
    responses x T mask); exact entries get the mode's constant weight times their count."""
    G = cfg.algo.group_size
    B = n_groups * G
    e = AGGREGATIONS[cfg.algo.agg]

    def agg(mask):
        return weights(e, mask, cfg.algo.loss_scale_factor)

    if cfg.algo.exact:
        return agg(np.ones((B, T)))[0, 0] * tok.count[sel]
    first_seq = tok.group[sel][0] * G if sel.size else 0
    seq = tok.seq[sel] - first_seq
    mask = np.zeros((B, T))
    mask[seq, tok.pos[sel]] = 1.0
    return agg(mask)[seq, tok.pos[sel]] * tok.count[sel]


def step(state: RunState, params: SeqParams, u: np.ndarray, t: int) -> tuple[RunState, dict]:
    """Step t (0-based) of one run. Returns the new state and the step's update metrics."""
    cfg, lay, task = params.config, params.layout, params.task
    a = cfg.algo
    if not REWARDS[cfg.reward.kind].updates:  # frozen
        return state, {**frozen_update_metrics(), **dict.fromkeys(SEQUENCE_UPDATE_EXTRA, np.nan)}
    z0 = state.logits
    # the trained policy is pi_T = softmax(z / T) (simrl/rollout_sampling.py); T = 1: z0
    T_temp = a.temperature
    logp_old = log_softmax(tempered(z0, T_temp))
    pi_old = np.exp(logp_old)
    h_old = entropy(tempered(z0, T_temp))
    pi_sample, is_weight = pi_old, None
    if differs(a):  # the rollouts' sampler q: stale, tempered, truncated
        logq = sampler_logp(behaviour_logits(state.history, z0, a.staleness), a)
        pi_sample = np.exp(logq)
    # the controllers and a separate sampler are not combined (config_checks refuses it)
    ctl, ref, kl_now = state.control, state.ref_logits, [np.nan, np.nan]
    if ctl is not None and a.kl_in_reward:  # never exact (the config refuses it)

        def kl(rewards, nodes, tokens):  # verl apply_kl_penalty over each response's tokens
            nonlocal ctl
            lr, rows = log_softmax(ref), task.node_row
            k = [
                [
                    controllers.kl_values(
                        a.kl_reward_kind, logp_old[rows[ns], ts], lr[rows[ns], ts]
                    )
                    for ns, ts in zip(gn, gt, strict=True)
                ]
                for gn, gt in zip(nodes, tokens, strict=True)
            ]
            shape = rewards.shape
            k_sum = np.array([[x.sum() for x in g] for g in k]).reshape(shape)
            k_len = np.array([[x.size for x in g] for g in k], dtype=float).reshape(shape)
            rewards, kl_now[0], kl_now[1], ctl = controllers.penalise_rewards(
                a, ctl, rewards, k_sum, k_len
            )
            return rewards

        tok = sampled_tokens(params, pi_sample, u, kl)
    else:
        tok = (exact_tokens if a.exact else sampled_tokens)(params, pi_sample, u)
    if a.tis != "off":  # rho = pi_T,old(v) / q(v) per token, or per response
        log_ratio = logp_old[tok.row, tok.token] - logq[tok.row, tok.token]
        is_weight = tis_weights(log_ratio, tok.seq, a.tis, a.tis_clip_min, a.tis_clip_max)
    if a.entropy_adv_alpha > 0:  # the entropy-based advantage, per token (never exact)
        adv = entropy_term(tok.adv, h_old[tok.row], a.entropy_adv_alpha, a.entropy_adv_kappa)
        tok = dataclasses.replace(tok, adv=adv)

    z, opt = state.logits, state.opt
    tally = np.zeros(8)  # counted, low, high, dual, selected, kept, |policy| fork, |policy|
    ppo: list[float] = []  # verl's ppo_kl of each minibatch update
    breakdown = BreakdownSums.zeros(*z.shape, cfg.run.audit_quadrants) if cfg.run.audit else None
    optimise = OPTIMIZERS[cfg.optim.kind].fn
    T = task.max_len
    u_cc = u[lay.cc_offset : lay.cc_offset + lay.cc].reshape(a.epochs, -1) if lay.cc else None
    for epoch in range(a.epochs):
        for groups in minibatch_groups(tok.n_groups, a.minibatches):
            sel = np.flatnonzero((tok.group >= groups[0]) & (tok.group <= groups[-1]))
            keys = u_cc[epoch, tok.seq[sel] * T + tok.pos[sel]] if lay.cc else None
            table = TokenTable(
                state=tok.row[sel],
                token=tok.token[sel],
                adv=tok.adv[sel],
                weight=aggregation_weights(cfg, tok, sel, len(groups), T),
                keys=keys,
                seq=tok.seq[sel],
                pos=tok.pos[sel],
                length=tok.length[sel],
                count=tok.count[sel],
                is_weight=None if is_weight is None else is_weight[sel],
            )
            zt = tempered(z, T_temp)
            ppo.append(minibatch_ppo_kl(zt, logp_old, tok.row[sel], tok.token[sel], tok.count[sel]))
            h_now = entropy(z)[table.state] if ctl is not None else None
            grad, out, policy, keep = token_gradient(
                cfg, zt, tempered(state.ref_logits, T_temp), logp_old, h_old, table, breakdown,
                controllers.applied_entropy_coef(a, ctl),
            )  # fmt: skip
            if T_temp != 1.0:  # d loss / dz = (1 / T) d loss / d(z / T)
                grad = grad / T_temp
            count = tok.count[sel]
            mag = np.abs(policy)
            tally += [
                count.sum(),
                *(count @ m for m in (out.clip_low, out.clip_high, out.clip_dual, out.selected)),
                count @ keep,
                mag[tok.fork[sel]].sum(),
                mag.sum(),
            ]
            z, opt = optimise(z, grad, opt, cfg.optim)
            if ctl is not None:
                e = controllers.kept_entropy_mean(h_now, count, keep)
                ctl, ref = controllers.after_update(a, ctl, e, z, ref)

    batch_stats = (tok.reward_mean, tok.zero_var_frac, tok.n_groups)
    new_state, metrics = finish_step(
        cfg, state if ctl is None else dataclasses.replace(state, ref_logits=ref), z, opt, z0,
        h_old if T_temp == 1.0 else entropy(z0), t, tally, batch_stats, breakdown, params,
        ppo_kl=mean_or_nan(ppo),
    )  # fmt: skip
    if a.staleness > 0:
        new_state = dataclasses.replace(
            new_state, history=next_history(state.history, z0, a.staleness)
        )
    if ctl is not None:
        metrics.update(controllers.metrics(a, ctl, *kl_now))
        new_state = dataclasses.replace(new_state, control=ctl)
    metrics["fork_grad_share"] = tally[6] / tally[7] if tally[7] > 0 else np.nan
    metrics["forking_kept_frac"] = tally[5] / tally[0] if tally[0] else 0.0
    metrics["tokens_per_response"] = tok.mean_length
    return new_state, metrics


def row_advantages(params: SeqParams, pi_old: np.ndarray) -> np.ndarray:
    """(M, V) the exact expected advantage of each token at each parameter row under the
    sampling policy, on the training prompts: A(row, v) = Q_row(v) - sum_v pi Q_row, with
    Q_row the visit-weighted mean of Q(n, v) over the row's states (Cui et al.'s Theorem 1
    for a state shared by several prompts). NaN where the reward has no expectation per
    response (self_consistency)."""
    cfg, task = params.config, params.task
    r_leaf = leaf_expected_reward(task, cfg.reward.kind, p=cfg.reward.p, flip=cfg.reward.flip)
    r_leaf = r_leaf + overlong_penalty(
        task.leaf_len, task.max_len, cfg.algo.overlong_cache, cfg.algo.overlong_factor
    )
    reach = task.node_reach(pi_old)
    reach = np.where(task.node_prompt < cfg.train_prompts, reach, 0.0)
    q = task.q_values(pi_old, r_leaf)
    M = task.shape[0]
    qrow = np.zeros(task.shape)
    wrow = np.bincount(task.node_row, weights=reach, minlength=M)
    np.add.at(qrow, task.node_row, reach[:, None] * q)
    qrow /= np.maximum(wrow, 1e-300)[:, None]
    return qrow - (pi_old * qrow).sum(axis=1, keepdims=True)
