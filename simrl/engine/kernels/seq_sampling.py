"""One step's token table on a sequence task (sequence_ref.sampled_tokens / exact_tokens).

Tokens are written in batch order (group, response, position) into the step's token
arrays: `tf` (floats, rows TF_*) and `ti` (ints, rows TI_*); group j's tokens are
tf[:, gstart[j] : gstart[j + 1]]. A task's graph, leaves and facts are the named tuples
of kernels/workspace.py, packed by simrl/engine/fast_sequence.py.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# the token tables' rows (simrl/algorithms/tokens.py)
from simrl.algorithms.tokens import (  # noqa: F401  (the kernels' names for them)
    N_TF,
    N_TI,
    TF_ADV,
    TF_COEF,
    TF_COUNT,
    TF_DLOGP,
    TF_ENT_OLD,
    TF_KEEP,
    TF_KEYS,
    TF_LOGP,
    TF_LOGP_OLD,
    TF_RATIO,
    TF_SORT,
    TF_STEER,
    TF_WEIGHT,
    TI_FORK,
    TI_LEN,
    TI_POS,
    TI_ROW,
    TI_SEQ,
    TI_TOK,
)
from simrl.engine.kernels.codes import (
    DS_OFF,
    DS_RESAMPLE,
    F_RPARAM,
    I_DS,
    I_G,
    I_LREWARD,
    I_LSAMPLE,
    I_LSEL,
    I_LTIE,
    I_NTRAIN,
    I_P,
    I_REW,
    I_REW_FORMAT,
    I_REW_VOTES,
    I_ROUNDS,
)
from simrl.engine.kernels.dispatch import REWARD_READS_LIKELIHOOD, group_rewards
from simrl.engine.kernels.sampling import plurality, select_prompts
from simrl.engine.kernels.seq_graph import forward_reach, leaf_rewards, overlong, q_values

# seq parameters beyond packing.py's (fast_sequence.pack_sequence): floats
SP_FORK_Q, SP_OVER_FACTOR, SP_OVER_CACHE = 0, 1, 2


@njit(inline="always", cache=True)
def inverse_cdf(p, r, width, uu):
    """sequence_ref.inverse_cdf on p[r, :width]: the first index whose cumulative
    probability exceeds uu, never past the last index with positive probability. Counted
    without branches: #{k < last : cdf[k] <= uu} (the cdf is non-decreasing)."""
    last = width - 1
    while last > 0 and not p[r, last] > 0.0:
        last -= 1
    c = 0.0
    a = 0
    for k in range(last):
        c += p[r, k]
        a += c <= uu
    return a


@njit(inline="always", cache=True)
def sample_group(prob_old, graph, s, u, off, U, G, seq0, walk, ti, cur):
    """Walk the G responses of prompt s from pi_old (sequence_ref.sample_response), response
    j with one uniform u[off + j U + pos] per position, and append their tokens to ti from
    column cur in (response, position) order. The responses are walked in lockstep, one
    position of each in turn: each token's step depends on the previous one's (a child
    lookup), and independent walks let those latencies overlap. Response j's tokens are
    written where they would be if every response were max_len long, then moved up over
    the gaps of shorter ones (ti has room for a full group after the kept ones). walk
    (5, G, max_len) holds (walk[3, j, 0]) each response's leaf and (walk[4, j, 0]) its
    current node, then its length. Returns the new cur."""
    node_row, node_width, node_fork = graph.node_row, graph.node_width, graph.node_fork
    root, slot = graph.root, graph.slot
    N = slot.shape[0]
    max_len = walk.shape[2]
    for j in range(G):
        walk[3, j, 0] = -1
        walk[4, j, 0] = root[s]  # the current node while walking
    for pos in range(max_len):
        for j in range(G):
            if walk[3, j, 0] >= 0:
                continue
            n = walk[4, j, 0]
            row = node_row[n]
            a = inverse_cdf(prob_old, row, node_width[n], u[off + j * U + pos])
            t = cur + j * max_len + pos
            ti[TI_ROW, t] = row
            ti[TI_TOK, t] = a
            ti[TI_SEQ, t] = seq0 + j
            ti[TI_POS, t] = pos
            ti[TI_FORK, t] = node_fork[n]
            c = slot[n, a]
            if c >= N:
                walk[3, j, 0] = c - N
                walk[4, j, 0] = pos + 1
            else:
                walk[4, j, 0] = c
    dst = cur
    for j in range(G):
        length = walk[4, j, 0]
        src = cur + j * max_len
        if src != dst:  # close the gap a shorter response left
            for r in (TI_ROW, TI_TOK, TI_SEQ, TI_POS, TI_FORK):
                for pos in range(length):
                    ti[r, dst + pos] = ti[r, src + pos]
        for pos in range(length):
            ti[TI_LEN, dst + pos] = length
        dst += length
    return dst


@njit(cache=True)
def sampled_tokens(run, u, prob_old, task, ws, walk):
    """Sample, reward and filter one step's groups (sequence_ref.sampled_tokens) into the
    sequence workspace ws, for the run's parameters run and its task (workspace.py). Returns
    n_groups. Each group is written after the kept ones and kept (the count advances) or
    overwritten; the batch arrays have P + 1 rows for that. bresp[0|1|2][j, i]: answer,
    length and format marker of response i of group j. stats: reward mean, zero-variance
    share and mean length of the first round. walk is sample_group's scratch, (5, G,
    max_len)."""
    fp, ip, sp = run.fp, run.ip, run.sp
    graph, leaves, max_len = task.graph, task.leaves, task.max_len
    leaf_len, leaf_format, leaf_det = leaves.leaf_len, leaves.leaf_format, leaves.leaf_det
    leaf_answer = leaves.leaf_answer
    correct, label = task.facts.correct, task.facts.label
    bprompt, bresp, brew, gstart = ws.batch.bprompt, ws.batch.bresp, ws.batch.brew, ws.batch.gstart
    order, counts, ti, stats = ws.batch.order, ws.batch.counts, ws.ti, ws.misc.stats
    S = ip[I_NTRAIN]
    P, G, rounds = ip[I_P], ip[I_G], ip[I_ROUNDS]
    L_sel, L_sample, L_reward, L_tie = ip[I_LSEL], ip[I_LSAMPLE], ip[I_LREWARD], ip[I_LTIE]
    rsize = L_sel + L_sample + L_reward + L_tie
    U = max_len + 1
    code, mode = ip[I_REW], ip[I_DS]
    bern = fp[F_RPARAM]
    votes, pays_format = ip[I_REW_VOTES] == 1, ip[I_REW_FORMAT] == 1
    needs_lik = REWARD_READS_LIKELIHOOD[code] == 1
    blik = ws.batch.blik
    cache = int(sp[SP_OVER_CACHE])
    factor = sp[SP_OVER_FACTOR]
    A = correct.shape[1]
    bans = bresp[0]
    n_kept = np.int64(0)  # not Literal[int] (step.step_run)
    cur = 0
    for rnd in range(rounds):
        base = rnd * rsize
        select_prompts(u, base, L_sel, S, P, order)
        n_inf = 0
        rsum = 0.0
        lsum = 0
        for i in range(P):
            s = order[i]
            row = n_kept
            gstart[row] = cur
            off = base + L_sel + i * G * U
            cur = sample_group(prob_old, graph, s, u, off, U, G, row * G, walk, ti, cur)
            for j in range(G):
                leaf = walk[3, j, 0]
                a = leaf_det[leaf]
                if a < 0:  # the environment's answer, inverse CDF of the leaf's distribution
                    a = inverse_cdf(leaf_answer, leaf, A, u[off + j * U + max_len])
                bans[row, j] = a
                bresp[1, row, j] = leaf_len[leaf]
                bresp[2, row, j] = leaf_format[leaf]
                lsum += leaf_len[leaf]
            if needs_lik:  # each response's per-token likelihood (sequence_ref.likelihood)
                k = gstart[row]
                for j in range(G):
                    n_tok = bresp[1, row, j]
                    ll = 0.0
                    for _pos in range(n_tok):
                        ll += math.log(prob_old[ti[TI_ROW, k], ti[TI_TOK, k]])
                        k += 1
                    blik[row, j] = math.exp(ll / n_tok) if n_tok > 0 else 1.0
            if pays_format:  # rewards.sequence_rewards: the response's format marker
                for j in range(G):
                    brew[row, j] = 1.0 if bresp[2, row, j] else 0.0
            else:
                winner = -1
                if votes:
                    winner = plurality(
                        bans, row, G, A, counts, u[base + L_sel + L_sample + L_reward + i]
                    )
                roff = base + L_sel + L_sample + i * G
                # the format answer (fmt) is the bandit's; 'format' is handled above
                group_rewards(
                    code, s, bans, row, G, correct, label, label, u, roff, bern, winner, blik, brew
                )
            if cache > 0:
                for j in range(G):
                    brew[row, j] = brew[row, j] + overlong(bresp[1, row, j], max_len, cache, factor)
            n_same = 0
            for j in range(G):
                rsum += brew[row, j]
                n_same += brew[row, j] == brew[row, 0]
            informative = n_same != G
            n_inf += informative
            if mode == DS_OFF or (informative and n_kept < P):
                bprompt[row] = s
                n_kept += 1
            else:
                cur = gstart[row]  # drop the group's tokens
        if rnd == 0:
            stats[0] = rsum / (P * G)
            stats[1] = 1.0 - n_inf / P
            stats[2] = lsum / (P * G)
        if mode != DS_RESAMPLE or n_kept == P:
            break
    gstart[n_kept] = cur
    return n_kept


@njit(cache=True)
def exact_tokens(run, u, prob_old, task, ws):
    """Every (state, token) pair of each chosen prompt, twice: the parts of its expected
    gradient with A = 1 - b and with A = -b, counting G reach(n) pi_old(v|n) Q(n,v) and
    G reach(n) pi_old(v|n) (1 - Q(n,v)) sampled tokens (sequence_ref.exact_tokens;
    theory/NOTES.md, "Exact sequence gradient"), into the sequence workspace ws. Returns
    n_groups (= P)."""
    fp, ip = run.fp, run.ip
    graph, leaves, max_len = task.graph, task.leaves, task.max_len
    node_row, node_width, node_depth = graph.node_row, graph.node_width, graph.node_depth
    node_fork, root, pn_ptr, pn_idx = graph.node_fork, graph.root, graph.pn_ptr, graph.pn_idx
    leaf_prompt, leaf_len = leaves.leaf_prompt, leaves.leaf_len
    dp = ws.dp
    reach, leaf_p, q, value, r_leaf = dp.reach, dp.leaf_p, dp.q, dp.value, dp.r_leaf
    bprompt, gstart, chosen = ws.batch.bprompt, ws.batch.gstart, ws.batch.chosen
    tf, ti, stats = ws.tf, ws.ti, ws.misc.stats
    S = ip[I_NTRAIN]
    P, G = ip[I_P], ip[I_G]
    V = q.shape[1]
    select_prompts(u, np.int64(0), ip[I_LSEL], S, P, bprompt)
    leaf_rewards(fp, leaves, max_len, np.int64(0), 0.0, r_leaf)
    forward_reach(prob_old, graph, dp.reach_ext)
    q_values(prob_old, r_leaf, graph, q, value)
    chosen[:] = False
    cur = 0
    tot, n_zero = 0.0, 0
    for j in range(P):
        s = bprompt[j]
        chosen[s] = True
        r0 = root[s]
        b = 0.0  # E_pi_old[r] of the prompt: V(root)
        for v in range(V):
            b += q[r0, v] * prob_old[node_row[r0], v]
        tot += b
        n_zero += b == 0.0 or b == 1.0
        gstart[j] = cur
        for idx in range(pn_ptr[s], pn_ptr[s + 1]):
            n = pn_idx[idx]
            row = node_row[n]
            for v in range(node_width[n]):
                expected = G * reach[n] * prob_old[row, v]
                for half in range(2):
                    ti[TI_ROW, cur] = row
                    ti[TI_TOK, cur] = v
                    ti[TI_SEQ, cur] = 0
                    ti[TI_POS, cur] = node_depth[n]
                    ti[TI_FORK, cur] = node_fork[n]
                    if half == 0:
                        tf[TF_ADV, cur] = 1.0 - b
                        tf[TF_COUNT, cur] = expected * q[n, v]
                    else:
                        tf[TF_ADV, cur] = -b
                        tf[TF_COUNT, cur] = expected * (1.0 - q[n, v])
                    cur += 1
    gstart[P] = cur
    length = 0.0
    for leaf in range(leaf_p.shape[0]):
        if chosen[leaf_prompt[leaf]]:
            length += leaf_p[leaf] * leaf_len[leaf]
    stats[0] = tot / P
    stats[1] = n_zero / P
    stats[2] = length / P
    return P
