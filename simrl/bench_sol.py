"""Speed-of-light kernels of the bench workloads W1 and W2: the unavoidable work only.

`simrl bench` divides the engine's rate by these kernels' rates, measured alternately in
the same process, so every bench run says how far the engine is from what the hardware
does with the same math (issue 20, "The simulator at 70% of the speed of light").

What a workload cannot avoid, per run and step: one PCG64 uniform per draw (numpy's
stream: pcg64.next_double), the inverse-CDF draw of each answer (W1) or each token of
each response's walk down the task's graph (W2), the group's reward and GRPO advantage,
per epoch the ratio of each token and the clipped policy gradient of its row, the sgd
step and the refresh of the moved rows' softmax. Nothing else: no metrics (the bench
workloads record exact metrics every step; these kernels record none), no audit, no
flags, no failure checks, no token tables for general losses. So the fraction a bench
run prints is the engine's rate with its metrics against this floor, not a like-for-like
comparison of the same outputs.

How they are written: each run's logits and probabilities are one flat contiguous buffer
(rows of K, or of the vocabulary V); draws are branch-free counts #{k < K-1 : cdf[k] <=
u}, the rule of kernels/sampling.py; exps run over whole blocks of rows in one loop
(fastmath.fast_exp_nonpos, the engine's vectorisable exp, so both do the same exp work);
no allocation inside the step loop.

The rule is GRPO's (Shao et al. 2024, Eq. 3 with the group-normalised advantage) with
PPO's clipped surrogate (Schulman et al. 2017, Eq. 7) and token-mean aggregation (verl
0.9.1 core_algos.agg_loss "token-mean"); the tabular gradient of -A r with respect to a
row's logits is -A r (onehot(a) - pi), the score-function identity of theory/NOTES.md.
The kernels draw the same uniforms from the same per-run PCG64 streams as the engine
(engine/streams.py), so they compute the same trajectories; the ratio is pi / pi_old
rather than exp(log pi - log pi_old), so logits agree to round-off, not bitwise
(tests/test_bench.py holds them within 1e-9 of the engine's).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from simrl.config import Config
from simrl.engine.kernels.fastmath import fast_exp_nonpos
from simrl.engine.kernels.pcg64 import next_double, state_of
from simrl.engine.streams import run_generator, stream_layout


@njit(inline="always", cache=True)
def refresh_block(z, p, mx, rows, n_rows, K, e):
    """p = softmax of the rows rows[:n_rows] of the flat (rows of K) logits z, in phases
    (max, shift, exp over the whole block in one vectorised loop, normalise), e a scratch
    buffer of n_rows * K."""
    for i in range(n_rows):
        b = rows[i] * K
        m = z[b]
        for k in range(1, K):
            m = max(m, z[b + k])
        mx[i] = m
    for i in range(n_rows):
        b = rows[i] * K
        for k in range(K):
            e[i * K + k] = z[b + k] - mx[i]
    for j in range(n_rows * K):  # vectorised; z - max z <= 0
        e[j] = fast_exp_nonpos(e[j])
    for i in range(n_rows):
        b = rows[i] * K
        a0 = a1 = a2 = a3 = 0.0
        k = 0
        while k + 4 <= K:
            a0 += e[i * K + k]
            a1 += e[i * K + k + 1]
            a2 += e[i * K + k + 2]
            a3 += e[i * K + k + 3]
            k += 4
        while k < K:
            a0 += e[i * K + k]
            k += 1
        inv = 1.0 / ((a0 + a1) + (a2 + a3))
        for k in range(K):
            p[b + k] = e[i * K + k] * inv


@njit(inline="always", cache=True)
def group_advantages(rew, adv, lo, G, std_eps, std_ddof):
    """GRPO's group-normalised advantage (r - mean) / (std + eps) of rew[lo : lo + G]
    into adv (advantages.py, grpo; std with ddof std_ddof)."""
    mean = 0.0
    for g in range(G):
        mean += rew[lo + g]
    mean /= G
    var = 0.0
    for g in range(G):
        d = rew[lo + g] - mean
        var += d * d
    std = np.sqrt(var / (G - std_ddof))
    for g in range(G):
        adv[lo + g] = (rew[lo + g] - mean) / (std + std_eps)


@njit(inline="always", cache=True)
def clipped_coef(ratio, A, clip_low, clip_high, weight):
    """d loss / d log pi of one token of PPO's clipped surrogate (vanilla): -A r w, or 0
    where the clip is active (A > 0 and r > 1 + clip_high, or A < 0 and r < 1 - clip_low)."""
    clipped = (A > 0.0 and ratio > 1.0 + clip_high) or (A < 0.0 and ratio < 1.0 - clip_low)
    return 0.0 if clipped else -A * ratio * weight


@njit(parallel=True, cache=True)
def w1_light(
    states, base, correct, steps, G, epochs, clip_low, clip_high, lr, std_eps, std_ddof
):  # pragma: no cover - compiled
    """len(states) W1 runs (bandit, every prompt every step); returns their final logits
    (R, S, K). correct is (S, K) float (the true reward of each answer)."""
    R = states.shape[0]
    S, K = base.shape
    out = np.empty((R, S * K))
    weight = 1.0 / (S * G)  # token-mean over the step's S * G answers
    flat_base = base.ravel()
    flat_correct = correct.ravel()
    for r in prange(R):
        st = states[r].copy()
        z = out[r]
        p = np.empty(S * K)
        e = np.empty(S * K)
        mx = np.empty(S)
        all_rows = np.arange(S)
        u = np.empty(S * G)
        ans = np.empty(S * G, np.int64)
        rew = np.empty(S * G)
        adv = np.empty(S * G)
        p_old = np.empty(S * G)
        cdf = np.empty(K)
        grad = np.empty(K)
        for j in range(S * K):
            z[j] = flat_base[j]
        refresh_block(z, p, mx, all_rows, S, K, e)
        for _t in range(steps):
            for j in range(S * G):
                u[j] = next_double(st)
            for s in range(S):
                b = s * K
                c = 0.0
                for k in range(K):
                    c += p[b + k]
                    cdf[k] = c
                for g in range(G):
                    j = s * G + g
                    uu = u[j]
                    a = 0
                    for k in range(K - 1):  # branch-free inverse CDF (kernels/sampling.py)
                        a += cdf[k] <= uu
                    ans[j] = a
                    p_old[j] = p[b + a]
                    rew[j] = flat_correct[b + a]
                group_advantages(rew, adv, s * G, G, std_eps, std_ddof)
            for _e in range(epochs):
                for s in range(S):
                    b = s * K
                    for k in range(K):
                        grad[k] = 0.0
                    total = 0.0
                    for g in range(G):
                        j = s * G + g
                        a = ans[j]
                        coef = clipped_coef(
                            p[b + a] / p_old[j], adv[j], clip_low, clip_high, weight
                        )
                        grad[a] += coef
                        total += coef
                    for k in range(K):
                        z[b + k] -= lr * (grad[k] - total * p[b + k])
                refresh_block(z, p, mx, all_rows, S, K, e)
    return out.reshape(R, S, K)


def w1_light_inputs(config: Config, replicates) -> tuple:
    """w1_light's arguments for a W1-shaped `config` (bench.W1 with any runs, steps,
    prompts, answers) and its replicates; a config the kernel does not compute is refused."""
    from simrl.tasks import build_bandit

    a = config.algo
    if not (
        config.task.kind == "bandit"
        and config.prompts_per_step == config.task.num_prompts
        and config.train_prompts == config.task.num_prompts
        and _plain_update(config)
    ):
        raise ValueError("the speed-of-light kernel computes W1's update only")
    task = build_bandit(config.task)
    states = np.stack([state_of(run_generator(config, i)) for i in replicates])
    return (
        states,
        np.ascontiguousarray(task.base_logits, dtype=np.float64),
        np.ascontiguousarray(task.correct, dtype=np.float64),
        config.run.steps,
        a.group_size,
        a.epochs,
        a.clip_low,
        a.clip_high,
        config.optim.lr,
        a.std_eps,
        a.std_ddof,
    )


def _plain_update(config: Config) -> bool:
    """The update the kernels compute: true reward, GRPO, vanilla clip, token-mean, sgd,
    one minibatch, no KL, entropy or dual clip, sampled (not exact), no dynamic sampling."""
    a = config.algo
    return (
        a.loss == "vanilla"
        and a.advantage == "grpo"
        and a.agg == "token-mean"
        and config.optim.kind == "sgd"
        and config.reward.kind == "true"
        and a.minibatches == 1
        and a.kl_coef == 0
        and a.entropy_coef == 0
        and a.entropy_adv_alpha == 0
        and a.dual_clip == 0
        and not a.exact
        and a.dynamic_sampling == "off"
        and a.ref_reset_every == 0
    )


@njit(inline="always", cache=True)
def inverse_cdf_row(p, b, width, uu):
    """The first index of p[b : b + width] whose cumulative probability exceeds uu, never
    past the last index with positive probability, counted without branches
    (seq_sampling.inverse_cdf's rule)."""
    last = width - 1
    while last > 0 and not p[b + last] > 0.0:
        last -= 1
    c = 0.0
    a = 0
    for k in range(last):
        c += p[b + k]
        a += c <= uu
    return a


@njit(parallel=True, cache=True)
def w2_light(
    states, base, node_row, slot, root, leaf_det, leaf_answer, correct, steps, P, G, max_len,
    L_total, L_sel, epochs, clip_low, clip_high, lr, std_eps, std_ddof,
):  # fmt: skip  # pragma: no cover - compiled
    """len(states) W2 runs (a sequence task; a row narrower than V holds logits -1e30
    beyond its width, probability 0, as in the engine); returns their
    final logits (R, M, V) and the tokens each run sampled (R,). base (M, V) are the
    task's base logits, node_row / slot / root its graph (fast_sequence.task_tuples:
    slot[n, v] >= N is leaf slot[n, v] - N), leaf_det a leaf's certain answer (else -1)
    and leaf_answer its answer distribution, correct (S, A) float."""
    R = states.shape[0]
    M, V = base.shape
    N = slot.shape[0]
    A = leaf_answer.shape[1]
    S = correct.shape[0]
    U = max_len + 1  # uniforms per response (streams: sequence draws_per_response)
    cap = P * G * max_len
    out = np.empty((R, M * V))
    tokens = np.zeros(R)
    flat_base = base.ravel()
    flat_answer = leaf_answer.ravel()
    for r in prange(R):
        st = states[r].copy()
        z = out[r]
        p = np.empty(M * V)
        e = np.empty(M * V)
        mx = np.empty(M)
        all_rows = np.arange(M)
        u = np.empty(L_total)
        order = np.arange(S)
        trow = np.empty(cap, np.int64)
        ttok = np.empty(cap, np.int64)
        tpold = np.empty(cap)
        tadv = np.empty(cap)
        rlen = np.empty(P * G, np.int64)
        rew = np.empty(P * G)
        adv = np.empty(P * G)
        g_row = np.zeros(M * V)
        csum = np.zeros(M)
        touched = np.zeros(M, np.bool_)
        rows = np.empty(M + 1, np.int64)
        for j in range(M * V):
            z[j] = flat_base[j]
        refresh_block(z, p, mx, all_rows, M, V, e)
        n_tok_run = 0
        for _t in range(steps):
            for j in range(L_total):
                u[j] = next_double(st)
            if P < S:  # the first P of the argsort of the selection keys (sampling.select_prompts)
                order[:P] = np.argsort(u[:L_sel], kind="mergesort")[:P]
            n_tok = 0
            for i in range(P):
                s = order[i]
                off = L_sel + i * G * U
                for j in range(G):
                    n = root[s]
                    start = n_tok
                    for pos in range(max_len):
                        row = node_row[n]
                        a = inverse_cdf_row(p, row * V, V, u[off + j * U + pos])
                        trow[n_tok] = row
                        ttok[n_tok] = a
                        tpold[n_tok] = p[row * V + a]
                        n_tok += 1
                        c = slot[n, a]
                        if c >= N:
                            n = c - N  # the leaf
                            break
                        n = c
                    ans = leaf_det[n]
                    if ans < 0:  # the environment's answer (sequence_ref.sample_response)
                        ans = inverse_cdf_row(flat_answer, n * A, A, u[off + j * U + max_len])
                    rew[i * G + j] = correct[s, ans]
                    rlen[i * G + j] = n_tok - start
                group_advantages(rew, adv, i * G, G, std_eps, std_ddof)
            t = 0
            for q in range(P * G):  # each token gets its response's advantage
                for _ in range(rlen[q]):
                    tadv[t] = adv[q]
                    t += 1
            n_tok_run += n_tok
            weight = 1.0 / n_tok  # token-mean over the minibatch's tokens
            for _e in range(epochs):
                n_rows = 0
                for t in range(n_tok):
                    row, a = trow[t], ttok[t]
                    if not touched[row]:
                        touched[row] = True
                        rows[n_rows] = row
                        n_rows += 1
                        csum[row] = 0.0
                        for k in range(V):
                            g_row[row * V + k] = 0.0
                    coef = clipped_coef(
                        p[row * V + a] / tpold[t], tadv[t], clip_low, clip_high, weight
                    )
                    g_row[row * V + a] += coef
                    csum[row] += coef
                for i in range(n_rows):
                    row = rows[i]
                    touched[row] = False
                    b = row * V
                    for k in range(V):
                        z[b + k] -= lr * (g_row[b + k] - csum[row] * p[b + k])
                refresh_block(z, p, mx, rows, n_rows, V, e)
        tokens[r] = n_tok_run
    return out.reshape(R, M, V), tokens


def w2_light_inputs(config: Config, replicates, task=None) -> tuple:
    """w2_light's arguments for a W2-shaped `config` (bench.W2: a sequence task, answer = 'policy' or 'env') and its replicates; `task` the built task
    (built here if None). A config the kernel does not compute is refused."""
    from simrl.engine.fast_sequence import task_tuples
    from simrl.tasks import build_task

    a = config.algo
    task = build_task(config.task) if task is None else task
    if not (
        config.task.kind == "sequence"
        and config.train_prompts == config.task.num_prompts
        and _plain_update(config)
        and config.task.format_mass == 0
        and config.algo.overlong_cache == 0
    ):
        raise ValueError("the speed-of-light kernel computes W2's update only")
    graph, leaves, _ = task_tuples(task)
    layout = stream_layout(config, task.max_len)
    states = np.stack([state_of(run_generator(config, i)) for i in replicates])
    i64 = np.int64
    return (
        states,
        np.ascontiguousarray(task.base_logits, dtype=np.float64),
        graph.node_row.astype(i64),
        np.ascontiguousarray(graph.slot, dtype=i64),
        graph.root.astype(i64),
        leaves.leaf_det.astype(i64),
        leaves.leaf_answer,
        np.ascontiguousarray(task.correct, dtype=np.float64),
        config.run.steps,
        config.prompts_per_step,
        a.group_size,
        task.max_len,
        layout.total,
        layout.sel,
        a.epochs,
        a.clip_low,
        a.clip_high,
        config.optim.lr,
        a.std_eps,
        a.std_ddof,
    )


def light_fraction(engine_s: list[float], light_s: list[float]) -> dict:
    """The engine's rate as a fraction of the speed of light from timings taken in
    alternation (engine_s[i] and light_s[i] one pair, same work): best against best, and
    the median of the pairs' ratios (light / engine time: the rates' ratio)."""
    pairs = sorted(li / en for en, li in zip(engine_s, light_s, strict=True))
    return {"best": min(light_s) / min(engine_s), "median": float(np.median(pairs)), "pairs": pairs}


def fraction_line(name: str, frac: dict) -> str:
    pairs = ", ".join(f"{x:.2f}" for x in frac["pairs"])
    return (
        f"{name}: simrl at {frac['best']:.2f} of the speed of light (best against best; "
        f"pairs {pairs}, median {frac['median']:.2f}; the kernel computes no metrics: "
        "simrl/bench_sol.py)"
    )
