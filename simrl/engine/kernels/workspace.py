"""The kernels' named structures: what a kernel function takes and passes on, each a
named tuple whose fields are named here once (docs/architecture.md, "The kernels'
plumbing"). numba types a named tuple by its fields and resolves an attribute at compile
time, so reading `pol.z` costs what reading a positional argument did; a structure is
built once per run (run_chunk), never per step.

The batch-level structures (Params, Learner, BanditTask, SeqTasks, ChunkOut) are what
engine/fast.py and engine/fast_sequence.py hand to run_chunk, one leading axis over the
runs or the distinct tasks; `row_of(cls)` and `seq_task_row` select one run's or task's
row of each field (generated functions, as kernels/dispatch.py's). They are flat (named
tuples of arrays and scalars): numba's parallel loop cannot take a named tuple of named
tuples as an argument.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from simrl.algorithms.tokens import N_TI, TI_LEN, TI_SEQ

#: a run's parameter rows (engine/packing.py): floats, ints (codes and flags), the
#: sequence task's (fast_sequence.pack_sequence; empty for the bandit), the policy
#: loss's, advantage estimator's and optimiser's, and the controllers' and quadrant
#: split's flags, parameters and state (kernels/controllers.py pack_controls; empty
#: without them; written back after each chunk). (R, .) in run_chunk's arguments, one
#: run's private copy in the step kernels
Params = namedtuple("Params", ["fp", "ip", "sp", "lp", "ap", "op", "cp"])

#: what a run learns and keeps between steps: logits z, the KL reference's logits zref,
#: the optimiser's moments m, v and step count adam_t. (R, .) in run_chunk's arguments
Learner = namedtuple("Learner", ["z", "zref", "m", "v", "adam_t"])

#: one run's policy in the step kernels: its Learner's views (adam_t a (1,) view), and the
#: caches of log pi, pi, H of the policy and log pi, pi of the KL reference (softmax.py)
Policy = namedtuple(
    "Policy", ["z", "zref", "m", "v", "adam_t", "logp", "prob", "ent", "ref_logp", "ref_prob"]
)

#: what run_chunk writes: metric rows (R, rows, names), the update metrics summed since
#: the last recorded row and their counts (R, n_upd), each run's failing step (R,), and
#: the per-state dH breakdown (R, steps, S, 7), or (R, 0, S, 7)
ChunkOut = namedtuple("ChunkOut", ["metrics", "upd_sum", "upd_cnt", "failed", "pp"])

#: a bandit task's arrays (tasks/bandit.py), stacked over the batch's distinct tasks in
#: run_chunk's arguments: base log-probabilities (S, K), correct (S, K), format answer
#: (S,), incorrect label (S,), base top answer (S,)
BanditTask = namedtuple("BanditTask", ["base_logp", "correct", "fmt", "label", "top"])

#: the logits and cache of the states a step moved, at the step's start, by slot
#: (update.save_rows): z0, log pi_old, pi_old, H_old and each entry's entropy gradient
#: pi (log pi + H) (metrics.entropy_grad)
StepStart = namedtuple("StepStart", ["z0", "logp_old", "prob_old", "ent_old", "gh_old"])

#: a minibatch's gradient sums (update.apply_gradient): g (S, K), per state the sums of
#: the token coefficients csum and weights wsum (S,), touched flags (S,), and the
#: touched states in order of first touch (S,) (the sequence kernels: M + 1)
GradSums = namedtuple("GradSums", ["g", "csum", "wsum", "touched", "rows"])

#: copy on write of a step's starting values (update.save_rows): the slots, which states
#: are saved (flags), the state in each slot, and how many (1,)
Saves = namedtuple("Saves", ["old", "saved", "saved_rows", "n_saved"])

#: the bandit step's scratch (step.workspace, step.step_run)
BanditWorkspace = namedtuple(
    "BanditWorkspace",
    [
        "old",  # StepStart (S rows: the bandit saves every state, state s in slot s)
        "grad",  # GradSums
        "all_rows",  # (S,) the states a step may move (the bandit saves them all)
        "bprompt",  # (P + 1,) the batch's prompts
        "bans",  # (P + 1, n) answers
        "brew",  # (P + 1, n) rewards
        "bcount",  # (P + 1, n) 1 per sampled token; G pi_old(a) in exact mode
        "badv",  # (P + 1, n) advantages
        "order",  # (max(P, S),) prompt order
        "cdf",  # (K,)
        "counts",  # (K,)
        "tok",  # (N_TF, N) the float token table (simrl/algorithms/tokens.py)
        "ti",  # (N_TI, N) the int token table
        "flags",  # (N, 4) int8: clip low, high, dual, selected
        "stats",  # (2,) reward mean, zero-variance share
        "tally",  # (7,) counted, low, high, dual, selected, ppo_kl sum, minibatch updates
        "dh",  # (2,) exact dH, first order
        "aud",  # (4, S) the dH breakdown's sums (kernels/breakdown.py)
        "rbar",  # (S, K) E[r | a], filled by run_chunk for the dH breakdown or for ReMax
        "bgreedy",  # (P + 1,) each group's greedy response's reward (ReMax's baseline)
        "blik",  # (P + 1, n) the responses' likelihoods under pi_old (reads_likelihood)
        "quad",  # run.audit_quadrants' sums (kernels/quadrants.py; empty without it)
    ],
)

#: a sequence task's graph (fast_sequence.task_tuples), int32: per node its parameter
#: row, width, prompt, depth, forking flag; each prompt's root; each prompt's nodes
#: pn_idx[pn_ptr[s] : pn_ptr[s + 1]]; slot[n, v], where token v of node n leads; node_next
SeqGraph = namedtuple(
    "SeqGraph",
    [
        "node_row",
        "node_width",
        "node_prompt",
        "node_depth",
        "node_fork",
        "root",
        "pn_ptr",
        "pn_idx",
        "slot",
        "node_next",
    ],
)

#: a sequence task's complete responses (fast_sequence.task_tuples): per leaf its prompt,
#: length, format marker, mode, certain answer (-1), answer distribution, E[correct | leaf]
#: and P(incorrect label | leaf)
SeqLeaves = namedtuple(
    "SeqLeaves",
    [
        "leaf_prompt",
        "leaf_len",
        "leaf_format",
        "leaf_mode",
        "leaf_det",
        "leaf_answer",
        "leaf_correct",
        "leaf_label",
    ],
)

#: a sequence task's facts: correct (S, A), incorrect label (S,), base top mode (S,),
#: base log-probabilities (M, V)
SeqFacts = namedtuple("SeqFacts", ["correct", "label", "base_top", "base_logp"])

#: a sequence task as the step kernels read it
SeqTask = namedtuple("SeqTask", ["graph", "leaves", "facts", "max_len", "num_modes", "has_format"])

#: the batch's sequence tasks as run_chunk_seq takes them: every field of SeqGraph,
#: SeqLeaves and SeqFacts stacked over the distinct tasks, has_format (T,), and the
#: batch's max_len and num_modes. Flat, because numba's parallel loop cannot take a named
#: tuple of named tuples as an argument; seq_task_row builds one task's SeqTask from it
SeqTasks = namedtuple(
    "SeqTasks",
    [
        *SeqGraph._fields,
        *SeqLeaves._fields,
        *SeqFacts._fields,
        "has_format",
        "max_len",
        "num_modes",
    ],
)

#: the sequence step's batch arrays (seq_sampling)
SeqBatch = namedtuple(
    "SeqBatch",
    [
        "bprompt",  # (P + 1,)
        "bresp",  # (3, P + 1, G) answer, length, format marker
        "brew",  # (P + 1, G)
        "badv",  # (P + 1, G)
        "gstart",  # (P + 2,) group j's tokens are columns gstart[j] .. gstart[j + 1] - 1
        "order",  # (max(P, S),)
        "counts",  # (A,)
        "chosen",  # (S,) bool
        "blen",  # (P + 1, G) the responses' lengths (advantage estimators read them)
        "bgreedy",  # (P + 1,) the greedy responses' rewards (ReMax's baseline)
        "blik",  # (P + 1, G) the responses' likelihoods under pi_old (reads_likelihood)
    ],
)

#: the dynamic programme over a sequence task's graph (seq_graph): node reach (N,) and
#: leaf probabilities (L,), both views of reach_ext (N + L + 1; a sink last), Q (N, V),
#: V (N,), leaf rewards (L,)
SeqDP = namedtuple("SeqDP", ["reach", "leaf_p", "q", "value", "r_leaf", "reach_ext"])

#: the sequence eval's scratch (seq_metrics.eval_row_seq)
SeqEval = namedtuple(
    "SeqEval",
    [
        "p_acc",  # (S,)
        "p_label",  # (S,)
        "usage",  # (S, max(num_modes, 1))
        "hv",  # (N,)
        "wv",  # (N,)
        "depth_w",  # (max_len,)
        "depth_wh",  # (max_len,)
        "bucket",  # (N,)
        "bucket_w",  # (N_BUCKETS,)
        "work",  # (2, N)
        "sub",  # (N,) refine's buckets
        "sub_w",  # (N_BUCKETS,)
    ],
)

#: the sequence step's scratch (seq_step.seq_workspace): groups of arrays by role
SeqWorkspace = namedtuple(
    "SeqWorkspace", ["saves", "grad", "tf", "ti", "flags", "batch", "dp", "ev", "misc", "quad"]
)

#: the sequence step's per-step odds and ends (SeqWorkspace.misc)
SeqMisc = namedtuple(
    "SeqMisc",
    [
        "stats",  # (3,) reward mean, zero-variance share, mean length
        "tally",  # (10,): seq_update's 8, then the ppo_kl sum and the minibatch updates
        "dh",  # (2,)
        "aud",  # (4, M) the dH breakdown's sums (kernels/breakdown.py)
        "qrow",  # (M, V)
        "wrow",  # (M,)
        "kl_row",  # (M,) KL(pi_row || base_row), kept with the cache
    ],
)


def row_of(cls, copy: bool = False):
    """An njit function `(x, i) -> cls(x.f[i] for each field f)`: one run's or one task's
    row of a batch-level structure (each row copied with copy: a run's private parameter
    rows). Generated from cls's fields, so a new field needs no edit here."""
    tail = ".copy()" if copy else ""
    body = ", ".join(f"x.{f}[i]{tail}" for f in cls._fields)
    name = f"{cls.__name__.lower()}_row"
    scope = {"cls": cls}
    src = f"def {name}(x, i):\n    return cls({body})\n"
    exec(compile(src, f"<row_of {cls.__name__}>", "exec"), scope)
    return njit(inline="always")(scope[name])


def seq_task_selector():
    """An njit function `(x, i) -> SeqTask` of task i of a SeqTasks x, generated from the
    fields of SeqGraph, SeqLeaves and SeqFacts (as row_of)."""

    def part(cls):
        return f"{cls.__name__}(" + ", ".join(f"x.{f}[i]" for f in cls._fields) + ")"

    parts = ", ".join(part(c) for c in (SeqGraph, SeqLeaves, SeqFacts))
    src = (
        "def seq_task_row(x, i):\n"
        f"    return SeqTask({parts}, x.max_len, x.num_modes, x.has_format[i])\n"
    )
    scope = {c.__name__: c for c in (SeqTask, SeqGraph, SeqLeaves, SeqFacts)}
    exec(compile(src, "<seq_task_row>", "exec"), scope)
    return njit(inline="always")(scope["seq_task_row"])


#: one run's private parameter rows
params_row = row_of(Params, copy=True)
#: one task's arrays
bandit_task_row = row_of(BanditTask)
seq_task_row = seq_task_selector()


@njit(cache=True)
def reset_workspace(ws, S):
    """Return a workspace to the state `workspace` made it in, for the next run of the
    same sizes (step.run_chunk): every array that `workspace` fills is filled again (zeros; the
    ones of bcount; all_rows and the token index), the np.empty ones are left as they are
    (a step writes them before it reads them). Reusing a run's arrays this way, instead of
    allocating them afresh, saves the allocation and its first-touch page faults and
    changes no number."""
    grad = ws.grad
    grad.g[:, :] = 0.0
    grad.csum[:] = 0.0
    grad.wsum[:] = 0.0
    grad.touched[:] = False
    grad.rows[:] = 0
    for s in range(S):
        ws.all_rows[s] = s
    ws.bprompt[:] = 0
    ws.bans[:, :] = 0
    ws.brew[:, :] = 0.0
    ws.bcount[:, :] = 1.0
    ws.badv[:, :] = 0.0
    ws.order[:] = 0
    ws.cdf[:] = 0.0
    ws.counts[:] = 0
    ws.tok[:, :] = 0.0
    ti = ws.ti
    ti[:, :] = 0
    for t in range(ti.shape[1]):
        ti[TI_SEQ, t] = t
        ti[TI_LEN, t] = 1
    ws.flags[:, :] = 0
    ws.stats[:] = 0.0
    ws.tally[:] = 0.0
    ws.dh[:] = 0.0
    ws.aud[:, :] = 0.0
    ws.rbar[:, :] = 0.0
    ws.bgreedy[:] = 0.0
    ws.blik[:, :] = 0.0
    ws.quad.first[:, :] = 0.0
    ws.quad.dz[:, :, :] = 0.0
    ws.quad.csum[:, :] = 0.0


@njit(inline="always", cache=True)
def bandit_token_index(n):
    """The int token table of a bandit batch (algorithms/tokens.py): an answer is a
    length-1 response, so token t has response index t, position 0 and length 1 (the
    parameter row and token rows are not read by the bandit kernels)."""
    ti = np.zeros((N_TI, n), dtype=np.int32)
    for t in range(n):
        ti[TI_SEQ, t] = t
        ti[TI_LEN, t] = 1
    return ti
