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


def inline_dispatch(entries, name: str):
    """An inlined numba function `name(code, *args)` that returns entries[i].numba(*args)
    for the entry whose code is `code` (the last entry for any other code). The text is
    generated from the forms' parameter names and the entries' integer codes only."""
    params = ", ".join(inspect.signature(entries[0].numba).parameters)
    lines = [f"def {name}(code, {params}):"]
    for i, e in enumerate(entries[:-1]):
        lines += [f"    if code == {int(e.code)}:", f"        return form{i}({params})"]
    lines.append(f"    return form{len(entries) - 1}({params})")
    scope = {f"form{i}": njit(inline="always")(e.numba) for i, e in enumerate(entries)}
    exec(compile("\n".join(lines), f"<dispatch {name}>", "exec"), scope)
    return njit(inline="always")(scope[name])


_KL = [KL_ESTIMATORS[n] for n in KL_BUILTIN]
#: sampled_kl_grad(code, x): d k / d logp at x = logp - logp_ref (a sampled estimator)
sampled_kl_grad = inline_dispatch([e for e in _KL if e.sampled], "sampled_kl_grad")
#: exact_kl_grad(code, scale, logp, prob, ref_logp, ref_prob, s, g): g[s] += scale d KL / d z
exact_kl_grad = inline_dispatch([e for e in _KL if not e.sampled], "exact_kl_grad")
#: aggregation_weight(code, exact, n_tokens, n_seq, max_len, length): a token's weight
aggregation_weight = inline_dispatch([AGGREGATIONS[n] for n in AGG_BUILTIN], "aggregation_weight")
#: group_rewards(code, s, ans, row, n, correct, fmt, label, u, u_off, param, winner, out):
#: the rewards of group `row` into out[row, :n]
group_rewards = inline_dispatch([REWARDS[n] for n in REWARD_BUILTIN], "group_rewards")
