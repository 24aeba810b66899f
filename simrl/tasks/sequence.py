"""Sequence tasks: token sequences generated over a finite graph of tabular states.

A response to prompt s starts at the prompt's root state; at each state the policy
samples a token from its softmax; the token leads to the next state or ends the
response at a leaf. A leaf is a complete response: its length, whether it carries the
format token, its reasoning mode, and a distribution over the final answer (one-hot when
the answer is a policy token; the environment's outcome distribution otherwise, e.g.
running the code the response wrote). Every state is a function of (prompt, prefix), and
the graph is finite and acyclic, so every quantity of the policy (accuracy, pass@k, the
entropy of every state, the probability of every leaf) is computed exactly by dynamic
programming over the graph (`node_reach`, `leaf_reach`), never by sampling.

States and parameters are separate: each state (node) reads the logits of one parameter
row, and several states may share a row. The built-in family shares the mode-choice row
between every prompt (`task.share_mode_state`), which is how a habit of the whole model
(write code, answer directly) is shared across prompts: an update on one prompt moves
all of them. A per-prompt row cannot carry anything to another prompt.

Users define their own graph with `GraphBuilder` (see its docstring and
examples/custom_sequence.py); the built-in reasoning family (simrl/tasks/reasoning.py,
`build_sequence`) is one instance of the same interface.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from simrl.errors import ConfigError
from simrl.rewards import affine_expectation, expectation_weights
from simrl.theory import log_softmax

#: `child` entry of a token a state does not have (beyond its row's width)
NO_TOKEN = np.iinfo(np.int64).min
#: the logit of a token a row does not have: finite, so that every formula of theory/
#: works on whole rows unchanged, and so low that its probability is exactly 0
PAD_LOGIT = -1e30


@dataclass(frozen=True)
class SequenceTask:
    """A finite acyclic graph of tabular states per prompt; see the module docstring.

    Nodes are numbered so that every child has a larger index than its parent (a
    topological order); leaves are numbered separately. `child[n, v]` is the node token v
    leads to from node n, or -(leaf + 1) when it ends the response, or NO_TOKEN when the
    state has no token v (v >= row_width[node_row[n]]).
    """

    base_logits: np.ndarray  # (M, V) log base probabilities per row, PAD_LOGIT beyond width
    row_width: np.ndarray  # (M,) tokens of each row
    node_row: np.ndarray  # (N,) parameter row of each state
    node_prompt: np.ndarray  # (N,)
    node_depth: np.ndarray  # (N,) position of the token emitted at the state (0-based)
    node_fork: np.ndarray  # (N,) bool: a forking state (reported as such in the metrics)
    child: np.ndarray  # (N, V) int64
    root: np.ndarray  # (S,) root state of each prompt
    leaf_prompt: np.ndarray  # (L,)
    leaf_answer: np.ndarray  # (L, A) distribution of the final answer given the response
    leaf_format: np.ndarray  # (L,) bool: the response carries the format marker
    leaf_len: np.ndarray  # (L,) tokens in the response
    leaf_mode: np.ndarray  # (L,) reasoning mode of the response, -1 if the task has none
    correct: np.ndarray  # (S, A) bool: the correct answer values of each prompt
    incorrect_label: np.ndarray  # (S,) the base policy's most likely wrong answer
    base_top_mode: np.ndarray  # (S,) the base policy's most likely mode (-1: no modes)
    num_modes: int
    name: str = "custom"

    # ---- shapes -----------------------------------------------------------------------
    @property
    def num_prompts(self) -> int:
        return self.root.shape[0]

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, width): the shape of the logits."""
        return self.base_logits.shape

    @property
    def num_nodes(self) -> int:
        return self.node_row.shape[0]

    @property
    def num_answers(self) -> int:
        return self.correct.shape[1]

    @property
    def max_len(self) -> int:
        return int(self.leaf_len.max())

    @property
    def deterministic_answers(self) -> bool:
        """Every leaf has one answer (policy-token answers): no answer uniform is drawn."""
        return bool((self.leaf_answer.max(axis=1) == 1.0).all())

    def shape_key(self) -> tuple:
        """What runs batched together must share."""
        return (
            self.shape, self.num_nodes, self.leaf_prompt.shape[0], self.num_prompts,
            self.num_answers, self.max_len, self.num_modes,
        )  # fmt: skip

    # ---- exact dynamic programming ----------------------------------------------------
    def probs(self, logits: np.ndarray) -> np.ndarray:
        """Row softmax (M, V); exactly 0 beyond each row's width (PAD_LOGIT there)."""
        return np.exp(self.log_probs(logits))

    def log_probs(self, logits: np.ndarray) -> np.ndarray:
        """Row log-softmax (M, V); about PAD_LOGIT beyond each row's width."""
        return log_softmax(logits)

    def node_reach(self, pi: np.ndarray) -> np.ndarray:
        """(N,) probability that a response of the node's prompt visits the node."""
        reach = np.zeros(self.num_nodes)
        reach[self.root] = 1.0
        for d in range(self.max_len):  # a state's children are one position deeper
            nodes = np.flatnonzero(self.node_depth == d)
            c = self.child[nodes]
            inner = c >= 0
            flow = reach[nodes, None] * pi[self.node_row[nodes]]
            np.add.at(reach, c[inner], flow[inner])
        return reach

    def leaf_reach(self, pi: np.ndarray, reach: np.ndarray | None = None) -> np.ndarray:
        """(L,) probability of each complete response (leaf)."""
        reach = self.node_reach(pi) if reach is None else reach
        ends = (self.child < 0) & (self.child != NO_TOKEN)
        nodes, tokens = np.nonzero(ends)
        out = np.zeros(self.leaf_prompt.shape[0])
        np.add.at(
            out,
            -self.child[nodes, tokens] - 1,
            reach[nodes] * pi[self.node_row[nodes], tokens],
        )
        return out

    def answer_dist(self, leaf_p: np.ndarray) -> np.ndarray:
        """(S, A) distribution of each prompt's final answer."""
        out = np.zeros((self.num_prompts, self.num_answers))
        np.add.at(out, self.leaf_prompt, leaf_p[:, None] * self.leaf_answer)
        return out

    def q_values(self, pi: np.ndarray, r_leaf: np.ndarray) -> np.ndarray:
        """(N, V) Q(n, v) = E[r | the response passes token v at state n] under pi, with
        r_leaf (L,) the expected reward of each leaf; 0 beyond a row's width. Backward
        dynamic programming over positions; V(n) = sum_v pi(v | n) Q(n, v)."""
        q = np.zeros(self.child.shape)
        value = np.zeros(self.num_nodes)
        ends = (self.child < 0) & (self.child != NO_TOKEN)
        q[ends] = r_leaf[-self.child[ends] - 1]
        for d in range(self.max_len - 1, -1, -1):
            nodes = np.flatnonzero(self.node_depth == d)
            c = self.child[nodes]
            inner = c >= 0
            qn = q[nodes]
            qn[inner] = value[c[inner]]
            q[nodes] = qn
            value[nodes] = (pi[self.node_row[nodes]] * qn).sum(axis=1)
        return q

    def validate(self) -> SequenceTask:
        """Check the graph's invariants; raise ConfigError naming the first violation."""
        N, V = self.child.shape
        M = self.base_logits.shape[0]

        def bad(field: str, value: object, allowed: str) -> None:
            raise ConfigError(f"sequence task {field}", value, allowed)

        if not ((self.row_width >= 1) & (self.row_width <= V)).all():
            bad("row_width", self.row_width.tolist(), f"must be in 1..{V}")
        if not ((self.node_row >= 0) & (self.node_row < M)).all():
            bad("node_row", self.node_row.tolist(), f"must index the {M} parameter rows")
        width = self.row_width[self.node_row]
        has = np.arange(V)[None, :] < width[:, None]
        if (self.child[~has] != NO_TOKEN).any() or (self.child[has] == NO_TOKEN).any():
            bad("child", "tokens", "must be NO_TOKEN exactly beyond each row's width")
        inner = has & (self.child >= 0)
        rows = np.broadcast_to(np.arange(N)[:, None], (N, V))
        if (self.child[inner] <= rows[inner]).any() or (self.child[inner] >= N).any():
            bad("child", "order", "children must have larger indices than their parents (< N)")
        L = self.leaf_prompt.shape[0]
        leaves = -self.child[has & (self.child < 0)] - 1
        if (leaves >= L).any():
            bad("child", "leaf", f"leaf indices must be < {L}")
        if not np.allclose(self.leaf_answer.sum(axis=1), 1.0) or (self.leaf_answer < 0).any():
            bad("leaf_answer", "rows", "each leaf's answer distribution must sum to 1")
        own = np.arange(V)[None, :] < self.row_width[:, None]
        if (
            not np.isfinite(self.base_logits[own]).all()
            or (self.base_logits[~own] != PAD_LOGIT).any()
        ):
            bad("base_logits", "values", "must be finite on a row's tokens, PAD_LOGIT beyond")
        return self


def leaf_expected_reward(task: SequenceTask, kind: str, *, p: float, flip: float) -> np.ndarray:
    """(L,) E[r | leaf] for the rewards that are a function of the response: true,
    random, incorrect, format, noisy (rewards.EXPECTATION_WEIGHTS); NaN for
    self_consistency (it depends on the group) and frozen (no update)."""
    correct = (task.leaf_answer * task.correct[task.leaf_prompt]).sum(axis=1)
    label = task.leaf_answer[np.arange(correct.size), task.incorrect_label[task.leaf_prompt]]
    return affine_expectation(
        expectation_weights(kind, p=p, flip=flip),
        correct,
        label,
        task.leaf_format.astype(float),
    )


class GraphBuilder:
    """Define a sequence task by its states and transitions.

        g = GraphBuilder(num_prompts=2, num_answers=3)
        for s in range(2):
            root = g.state(s, [0.7, 0.3], row="habit")  # one row shared by both prompts
            a = g.leaf(s, answer=0)  # the response "0" answers 0
            b = g.state(s, [0.5, 0.5])  # after token 1, a second choice ...
            g.connect(root, 0, a)
            g.connect(root, 1, b)
            g.connect(b, 0, g.leaf(s, answer=1))
            g.connect(b, 1, g.leaf(s, answer={0: 0.6, 2: 0.4}))  # the environment decides
            g.root(s, root)
        task = g.build(correct=[0, 0])  # answer 0 is correct for both prompts

    States with the same `row` key share one parameter row (their base probabilities must
    agree); by default every state has its own row. `fork=True` marks a forking state for
    the metrics. A leaf's answer is a value or a {value: probability} distribution; `mode`
    tags it with a reasoning mode for the mode-usage metrics.
    """

    def __init__(self, num_prompts: int, num_answers: int, num_modes: int = 0):
        self.S, self.A, self.num_modes = num_prompts, num_answers, num_modes
        self._probs: list[np.ndarray] = []
        self._row_key: list[object] = []
        self._prompt: list[int] = []
        self._fork: list[bool] = []
        self._edges: dict[tuple[int, int], tuple[str, int]] = {}
        self._leaves: list[tuple[int, np.ndarray, bool, int]] = []
        self._roots: dict[int, int] = {}

    def state(self, prompt: int, probs, row: object = None, fork: bool = False) -> int:
        p = np.asarray(probs, dtype=float)
        if p.ndim != 1 or p.size < 1 or (p <= 0).any() or not np.isclose(p.sum(), 1.0):
            raise ConfigError("state probs", list(p), "must be positive and sum to 1")
        self._check_prompt(prompt)
        self._probs.append(p / p.sum())
        self._row_key.append(("own", len(self._probs)) if row is None else ("key", row))
        self._prompt.append(prompt)
        self._fork.append(fork)
        return len(self._probs) - 1

    def leaf(self, prompt: int, answer, format: bool = False, mode: int = -1) -> int:
        self._check_prompt(prompt)
        dist = np.zeros(self.A)
        items = answer.items() if isinstance(answer, dict) else [(answer, 1.0)]
        for a, p in items:
            if not (0 <= int(a) < self.A):
                raise ConfigError("leaf answer", a, f"must be in 0..{self.A - 1}")
            dist[int(a)] += p
        if (dist < 0).any() or not np.isclose(dist.sum(), 1.0):
            raise ConfigError("leaf answer", answer, "probabilities must sum to 1")
        if not (-1 <= mode < max(self.num_modes, 0)):
            raise ConfigError("leaf mode", mode, f"must be -1 or in 0..{self.num_modes - 1}")
        self._leaves.append((prompt, dist, bool(format), int(mode)))
        return len(self._leaves) - 1

    def connect(self, node: int, token: int, target: int, leaf: bool | None = None) -> None:
        """Token `token` at state `node` leads to state `target`; with leaf=True (or when
        target was returned by `leaf`, see `connect_leaf`) it ends the response."""
        if not (0 <= token < self._probs[node].size):
            raise ConfigError("token", token, f"must be in 0..{self._probs[node].size - 1}")
        self._edges[(node, token)] = ("leaf" if leaf else "node", target)

    def connect_leaf(self, node: int, token: int, leaf: int) -> None:
        self.connect(node, token, leaf, leaf=True)

    def link(self, node: int, token: int, target: tuple[str, int]) -> None:
        """connect to ("node", id) or ("leaf", id)."""
        self.connect(node, token, target[1], leaf=target[0] == "leaf")

    def root(self, prompt: int, node: int) -> None:
        self._roots[prompt] = node

    def _check_prompt(self, prompt: int) -> None:
        if not (0 <= prompt < self.S):
            raise ConfigError("prompt", prompt, f"must be in 0..{self.S - 1}")

    def build(self, correct, name: str = "custom") -> SequenceTask:
        """`correct`: per prompt the correct answer value (or a list of values)."""
        S, A = self.S, self.A
        if set(self._roots) != set(range(S)):
            raise ConfigError("roots", sorted(self._roots), f"every prompt 0..{S - 1} needs one")
        n_states = len(self._probs)
        # depth by breadth-first walk from the roots; states must have one depth
        depth = np.full(n_states, -1)
        order: list[int] = []
        frontier = [self._roots[s] for s in range(S)]
        for r in frontier:
            depth[r] = 0
        indeg = np.zeros(n_states, dtype=int)
        for kind, target in self._edges.values():
            if kind == "node":
                indeg[target] += 1
        queue = [r for r in frontier if indeg[r] == 0]
        if len(queue) != len(set(frontier)):
            raise ConfigError("roots", frontier, "a root state must not be entered by a token")
        queue = list(dict.fromkeys(queue))
        seen_leaf_len: dict[int, int] = {}
        while queue:
            n = queue.pop(0)
            order.append(n)
            for tok in range(self._probs[n].size):
                if (n, tok) not in self._edges:
                    raise ConfigError("state", n, f"token {tok} leads nowhere: connect it")
                kind, target = self._edges[(n, tok)]
                if kind == "leaf":
                    length = depth[n] + 1
                    if seen_leaf_len.setdefault(target, length) != length:
                        raise ConfigError("leaf", target, "is reached at two different lengths")
                    continue
                if self._prompt[target] != self._prompt[n]:
                    raise ConfigError("state", target, "is reached from another prompt's state")
                if depth[target] not in (-1, depth[n] + 1):
                    raise ConfigError("state", target, "is reached at two different positions")
                depth[target] = depth[n] + 1
                indeg[target] -= 1
                if indeg[target] == 0:
                    queue.append(target)
        if len(order) != n_states:
            raise ConfigError("states", n_states - len(order), "unreachable or cyclic states")
        if len(seen_leaf_len) != len(self._leaves):
            raise ConfigError("leaves", len(self._leaves), "every leaf must be reachable")
        new = np.empty(n_states, dtype=np.int64)
        new[order] = np.arange(n_states)
        # parameter rows
        keys: dict[object, int] = {}
        row_probs: list[np.ndarray] = []
        node_row = np.empty(n_states, dtype=np.int64)
        for old in order:
            key = self._row_key[old]
            if key not in keys:
                keys[key] = len(row_probs)
                row_probs.append(self._probs[old])
            elif not (
                row_probs[keys[key]].shape == self._probs[old].shape
                and np.allclose(row_probs[keys[key]], self._probs[old])
            ):
                raise ConfigError("row", key[1], "states sharing a row need the same base probs")
            node_row[new[old]] = keys[key]
        V = max(p.size for p in row_probs)
        base = np.full((len(row_probs), V), PAD_LOGIT)
        width = np.array([p.size for p in row_probs], dtype=np.int64)
        for m, p in enumerate(row_probs):
            base[m, : p.size] = np.log(p)
        child = np.full((n_states, V), NO_TOKEN, dtype=np.int64)
        for (node, tok), (kind, target) in self._edges.items():
            child[new[node], tok] = -(target + 1) if kind == "leaf" else new[target]
        L = len(self._leaves)
        leaf_len = np.array([seen_leaf_len[i] for i in range(L)], dtype=np.int64)
        correct_mask = np.zeros((S, A), dtype=bool)
        for s, c in enumerate(correct):
            correct_mask[s, np.atleast_1d(c)] = True
        if correct_mask.all(axis=1).any() or not correct_mask.any(axis=1).all():
            raise ConfigError(
                "correct", list(correct), "each prompt needs a correct and a wrong answer"
            )
        task = SequenceTask(
            base_logits=base,
            row_width=width,
            node_row=node_row,
            node_prompt=np.array(self._prompt, dtype=np.int64)[order],
            node_depth=depth[order].astype(np.int64),
            node_fork=np.array(self._fork, dtype=bool)[order],
            child=child,
            root=new[[self._roots[s] for s in range(S)]],
            leaf_prompt=np.array([lf[0] for lf in self._leaves], dtype=np.int64),
            leaf_answer=np.array([lf[1] for lf in self._leaves]).reshape(L, A),
            leaf_format=np.array([lf[2] for lf in self._leaves], dtype=bool),
            leaf_len=leaf_len,
            leaf_mode=np.array([lf[3] for lf in self._leaves], dtype=np.int64),
            correct=correct_mask,
            incorrect_label=np.zeros(S, dtype=np.int64),
            base_top_mode=np.full(S, -1, dtype=np.int64),
            num_modes=self.num_modes,
            name=name,
        )
        return with_base_facts(task.validate())


#: cap on the states graph_from_functions enumerates (a guard against an exploding prefix tree)
MAX_STATES = 200_000


def graph_from_functions(
    num_prompts: int,
    num_answers: int,
    next_probs,
    verify,
    correct,
    *,
    state_key=None,
    row_key=None,
    is_fork=None,
    has_format=None,
    mode_of=None,
    num_modes: int = 0,
    name: str = "custom",
) -> SequenceTask:
    """A sequence task from Python functions of (prompt, prefix), prefix a tuple of tokens:

      next_probs(s, prefix) -> base probabilities of the next token, or None: the
                               response has ended;
      verify(s, prefix)     -> the final answer of a finished response: a value, or a
                               {value: probability} distribution (an environment);
      correct[s]            -> the correct answer value(s) of prompt s;
      state_key(s, prefix)  -> the state the prefix is in (default: the prefix itself, a
                               tree); prefixes with equal keys share one state, so
                               next_probs, verify, is_fork, has_format and mode_of must
                               depend on the prefix only through its key;
      row_key(s, prefix)    -> a parameter row shared across states and prompts, or None
                               for the state's own row (e.g. the mode choice of every
                               prompt: lambda s, p: "mode" if not p else None);
      is_fork, has_format, mode_of -> the metrics' forking states, format marker, mode.

    The graph is enumerated breadth-first from the empty prefix of every prompt (at most
    MAX_STATES states). Example: simrl/examples/custom_sequence.py.
    """
    key_of = state_key or (lambda s, prefix: prefix)
    g = GraphBuilder(num_prompts, num_answers, num_modes=num_modes)
    for s in range(num_prompts):
        nodes: dict = {}
        queue: list[tuple] = []

        def node_of(prefix: tuple, s: int = s, nodes: dict = nodes, queue: list = queue) -> int:
            key = key_of(s, prefix)
            if key not in nodes:
                if len(g._probs) >= MAX_STATES:
                    raise ConfigError("states", len(g._probs), f"must be <= {MAX_STATES}")
                probs = next_probs(s, prefix)
                row = row_key(s, prefix) if row_key else None
                fork = bool(is_fork(s, prefix)) if is_fork else False
                nodes[key] = g.state(s, probs, row=row, fork=fork)
                queue.append(prefix)
            return nodes[key]

        if next_probs(s, ()) is None:
            raise ConfigError("next_probs", "(prompt, ())", "a response needs at least one token")
        g.root(s, node_of(()))
        while queue:
            prefix = queue.pop(0)
            n = nodes[key_of(s, prefix)]
            for v in range(len(next_probs(s, prefix))):
                nxt = (*prefix, v)
                if next_probs(s, nxt) is None:
                    leaf = g.leaf(
                        s,
                        verify(s, nxt),
                        format=bool(has_format(s, nxt)) if has_format else False,
                        mode=int(mode_of(s, nxt)) if mode_of else -1,
                    )
                    g.connect_leaf(n, v, leaf)
                else:
                    g.connect(n, v, node_of(nxt))
    return g.build(correct, name=name)


def with_base_facts(task: SequenceTask) -> SequenceTask:
    """Fill incorrect_label (the base policy's most likely wrong answer; ties to the lowest
    value) and base_top_mode (the base policy's most likely mode) by exact DP."""
    pi = task.probs(task.base_logits)
    leaf_p = task.leaf_reach(pi)
    ans = task.answer_dist(leaf_p)
    label = np.argmax(np.where(task.correct, -1.0, ans), axis=1).astype(np.int64)
    top = np.full(task.num_prompts, -1, dtype=np.int64)
    if task.num_modes > 0:
        usage = mode_usage(task, leaf_p)
        top = np.argmax(usage, axis=1).astype(np.int64)
    return replace(task, incorrect_label=label, base_top_mode=top)


def mode_usage(task: SequenceTask, leaf_p: np.ndarray) -> np.ndarray:
    """(S, num_modes) probability of each mode per prompt."""
    out = np.zeros((task.num_prompts, max(task.num_modes, 1)))
    tagged = task.leaf_mode >= 0
    np.add.at(out, (task.leaf_prompt[tagged], task.leaf_mode[tagged]), leaf_p[tagged])
    return out[:, : task.num_modes]
