"""Dynamic programming over a sequence task's graph (simrl/tasks/sequence.py) inside the
kernels: visit probabilities, Q values, expected leaf rewards, per-row visit-weighted Q.

Nodes are numbered in a topological order (every child has a larger index than its
parent), so a forward pass in index order sees a node's every parent before the node, and
a backward pass in reverse index order sees its every child first. A node's parents all
lie one position above it, so the contributions to reach(n) arrive in the order the
reference's depth-by-depth np.add.at adds them (ascending parent, then token): the same
sums, in the same order.

`graph` is the task's workspace.SeqGraph (node_row, node_width, node_prompt, node_depth,
node_fork, root, pn_ptr, pn_idx, slot, node_next) that simrl/engine/fast_sequence.py packs
(int32):
slot[n, v] is where token v of node n leads: its child node (< N), N + its leaf, or
N + L beyond the row's width (SequenceTask.child's NO_TOKEN); node_next[n] is the one
place every token of node n leads to (a state that does not fork), else -1.
"""

from __future__ import annotations

from numba import njit

from simrl.engine.kernels.codes import F_EW


@njit(cache=True)
def forward_reach(prob, graph, reach_ext):
    """reach_ext[:N]: the probability that a response of the node's prompt visits the
    node, and reach_ext[N : N + L]: the probability of each complete response (leaf),
    under the policy prob (M, V) (SequenceTask.node_reach and leaf_reach). Token v of node
    n flows into reach_ext[slot[n, v]], the sink N + L beyond the row's width, where pi = 0
    (so the loop has no branch)."""
    node_row, slot = graph.node_row, graph.slot
    start_reach(reach_ext, graph.root)
    for n in range(slot.shape[0]):
        flow(reach_ext, slot, prob, n, node_row[n], reach_ext[n])


@njit(inline="always", cache=True)
def start_reach(reach_ext, root):
    """Every response starts at its prompt's root."""
    reach_ext[:] = 0.0
    for s in range(root.shape[0]):
        reach_ext[root[s]] = 1.0


@njit(inline="always", cache=True)
def flow(reach_ext, slot, prob, n, row, r):
    """Node n (reached with probability r, parameter row `row`) passes r pi(v | n) on
    through each token v. Consecutive tokens that lead to the same place (a state that
    does not fork) are summed in a register and stored once: the same additions in the
    same order as one read-modify-write per token, without a chain through memory.

    eval_row_seq, which runs every step, checks node_next first and skips the lookups at
    a state with one place; that branch stays in its loop because inside this inlined
    function LLVM compiled the eval ~3x slower (measured), and forward_reach (dH breakdown and
    exact mode only) does without it."""
    c = slot[n, 0]
    acc = reach_ext[c] + r * prob[row, 0]
    for v in range(1, slot.shape[1]):
        cv = slot[n, v]
        x = r * prob[row, v]
        if cv == c:
            acc += x
        else:
            reach_ext[c] = acc
            c = cv
            acc = reach_ext[c] + x
    reach_ext[c] = acc


@njit(cache=True)
def q_values(prob, r_leaf, graph, q, value):
    """q (N, V): Q(n, v) = E[r | the response passes token v at node n] under prob, with
    r_leaf (L,) the expected reward of each leaf, 0 beyond a row's width; value (N,):
    V(n) = sum_v pi(v | n) Q(n, v) (SequenceTask.q_values, backward over the graph)."""
    node_row, slot = graph.node_row, graph.slot
    N, V = q.shape
    L = r_leaf.shape[0]
    for n in range(N - 1, -1, -1):
        row = node_row[n]
        val = 0.0
        for v in range(V):
            c = slot[n, v]
            if c < N:
                qv = value[c]
            elif c < N + L:
                qv = r_leaf[c - N]
            else:
                qv = 0.0
            q[n, v] = qv
            val += prob[row, v] * qv
        value[n] = val


@njit(cache=True)
def leaf_rewards(fp, leaves, max_len, cache, factor, out):
    """E[r | leaf] (L,) of the rewards that are a function of the response
    (tasks.sequence.leaf_expected_reward: the reward's expectation weights
    fp[F_EW:F_EW + 5], the same terms in the same order; NaN for self_consistency), plus
    DAPO's overlong penalty factor * min(0, ((max_len - cache) - |y|) / cache) when
    cache > 0 (rewards.overlong_penalty; Yu et al. 2025, arXiv 2503.14476, Eq. 13)."""
    leaf_len, leaf_format = leaves.leaf_len, leaves.leaf_format
    leaf_correct, leaf_label = leaves.leaf_correct, leaves.leaf_label
    wc, wnc, wl, wf, w1 = fp[F_EW], fp[F_EW + 1], fp[F_EW + 2], fp[F_EW + 3], fp[F_EW + 4]
    for l in range(out.shape[0]):
        c = leaf_correct[l]
        f = 1.0 if leaf_format[l] else 0.0
        r = wc * c + wnc * (1.0 - c) + wl * leaf_label[l] + wf * f + w1
        if cache > 0:
            r = r + overlong(leaf_len[l], max_len, cache, factor)
        out[l] = r


@njit(inline="always", cache=True)
def overlong(length, max_len, cache, factor):
    """DAPO's soft overlong penalty of a response of `length` tokens (cache > 0)."""
    return factor * min(0.0, ((max_len - cache) - length) / cache)


@njit(cache=True)
def row_q(q, reach, graph, n_train, qrow, wrow):
    """qrow (M, V): the visit-weighted mean of Q(n, v) over each parameter row's nodes on
    the training prompts (sequence_ref.row_advantages before centring; Cui et al.'s
    Theorem 1 for a state shared by several prompts); wrow (M,) the visit weights."""
    node_row, node_prompt = graph.node_row, graph.node_prompt
    N, V = q.shape
    qrow[:, :] = 0.0
    wrow[:] = 0.0
    for n in range(N):
        w = reach[n] if node_prompt[n] < n_train else 0.0
        row = node_row[n]
        wrow[row] += w
        for v in range(V):
            qrow[row, v] += w * q[n, v]
    for row in range(qrow.shape[0]):
        d = max(wrow[row], 1e-300)
        for v in range(V):
            qrow[row, v] /= d
