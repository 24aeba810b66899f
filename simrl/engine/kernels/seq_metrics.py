"""Exact eval metrics of the cached policy on a sequence task
(metrics_sequence.sequence_eval_metrics), by dynamic programming over the task's graph."""

from __future__ import annotations

import numpy as np
from numba import njit

from simrl.engine.kernels.metrics import int_power
from simrl.engine.kernels.seq_graph import flow, start_reach
from simrl.engine.kernels.softmax import row_dot_diff
from simrl.metrics import ENTROPY_QUANTILES
from simrl.metrics_sequence import ENTROPY_THRESHOLDS
from simrl.metrics_sequence import TIE_TOL as SEQ_TIE_TOL

#: metrics_sequence.ENTROPY_THRESHOLDS and TIE_TOL (check_constants)
THRESHOLD_LO, THRESHOLD_HI = 0.5, 1.0
TIE_TOL = 1e-12
#: entropy quantiles (metrics.ENTROPY_QUANTILES)
Q10, Q50, Q90 = 0.1, 0.5, 0.9
#: buckets of the weighted-quantile search
N_BUCKETS = 256
#: entropy mean/q10/q50/q90, kl_base, 3 masses, gt05, gt10, mode state, length, response and
#: answer entropy
N_EVAL_SEQ_FIXED = 14


@njit(cache=True)
def eval_row_seq(
    prob, ent, kl_row, graph, leaves, facts, passk, n_train, num_modes, has_format, dp, ev, out,
    dist,
):  # fmt: skip
    """Exact eval metrics into out[: 2 + 2 len(passk) + 14 + num_modes + max_len], in the
    order of metrics_sequence.sequence_metric_names: accuracy and pass@k on the training
    prompts 0..n_train-1, then on the held-out rest (NaN if none), then the other metrics on
    the training prompts. A token of the entropy distribution comes from node n with weight
    reach(n) (metrics_sequence's module docstring). kl_row (M,) holds KL(pi_row || base_row)
    (base_kl, kept with the cache); dist (>= n_train, A) is answer_entropy's scratch."""
    node_row, node_width, node_prompt, node_depth, _, root, _, _, slot, node_next = graph
    (
        leaf_prompt,
        leaf_len,
        leaf_format,
        leaf_mode,
        leaf_det,
        leaf_answer,
        leaf_correct,
        leaf_label,
    ) = leaves
    base_top = facts[2]
    reach, leaf_p = dp[0], dp[1]
    p_acc, p_label, usage, hv, wv, depth_w, depth_wh = (
        ev[0],
        ev[1],
        ev[2],
        ev[3],
        ev[4],
        ev[5],
        ev[6],
    )
    S = root.shape[0]
    max_len = depth_w.shape[0]
    # one forward pass: each node's reach is final when its turn comes (its parents come
    # first), so its share of the token-entropy distribution is added there
    reach_ext = dp[5]
    start_reach(reach_ext, root)
    depth_w[:] = 0.0
    depth_wh[:] = 0.0
    sw = swh = above_lo = above_hi = kl = 0.0
    h_min, h_max = np.inf, -np.inf
    n_tr = np.int64(0)  # not Literal[int] (step.step_run)
    # the running sums of the current depth live in registers (nodes come depth by depth
    # in the built-in family), and are stored when the depth changes: the same additions
    # in the same order as depth_w[d] += w for every node
    d_cur = 0
    dw, dwh = depth_w[0], depth_wh[0]
    for n in range(reach.shape[0]):
        w = reach_ext[n]
        row = node_row[n]
        c = node_next[n]
        if c >= 0:  # every token leads to c: seq_graph.flow's additions, no lookups
            acc = reach_ext[c]
            for v in range(node_width[n]):
                acc += w * prob[row, v]
            reach_ext[c] = acc
        else:
            flow(reach_ext, slot, prob, n, row, w)
        if node_prompt[n] >= n_train:
            continue
        h = ent[row]
        hv[n_tr] = h
        wv[n_tr] = w
        n_tr += 1
        h_min = min(h_min, h)
        h_max = max(h_max, h)
        sw += w
        swh += w * h
        above_lo += w if h > THRESHOLD_LO + TIE_TOL else 0.0  # w >= 0: adding +0 is exact
        above_hi += w if h > THRESHOLD_HI + TIE_TOL else 0.0
        kl += w * kl_row[row]
        d = node_depth[n]
        if d != d_cur:
            depth_w[d_cur] = dw
            depth_wh[d_cur] = dwh
            d_cur = d
            dw, dwh = depth_w[d], depth_wh[d]
        dw += w
        dwh += w * h
    depth_w[d_cur] = dw
    depth_wh[d_cur] = dwh
    p_acc[:] = 0.0
    p_label[:] = 0.0
    usage[:, :] = 0.0
    length = fmt = 0.0
    # as the depth sums above: the running sums of the current prompt (and of the current
    # prompt and mode) live in registers while consecutive leaves share them (leaves come
    # prompt by prompt), the same additions in the same order
    s_cur, s_use, m_use = 0, 0, 0
    acc, lab, use = p_acc[0], p_label[0], usage[0, 0]
    for leaf in range(leaf_p.shape[0]):
        p = leaf_p[leaf]
        s = leaf_prompt[leaf]
        if s != s_cur:
            p_acc[s_cur] = acc
            p_label[s_cur] = lab
            s_cur = s
            acc, lab = p_acc[s], p_label[s]
        acc += p * leaf_correct[leaf]  # (S,) sum_a P(answer a) correct(a)
        lab += p * leaf_label[leaf]  # P(answer = the incorrect label)
        mode = leaf_mode[leaf]
        if mode >= 0:
            if s != s_use or mode != m_use:
                usage[s_use, m_use] = use
                s_use, m_use = s, mode
                use = usage[s, mode]
            use += p
        if s < n_train:
            length += p * leaf_len[leaf]
            fmt += p * leaf_format[leaf]
    p_acc[s_cur] = acc
    p_label[s_cur] = lab
    usage[s_use, m_use] = use
    npk = passk.shape[0]
    for i in range(2 + 2 * npk):
        out[i] = 0.0
    for s in range(S):
        c0 = 1 + npk if s >= n_train else 0  # column of this prompt's set
        out[c0] += p_acc[s]
        for i in range(npk):  # responses are independent: pass@k = 1 - (1 - acc)^k
            out[c0 + 1 + i] += 1.0 - int_power(1.0 - p_acc[s], passk[i])
    n_held = S - n_train
    for i in range(1 + npk):
        out[i] /= n_train
        out[1 + npk + i] = out[1 + npk + i] / n_held if n_held > 0 else np.nan
    c = 2 + 2 * npk
    out[c] = swh / sw
    weighted_quantiles(
        hv, wv, n_tr, h_min, h_max, ev[7], ev[8], ev[9], ev[10], ev[11], out[c + 1 : c + 4]
    )
    out[c + 4] = kl / n_train
    out[c + 5] = fmt / n_train if has_format else np.nan
    mass_label = mass_top = mode_state = 0.0
    for s in range(n_train):
        mass_label += p_label[s]
        if num_modes > 0:
            mass_top += usage[s, base_top[s]]
        mode_state += ent[node_row[root[s]]]
    out[c + 6] = mass_label / n_train
    out[c + 7] = mass_top / n_train if num_modes > 0 else np.nan
    out[c + 8] = above_lo / sw
    out[c + 9] = above_hi / sw
    out[c + 10] = mode_state / n_train
    out[c + 11] = length / n_train
    # the entropy of whole responses: sum_n reach(n) H(n) per prompt (metrics_sequence)
    out[c + 12] = swh / n_train
    out[c + 13] = answer_entropy(leaf_p, leaf_prompt, leaf_det, leaf_answer, n_train, dist)
    c += N_EVAL_SEQ_FIXED
    for m in range(num_modes):
        tot = 0.0
        for s in range(n_train):
            tot += usage[s, m]
        out[c + m] = tot / n_train
    c += num_modes
    for d in range(max_len):
        out[c + d] = depth_wh[d] / depth_w[d] if depth_w[d] > 0 else np.nan


@njit(cache=True)
def answer_entropy(leaf_p, leaf_prompt, leaf_det, leaf_answer, n_train, dist):
    """Mean over the training prompts of the entropy of the final answer's distribution,
    sum over a prompt's leaves of P(leaf) P(answer | leaf) (metrics_sequence's
    task.answer_dist), 0 log 0 = 0. A leaf whose answer is certain (leaf_det >= 0: every
    leaf when the policy writes the answer) adds P(leaf) to that answer alone, which is
    what the dense row adds (p * 1 and p * 0, exactly) at 1 / A of the work."""
    A = leaf_answer.shape[1]
    dist[:n_train, :] = 0.0  # the run's buffer (seq_apply.SeqFuse.dist), not a new one
    for leaf in range(leaf_p.shape[0]):
        s = leaf_prompt[leaf]
        if s < n_train:
            p = leaf_p[leaf]
            d = leaf_det[leaf]
            if d >= 0:
                dist[s, d] += p
            else:
                for a in range(A):
                    dist[s, a] += p * leaf_answer[leaf, a]
    tot = 0.0
    for s in range(n_train):
        for a in range(A):
            q = dist[s, a]
            if q > 0.0:
                tot -= q * np.log(q)
    return tot / n_train


@njit(cache=True)
def base_kl(prob, logp, base_logp, rows, n_rows, every, kl_row):
    """kl_row[s] = KL(pi_s || base_s) = sum_k pi log(pi / base) (metrics_sequence's kl_row)
    for the rows rows[:n_rows] an update refreshed, or every row with every."""
    for i in range(kl_row.shape[0] if every else n_rows):
        s = i if every else rows[i]
        kl_row[s] = row_dot_diff(prob, logp, base_logp, s)


@njit(cache=True)
def weighted_quantiles(values, weights, n, lo, hi, bucket, bucket_w, work, sub, sub_w, out):
    """out[i] = metrics_sequence.weighted_quantile(values[:n], weights[:n], q_i) for
    q = 0.1, 0.5, 0.9: the smallest value whose cumulative weight in ascending order
    reaches q of the total (the largest value if rounding leaves it short); the values
    lie in [lo, hi]. bucket, bucket_w, work, sub and sub_w are scratch (refine's: sub and
    sub_w).

    Without a sort: values go to N_BUCKETS buckets by a monotone map of [lo, hi], the
    bucket where the cumulative weight crosses q is found from the bucket totals, and the
    value inside it by refine. "Reaches" is within the relative TIE_TOL of
    metrics_sequence."""
    total = bucket_pass(values, weights, n, lo, hi, bucket, bucket_w)
    b = 0
    below = 0.0
    for i in range(3):
        target = (Q10, Q50, Q90)[i] * total * (1.0 - TIE_TOL)
        b, below = crossing(bucket_w, b, below, target)
        m = np.int64(0)  # not Literal[int] (step.step_run)
        v_min, v_max = np.inf, -np.inf
        for j in range(n):
            if bucket[j] == b:
                work[0, m] = values[j]
                work[1, m] = weights[j]
                v_min = min(v_min, values[j])
                v_max = max(v_max, values[j])
                m += 1
        out[i] = refine(work, m, v_min, v_max, below, target, sub, sub_w)


@njit(inline="always", cache=True)
def bucket_pass(values, weights, n, lo, hi, bucket, bucket_w):
    """Bucket of each value (a monotone map of [lo, hi] onto 0..N_BUCKETS-1; everything in
    bucket 0 when hi = lo) and the buckets' total weights. Returns the total weight."""
    scale = N_BUCKETS / (hi - lo) if hi > lo else 0.0
    bucket_w[:] = 0.0
    total = 0.0
    # consecutive values mostly share a bucket (neighbouring states): its running total
    # lives in a register until the bucket changes, the same additions in the same order
    b_cur, acc = 0, 0.0
    for i in range(n):
        b = min(max(int((values[i] - lo) * scale), 0), N_BUCKETS - 1)
        bucket[i] = b
        if b != b_cur:
            bucket_w[b_cur] = acc
            b_cur = b
            acc = bucket_w[b]
        acc += weights[i]
        total += weights[i]
    bucket_w[b_cur] = acc
    return total


@njit(inline="always", cache=True)
def crossing(bucket_w, b, below, target):
    """From bucket b on (below: the weight before it), the bucket where the cumulative
    weight reaches target: never an empty one (below < target there), or the last one,
    which holds the largest value, when rounding leaves the total short of the target.
    Returns (bucket, the weight before it)."""
    while b < N_BUCKETS - 1 and below + bucket_w[b] < target:
        below += bucket_w[b]
        b += 1
    return b, below


@njit(cache=True)
def refine(work, m, lo, hi, below, target, bucket, bucket_w):
    """The quantile among the m values (and weights) of work, in [lo, hi], with `below`
    the weight of the smaller values outside: values that agree within TIE_TOL (identical
    states of different prompts, differing by rounding) answer with their smallest, which
    is then within TIE_TOL of the answer; few values by select_weighted; many by bucketing
    them again and keeping the crossing bucket's (in place)."""
    while True:
        if hi - lo <= TIE_TOL:
            return lo
        if m <= 32:
            return select_weighted(work, m, below, target)
        bucket_pass(work[0], work[1], m, lo, hi, bucket, bucket_w)
        b, below = crossing(bucket_w, 0, below, target)
        k = 0
        lo, hi = np.inf, -np.inf
        for j in range(m):
            if bucket[j] == b:
                x = work[0, j]
                work[0, k] = x
                work[1, k] = work[1, j]
                lo = min(lo, x)
                hi = max(hi, x)
                k += 1
        m = k


@njit(cache=True)
def select_weighted(work, m, below, target):
    """The smallest value v among work[0, :m] with below + (weight of the values <= v) >=
    target, or the largest value if none: quickselect with a three-way partition, so that
    equal values cost one pass."""
    vals, ws = work[0], work[1]
    lo, hi = 0, m
    while True:
        pivot = vals[(lo + hi) // 2]
        lt, i, gt = lo, lo, hi
        w_lt = w_eq = 0.0
        while i < gt:
            x = vals[i]
            if x < pivot:
                vals[i], vals[lt] = vals[lt], x
                ws[i], ws[lt] = ws[lt], ws[i]
                w_lt += ws[lt]
                lt += 1
                i += 1
            elif x > pivot:
                gt -= 1
                vals[i], vals[gt] = vals[gt], x
                ws[i], ws[gt] = ws[gt], ws[i]
            else:
                w_eq += ws[i]
                i += 1
        if lt > lo and below + w_lt >= target:
            hi = lt
        elif below + w_lt + w_eq >= target or gt == hi:
            return pivot
        else:
            below += w_lt + w_eq
            lo = gt


def check_constants() -> None:
    """The literal constants here agree with metrics_sequence and metrics (checked at import)."""
    assert (THRESHOLD_LO, THRESHOLD_HI) == ENTROPY_THRESHOLDS and TIE_TOL == SEQ_TIE_TOL
    assert (Q10, Q50, Q90) == ENTROPY_QUANTILES


check_constants()
