"""One step's rollouts: prompts chosen, G completions each, verified and rewarded.

Prompts: all training problems, or prompts_per_step of a random order. Completions come
from KV-cache sampling (simrl/bridge/rollout.py) and are verified by the format's
verifier; rewards are the simulator's names (simrl/bridge/rewards.py) plus DAPO's overlong
penalty (Yu et al. 2025, arXiv 2503.14476, Eq. 13). Dynamic sampling is the simulator's rule
(simrl/dynamic_sampling.py): 'drop' keeps the groups whose rewards differ, 'resample'
draws again (up to max_resample_rounds) until prompts_per_step such groups are kept.
"""

from __future__ import annotations

import time

import numpy as np

from simrl.bridge.metrics import verify
from simrl.bridge.rewards import BRIDGE_REWARDS
from simrl.bridge.rollout import Completions, sample
from simrl.bridge.sampler import Sampler, likelihoods
from simrl.dynamic_sampling import dynamic_sampling
from simrl.rewards import REWARDS, overlong_penalty


def collect(ctx, policy, labels, rng: np.random.Generator):
    """Rollouts with dynamic sampling: (completions, problem per sequence, rewards (n, G),
    first-round stats, rollout tokens, rollout seconds). `policy` is the model that samples
    (the policy, or with algo.staleness its copy k updates old: sampler.StaleRing), with
    the run's sampler (bridge.temperature, algo.top_k, algo.top_p: sampler.Sampler); the
    completions carry each token's log q. A reward with `reads_likelihood` (unlikeliness)
    gets each response's per-token likelihood exp(mean log q) (sampler.likelihoods)."""
    cfg = ctx.cfg
    a, b = cfg.algo, cfg.bridge
    S, G, T = len(ctx.train), a.group_size, b.max_new_tokens
    P = ctx.prompts_per_step or cfg.prompts_per_step
    rounds = a.max_resample_rounds if a.dynamic_sampling == "resample" else 1
    timing = {"tokens": 0, "seconds": 0.0, "length": np.nan}
    reward = REWARDS[cfg.reward.kind]
    reward_fn = BRIDGE_REWARDS[cfg.reward.kind].fn
    sampler = Sampler.of(cfg)

    def draw_round(rnd: int) -> list[tuple]:
        sel = np.arange(S) if P == S else np.argsort(rng.random(S), kind="stable")[:P]
        prompts = [ctx.fmt.prompt_ids(ctx.train[i]) for i in sel for _ in range(G)]
        u = rng.random((P * G, T))
        u_reward = rng.random((P, G)) if reward.uses_uniform else np.zeros((P, G))
        u_tie = rng.random(P) if reward.votes else np.zeros(P)
        start = time.perf_counter()
        c = sample(policy, prompts, T, sampler, ctx.fmt.eos_id, ctx.fmt.pad_id, u, ctx.device)
        timing["seconds"] += time.perf_counter() - start
        timing["tokens"] += int(c.mask.sum())
        v = verify(ctx.fmt, c, [ctx.train[i].answer for i in sel for _ in range(G)])
        if rnd == 0:
            timing["length"] = float(v.lengths.mean())
        lik = likelihoods(c.logq, c.mask) if reward.reads_likelihood else None
        lik_kw: dict = {}
        groups = []
        for g, i in enumerate(sel):
            rows = slice(g * G, (g + 1) * G)
            if lik is not None:
                lik_kw = {"lik": lik[rows], "param": reward.packed_param(cfg.reward)}
            if ctx.reward is None:
                base = reward_fn(
                    v.answers[rows], ctx.train[i].answer, labels[i], u_reward[g], u_tie[g],
                    p=cfg.reward.p, flip=cfg.reward.flip, **lik_kw,
                )  # fmt: skip
            else:  # a user's reward (BridgeTask.reward), per completion
                base = np.array(
                    [float(ctx.reward(ctx.train[i], v.texts[k], v.answers[k]))
                     for k in range(g * G, (g + 1) * G)]
                )  # fmt: skip
            rew = base + overlong_penalty(v.lengths[rows], T, a.overlong_cache, a.overlong_factor)
            groups.append((int(i), c, rows, rew))
        return groups

    kept, first, zero_var_frac = dynamic_sampling(draw_round, a.dynamic_sampling, rounds, P)
    stats = {
        "reward_mean": float(np.mean([gr[3] for gr in first])),
        "zero_var_frac": zero_var_frac,
        "tokens_per_response": timing["length"],
    }
    tokens, seconds = timing["tokens"], timing["seconds"]
    if not kept:
        return None, np.zeros(0, int), np.zeros((0, G)), stats, tokens, seconds
    comp = Completions.cat([c.rows(rows) for _, c, rows, _ in kept])
    problem = np.repeat([i for i, *_ in kept], G)
    rewards = np.array([rew for *_, rew in kept], dtype=float).reshape(len(kept), G)
    return comp, problem, rewards, stats, tokens, seconds
