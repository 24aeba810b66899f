"""The kernels' dispatch over the registries whose numba forms run per token, per state or
per group (KL estimators, aggregation modes, rewards): an if-chain on the entry's code, generated from the
registry when this module is imported, whose branches are the entries' numba forms,
inlined (`inline="always"`), so a per-token call costs what the hand-written branch did
(docs/adding-an-algorithm.md, "How the kernels call an algorithm").

The chain covers the entries the built-in modules registered (BUILTIN_NAMES): numba
caches the kernels on disk with the chain compiled in, and kernels/__init__.py drops that
cache when a module under simrl/algorithms changes. An entry registered later is not in
the chain; engine/packing.py refuses it for the numba engine.

The policy losses, advantage estimators and optimisers, called once per minibatch or
step, are first-class functions instead (simrl.algorithms.Algorithms).
"""

from __future__ import annotations

import inspect

import numpy as np
from numba import njit

from simrl.algorithms.aggregations import AGGREGATIONS
from simrl.algorithms.aggregations import BUILTIN_NAMES as AGG_BUILTIN
from simrl.algorithms.kl_estimators import BUILTIN_NAMES as KL_BUILTIN
from simrl.algorithms.kl_estimators import KL_ESTIMATORS

# the numba helpers the forms call as `nb.<helper>` (simrl/algorithms/nb.py), imported
# before any form compiles: numba cannot resolve a helper's own globals (fastmath's `fma`)
# when the facade imports it in the middle of an inlining pass
from simrl.algorithms.losses import numba_helpers  # noqa: F401
from simrl.algorithms.rewards import BUILTIN_NAMES as REWARD_BUILTIN
from simrl.algorithms.rewards import REWARDS


def inline_dispatch(entries, name: str, params: tuple[str, ...] | None = None):
    """An inlined numba function `name(code, *params)` that returns entries[i].numba(...)
    for the entry whose code is `code` (the last entry for any other code). `params` (by
    default the first form's parameter names) are the chain's arguments; each form is
    called with the ones its own signature names (a subset: the sampled KL estimators
    that read the ratio take `r` as well as `x`). The text is generated from the forms'
    parameter names and the entries' integer codes only."""
    names = params or tuple(inspect.signature(entries[0].numba).parameters)

    def call(i, e):
        own = tuple(inspect.signature(e.numba).parameters)
        if not set(own) <= set(names):
            raise TypeError(f"{e.name}: numba form parameters {own} not among {names}")
        return f"form{i}({', '.join(own)})"

    lines = [f"def {name}(code, {', '.join(names)}):"]
    for i, e in enumerate(entries[:-1]):
        lines += [f"    if code == {int(e.code)}:", f"        return {call(i, e)}"]
    lines.append(f"    return {call(len(entries) - 1, entries[-1])}")
    scope = {f"form{i}": njit(inline="always")(e.numba) for i, e in enumerate(entries)}
    exec(compile("\n".join(lines), f"<dispatch {name}>", "exec"), scope)
    return njit(inline="always")(scope[name])


_KL = [KL_ESTIMATORS[n] for n in KL_BUILTIN]
#: sampled_kl_grad(code, x, r): d k / d logp at x = logp - logp_ref and the token's ratio
#: r = pi / pi_old (read only by an estimator with reads_ratio)
sampled_kl_grad = inline_dispatch([e for e in _KL if e.sampled], "sampled_kl_grad", ("x", "r"))
#: exact_kl_grad(code, scale, logp, prob, ref_logp, ref_prob, s, g): g[s] += scale d KL / d z
exact_kl_grad = inline_dispatch([e for e in _KL if not e.sampled], "exact_kl_grad")
#: aggregation_weight(code, exact, n_tokens, n_seq, max_len, length, scale): a token's
#: weight; scale = algo.loss_scale_factor (max_len when 0), read by the modes with reads_scale
aggregation_weight = inline_dispatch(
    [AGGREGATIONS[n] for n in AGG_BUILTIN],
    "aggregation_weight",
    ("exact", "n_tokens", "n_seq", "max_len", "length", "scale"),
)
#: group_rewards(code, s, ans, row, n, correct, fmt, label, u, u_off, param, winner, lik,
#: out): the rewards of group `row` into out[row, :n]; lik[row, :n] the responses'
#: likelihoods under pi_old (filled only for a reward with reads_likelihood)
group_rewards = inline_dispatch(
    [REWARDS[n] for n in REWARD_BUILTIN],
    "group_rewards",
    (
        "s",
        "ans",
        "row",
        "n",
        "correct",
        "fmt",
        "label",
        "u",
        "u_off",
        "param",
        "winner",
        "lik",
        "out",
    ),
)
#: per reward code, 1 if its numba form reads `lik` (reads_likelihood): the kernels fill
#: the likelihoods only then (a global array: numba freezes it into the compiled kernels)
REWARD_READS_LIKELIHOOD = np.array(
    [int(REWARDS[n].reads_likelihood) for n in REWARD_BUILTIN], dtype=np.int64
)
