"""The rollout sampler in the numba engine (simrl/rollout_sampling.py is the rule and the
numpy references' form): temperature, top-k, top-p, staleness and truncated importance
sampling (TIS), for the bandit (this module's `run_chunk_sampler`) and the sequence
tasks (kernels/seq_rollout_sampler.py).

A run whose sampler differs from pi_old runs on these kernels, never on step.run_chunk or
seq_step.run_chunk_seq: batch.run_batch puts such runs in their own kernel calls
(engine/fast_sampler.py), so a run without the sampler neither compiles nor executes any
of this. The sampler's steps reuse the plain step's parts (the batch draw, the advantage,
the minibatch gradient, the optimiser, the metrics) with three differences:

- the rollouts are drawn from q, the softmax of the behaviour logits (the step's start,
  or with algo.staleness = k the start of step max(t - k, 0), kept in a ring of k + 1
  slots per run that lives across kernel calls) divided by T, truncated by top-k then
  top-p (`sampler_probs`); what the reference reads from pi_sample (the sampled answers,
  a likelihood-reading reward, ReMax's greedy answer, the token baselines) reads q;
- the loss trains the tempered policy pi_T = softmax(z / T): with T != 1 a second cache
  (`tpol`, a workspace.Policy of z / T and zref / T) feeds the token table's old
  log-probs and entropies and the minibatch gradient, whose logit gradient is divided by
  T before the optimiser moves z (`sampler_apply`); the exact metrics keep measuring
  softmax(z), from the run's own cache;
- with algo.tis each token's weight rho = pi_T,old(a) / q(a), per token or per response,
  truncated or masked (`tis_weights`), goes in the token table's row TF_IS, and the
  update kernels multiply the policy loss's d loss / d logp by it (kernels/tis.py).

tests/engine/test_sampler_parity.py holds these kernels to the references within 1e-9.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numba import njit

from simrl.algorithms.tokens import TF_ADV, TF_COUNT, TF_ENT_OLD, TF_IS, TF_LOGP_OLD, TI_SEQ
from simrl.engine.kernels.breakdown import expected_rewards
from simrl.engine.kernels.codes import (
    F_ENT_ADV_ALPHA,
    F_ENT_ADV_KAPPA,
    I_ADV_GREEDY,
    I_ADV_TOKEN,
    I_EPOCHS,
    I_G,
    I_LTOTAL,
    I_MB,
    I_NTRAIN,
    I_OPT_EVERY,
    I_P,
    I_REW_UPDATES,
    I_TIS,
    N_EVAL_FIXED,
)
from simrl.engine.kernels.copying import copy1
from simrl.engine.kernels.metrics import entropy_change, ppo_kl_mean, rows_finite
from simrl.engine.kernels.pcg64 import next_double
from simrl.engine.kernels.sampling import collect_batch
from simrl.engine.kernels.softmax import refresh_all, refresh_rows
from simrl.engine.kernels.step import (
    add_update,
    frozen_update,
    kept_finite,
    record_eval,
    record_update,
    run_policy,
    snapshot,
    step_metrics,
    workspace,
)
from simrl.engine.kernels.token_baseline import bandit_token_baselines
from simrl.engine.kernels.update import (
    apply_gradient,
    finish_gradient,
    minibatch_gradient,
    save_rows,
)
from simrl.engine.kernels.workspace import Policy, bandit_task_row, params_row

#: columns of Sampler.fs: temperature, top_p, tis_clip_min, tis_clip_max
FS_TEMP, FS_TOP_P, FS_CLIP_MIN, FS_CLIP_MAX = 0, 1, 2, 3
N_FS = 4
#: columns of Sampler.si: top_k, staleness, the TIS mode (rollout_sampling.TIS_MODES index)
SI_TOP_K, SI_STALE, SI_TIS = 0, 1, 2
N_SI = 3
#: TIS_MODES indices: 0 off, 1 token_truncate, 2 token_mask, 3 sequence_truncate,
#: 4 sequence_mask
TIS_TOKEN_MASK, TIS_SEQ_TRUNCATE, TIS_SEQ_MASK = 2, 3, 4

#: the batch's sampler arrays (engine/fast_sampler.py packs them; one leading run axis):
#: fs (R, N_FS) floats, si (R, N_SI) ints, and the staleness ring (R, slots, S, K): slot
#: t % (k + 1) holds the logits at the start of step t (slots = the batch's largest
#: staleness + 1, or 0 when no run is stale)
Sampler = namedtuple("Sampler", ["fs", "si", "ring"])

#: one run's sampler in the step kernels: its rows of Sampler, and scratch: the sampler's
#: logits zs (S, K), its probabilities q and log-probabilities logq (S, K), hs (S,) (unused
#: entropies) and all_rows (S,) = 0..S-1
SamplerRun = namedtuple("SamplerRun", ["fs", "si", "ring", "zs", "q", "logq", "hs", "all_rows"])


@njit(cache=True)
def sampler_run(samp, r, S, K):
    """Run r's SamplerRun: views of its rows of the batch's Sampler, fresh scratch."""
    return SamplerRun(
        samp.fs[r],
        samp.si[r],
        samp.ring[r],
        np.empty((S, K)),
        np.empty((S, K)),
        np.empty((S, K)),
        np.empty(S),
        np.arange(S),
    )


@njit(cache=True)
def tempered_policy(pol, T):
    """The trained policy's cache when T != 1 (a workspace.Policy: buffers for z / T and
    zref / T and their caches, the run's optimiser state), else pol itself (T = 1: the
    trained policy is the run's own)."""
    S, K = pol.z.shape
    n = S if T != 1.0 else 0
    tp = Policy(
        np.empty((n, K)), np.empty((n, K)), pol.m, pol.v, pol.adam_t, np.empty((n, K)),
        np.empty((n, K)), np.empty(n), np.empty((n, K)), np.empty((n, K)),
    )  # fmt: skip
    return pol if T == 1.0 else tp


@njit(cache=True)
def temper_rows(z, tz, T, rows, n_rows):
    """tz[s] = z[s] / T for the states rows[:n_rows] (rollout_sampling.tempered)."""
    K = z.shape[1]
    for i in range(n_rows):
        s = rows[i]
        for k in range(K):
            tz[s, k] = z[s, k] / T


@njit(cache=True)
def temper_all(pol, tpol, T):
    """The tempered cache at the step's start: log softmax, softmax and H of z / T, and
    of the KL reference's zref / T (the reference's `tempered(state.ref_logits, T)`,
    recomputed each step, so ProRL's reference reset is followed)."""
    S = pol.z.shape[0]
    rows = np.arange(S)
    temper_rows(pol.z, tpol.z, T, rows, S)
    refresh_all(tpol.z, tpol.logp, tpol.prob, tpol.ent)
    temper_rows(pol.zref, tpol.zref, T, rows, S)
    ref_ent = np.empty(S)
    refresh_all(tpol.zref, tpol.ref_logp, tpol.ref_prob, ref_ent)


@njit(cache=True)
def truncate_row(zs, s, top_p, top_k):
    """Row s of the sampler's logits truncated in place: top-k keeps the entries >= the
    k-th largest (ties at it kept), then top-p drops, in ascending order (a stable sort),
    every entry whose cumulative probability is <= 1 - top_p, never the largest; dropped
    entries become -inf (rollout_sampling.truncated_logits: transformers
    TopKLogitsWarper and TopPLogitsWarper, min_tokens_to_keep 1).

    One stable ascending sort serves both: top-k's dropped entries are the smallest, so
    they stay first and the kept ones keep their order; their probability 0 adds nothing
    to the cumulative sums."""
    K = zs.shape[1]
    row = zs[s]
    order = np.argsort(row, kind="mergesort")
    if 0 < top_k < K:
        kth = row[order[K - top_k]]
        for k in range(K):
            if row[k] < kth:
                row[k] = -np.inf
    if top_p < 1.0:
        m = row[order[K - 1]]  # the largest, kept by top-k
        tot = 0.0
        for i in range(K):
            tot += math.exp(row[order[i]] - m)
        lse = math.log(tot)
        cum = 0.0
        limit = 1.0 - top_p
        for i in range(K - 1):  # the largest is always kept
            k = order[i]
            cum += math.exp(row[k] - m - lse)
            if cum <= limit:
                row[k] = -np.inf


@njit(cache=True)
def sampler_probs(src, T, top_p, top_k, sr):
    """q and log q (sr.q, sr.logq) of the sampler whose behaviour logits are src (S, K):
    softmax of src / T truncated by top-k and top-p (rollout_sampling.sampler_logp), with
    the run cache's arithmetic (softmax.refresh_rows), so that q is bitwise the cached
    pi_old when the sampler is pi_old itself (T = 1, no truncation, no staleness)."""
    zs = sr.zs
    S, K = src.shape
    if T != 1.0:
        for s in range(S):
            for k in range(K):
                zs[s, k] = src[s, k] / T
    else:
        zs[:, :] = src
    if (0 < top_k < K) or top_p < 1.0:
        for s in range(S):
            truncate_row(zs, s, top_p, top_k)
    refresh_rows(zs, sr.logq, sr.q, sr.hs, sr.all_rows, S, False)


@njit(cache=True)
def draw_sampler(pol, tpol, sr, t):
    """The start of a sampler step: the tempered cache (T != 1), the ring's push of the
    step's starting logits, and q from the behaviour logits (rollout_sampling
    behaviour_logits / next_history: the start of step max(t - k, 0); slot t % (k + 1)
    holds step t's)."""
    T = sr.fs[FS_TEMP]
    if T != 1.0:
        temper_all(pol, tpol, T)
    top_p, top_k, k = sr.fs[FS_TOP_P], sr.si[SI_TOP_K], sr.si[SI_STALE]
    if k == 0:
        sampler_probs(pol.z, T, top_p, top_k, sr)
    else:
        slots = k + 1
        sr.ring[t % slots, :, :] = pol.z
        sampler_probs(sr.ring[max(t - k, 0) % slots], T, top_p, top_k, sr)


@njit(cache=True)
def tis_weights(tf, ti, n_tok, mode, clip_min, clip_max):
    """Each token's TIS weight into tf[TF_IS, :n_tok], which holds its log ratio
    log pi_T,old(a) - log q(a) on entry (rollout_sampling.tis_weights; TRL 1.16.0
    `_generate_and_score_completions`, vllm_importance_sampling_mode): the sequence modes
    exp(the sum of its response's log ratios, in token order; a response's tokens are
    consecutive and share ti[TI_SEQ]), the token modes exp(its own); `*_truncate` clamps
    to [clip_min, clip_max], `*_mask` zeroes a weight outside it."""
    if mode == TIS_SEQ_TRUNCATE or mode == TIS_SEQ_MASK:
        k = 0
        while k < n_tok:
            seq = ti[TI_SEQ, k]
            e = k
            lr = 0.0
            while e < n_tok and ti[TI_SEQ, e] == seq:
                lr += tf[TF_IS, e]
                e += 1
            for j in range(k, e):
                tf[TF_IS, j] = lr
            k = e
    mask = mode == TIS_TOKEN_MASK or mode == TIS_SEQ_MASK
    for k in range(n_tok):
        w = math.exp(tf[TF_IS, k])
        if mask:
            tf[TF_IS, k] = 0.0 if (w < clip_min or w > clip_max) else w
        else:
            tf[TF_IS, k] = min(max(w, clip_min), clip_max)


@njit(cache=True)
def sampler_apply(run, opt_fn, pol, tpol, grad, n_rows, saves, with_ent, T):
    """update.apply_gradient for a sampler step. T = 1: apply_gradient itself. T != 1:
    the gradient's state terms at the tempered cache tpol (update.finish_gradient), the
    logit gradient d loss / dz = (1 / T) d loss / d(z / T) (reference.step: grad / T),
    the run's optimiser on z with the run's own pi (npg's Fisher is softmax(z)'s, as the
    reference's optimisers compute it from z), then both caches refreshed for the rows
    that moved (the run's H with with_ent, as apply_gradient; the tempered H always: the
    gradient reads it). Rows are saved from the run's own cache (saves, or None)."""
    if T == 1.0:
        apply_gradient(run, opt_fn, pol, grad, n_rows, saves, with_ent)
        return
    ip = run.ip
    z = pol.z
    g, touched, rows = grad.g, grad.touched, grad.rows
    S, K = z.shape
    every = ip[I_OPT_EVERY] == 1  # the optimiser may move every entry (adam)
    every_row = every or n_rows == S
    if saves is not None:
        save_rows(z, pol.logp, pol.prob, pol.ent, rows, n_rows, every, saves)
    finish_gradient(run, tpol, grad, n_rows)
    for i in range(n_rows):
        s = rows[i]
        for k in range(K):
            g[s, k] = g[s, k] / T
    opt_fn(run.op, z, g, pol.prob, pol.m, pol.v, pol.adam_t, rows, n_rows)  # leaves g zero
    for i in range(n_rows):
        touched[rows[i]] = False
    moved = np.arange(S) if every_row else rows
    n_moved = S if every_row else n_rows
    refresh_rows(z, pol.logp, pol.prob, pol.ent, moved, n_moved, with_ent)
    temper_rows(z, tpol.z, T, moved, n_moved)
    refresh_rows(tpol.z, tpol.logp, tpol.prob, tpol.ent, moved, n_moved, True)


# ---- the bandit ------------------------------------------------------------------------


@njit(cache=True)
def sampler_prepare(run, algos, pol, tpol, task, ws, sr, t, u):
    """step.prepare_step with the sampler: snapshot the run's policy (the exact metrics'
    step start), draw the batch from q, its advantages (ReMax's greedy answer and the
    token baselines from q, as the reference's pi_sample), and the token table from the
    trained policy's cache tpol (old log-probs, entropies, the entropy-based advantage),
    with the TIS weights. Returns (n_groups, n_entries per group)."""
    ip = run.ip
    bprompt, bans, badv, tok = ws.bprompt, ws.bans, ws.badv, ws.tok
    q = sr.q
    K = pol.z.shape[1]
    G = ip[I_G]
    snapshot(pol, ws.old)
    draw_sampler(pol, tpol, sr, t)
    n_groups = collect_batch(run, u, q, task, ws)
    if ip[I_ADV_GREEDY] == 1:  # ReMax: the reward of q's argmax answer (rbar = E[r | a])
        for j in range(n_groups):
            s = bprompt[j]
            best = 0
            for k in range(1, K):
                if q[s, k] > q[s, best]:
                    best = k
            ws.bgreedy[j] = ws.rbar[s, best]
    algos.advantage(run.ap, ws.brew, badv, n_groups, G, ws.bcount, ws.bgreedy)
    if ip[I_ADV_TOKEN] == 1:  # a per-token baseline (verl's optimal_token_baseline)
        bandit_token_baselines(q, bprompt, bans, ws.brew, badv, n_groups, G)
    ws.tally[:] = 0.0
    tis = ip[I_TIS] == 1
    logp_t, ent_t = tpol.logp, tpol.ent
    ent_alpha, ent_kappa = run.fp[F_ENT_ADV_ALPHA], run.fp[F_ENT_ADV_KAPPA]
    pos = 0
    for j in range(n_groups):
        s = bprompt[j]
        for i in range(G):
            a = bans[j, i]
            tok[TF_LOGP_OLD, pos] = logp_t[s, a]
            a_tok = badv[j, i]
            if ent_alpha > 0.0:  # the entropy-based advantage (advantage.entropy_term)
                a_tok = a_tok + min(ent_alpha * ent_t[s], abs(a_tok) / ent_kappa)
            tok[TF_ADV, pos] = a_tok
            tok[TF_ENT_OLD, pos] = ent_t[s]
            tok[TF_COUNT, pos] = ws.bcount[j, i]
            if tis:  # log pi_T,old(a) - log q(a)
                tok[TF_IS, pos] = logp_t[s, a] - sr.logq[s, a]
            pos += 1
    if tis:
        tis_weights(tok, ws.ti, pos, sr.si[SI_TIS], sr.fs[FS_CLIP_MIN], sr.fs[FS_CLIP_MAX])
    return n_groups, G


@njit(cache=True)
def sampler_step_run(run, algos, pol, tpol, task, ws, sr, t, u, upd):
    """step.step_run with the sampler (sampler_prepare, the minibatch gradient at the
    trained policy tpol, sampler_apply); the exact metrics of softmax(z) as step_run's.
    The config refuses the sampler with algo.exact and run.audit. Returns False if a
    value became non-finite."""
    ip = run.ip
    old = ws.old
    z = pol.z
    if ip[I_REW_UPDATES] == 0:  # frozen: no update at all (nor a ring push: reference)
        frozen_update(upd)
        return True
    n_groups, n_entries = sampler_prepare(run, algos, pol, tpol, task, ws, sr, t, u)
    T = sr.fs[FS_TEMP]
    mb = ip[I_MB]
    first = True
    for epoch in range(ip[I_EPOCHS]):
        for b in range(mb):
            lo = (b * n_groups) // mb
            hi = ((b + 1) * n_groups) // mb
            if hi > lo:
                n_rows = minibatch_gradient(
                    run, algos, tpol, ws, u, epoch, first, lo, hi, n_entries
                )
                sampler_apply(run, algos.optimiser, pol, tpol, ws.grad, n_rows, None, True, T)
                first = False
    S = z.shape[0]
    entropy_change(
        z, old.z0, old.gh_old, old.ent_old, pol.ent, old.logp_old, old.prob_old, pol.logp,
        ws.all_rows, S, ws.dh,
    )  # fmt: skip
    step_metrics(ip, t, n_groups, pol, ws.stats, ws.tally, ws.dh, upd)
    upd[9:14] = np.nan  # the dH breakdown (run.audit) is refused with the sampler
    upd[14] = ppo_kl_mean(ws.tally, 5)  # metrics.STEP_KL_METRICS, at the trained policy
    upd[15] = ws.dh[2]
    return kept_finite(ip, pol, old.z0, ws.all_rows, S, rows_finite(z, ws.all_rows, S))


@njit(nogil=True, cache=True)
def run_chunk_sampler(
    t0, n_steps, row_of_step, rng, learner, params, algos, tasks, task_of_run, passk, out, samp
):
    """step.run_chunk for runs with a rollout sampler: the same arguments, and samp (a
    Sampler: the runs' sampler fields and staleness rings)."""
    R, S, K = learner.z.shape
    n_eval = 2 + 2 * passk.shape[0] + N_EVAL_FIXED
    metrics, failed = out.metrics, out.failed
    n_cols = metrics.shape[2]
    for r in range(R):  # over threads: engine/threads.py
        if failed[r] >= 0:
            continue
        run = params_row(params, r)
        ip_r = run.ip
        task = bandit_task_row(tasks, task_of_run[r])
        P, G = ip_r[I_P], ip_r[I_G]
        ws = workspace(S, K, P, G, P * max(G, K), run.cp)
        if ip_r[I_ADV_GREEDY] == 1:
            expected_rewards(run.fp, task.correct, task.fmt, task.label, ws.rbar)
        pol = run_policy(learner, r, S, K)
        sr = sampler_run(samp, r, S, K)
        tpol = tempered_policy(pol, sr.fs[FS_TEMP])
        upd = np.zeros(out.upd_sum.shape[1])  # the sampler refuses the controllers
        row_buf = np.empty(n_cols)
        L = ip_r[I_LTOTAL]
        u = np.empty(max(L, 1))
        st = rng[r].copy()
        upd_sum_r, upd_cnt_r = out.upd_sum[r], out.upd_cnt[r]
        if t0 == 0:
            record_eval(metrics[r], np.int64(0), n_eval, pol, task, passk, ip_r[I_NTRAIN], row_buf)
        for i in range(n_steps):
            t = t0 + i
            for j in range(L):
                u[j] = next_double(st)
            ok = sampler_step_run(run, algos, pol, tpol, task, ws, sr, t, u, upd)
            if not ok:
                failed[r] = t + 1
                break
            add_update(upd, upd_sum_r, upd_cnt_r)
            row = row_of_step[t + 1]
            if row >= 0:
                record_eval(metrics[r], row, n_eval, pol, task, passk, ip_r[I_NTRAIN], row_buf)
                record_update(metrics[r], row, n_eval, upd_sum_r, upd_cnt_r)
        copy1(rng[r], st)
