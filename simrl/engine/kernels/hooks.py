"""The step kernels' optional features as first-class functions: compiled only for a call
whose runs use them (docs/architecture.md, "The kernels' plumbing"; docs/performance.md,
"Features compiled only when used").

A default run never executes the exact batch (`algo.exact`), the dH breakdown
(`run.audit`), the controllers and the quadrant split (kernels/controllers.py,
kernels/quadrants.py) or verl's per-token baselines (kernels/token_baseline.py); compiled
into the step kernels, they were linked, optimised and emitted again at every level of the
kernels' call tree. The kernels now call them through the `Hooks` of the call's
`Algorithms` (simrl.algorithms: the loss, advantage estimator and optimiser reach the
kernels the same way): each field is a cfunc, the feature's code when a run of the call
uses it, else a stub of the same signature that does nothing (never called: the kernels
call a hook behind the same run-time flag as before). numba types a first-class function
by its signature only, so one compiled step kernel serves every combination, and a
feature's code is compiled (and cached on disk) the first time a run uses it.

Each hook takes arrays, scalars and the small fixed structures Params (one run's row),
Policy, StepStart and Quadrants (kernels/workspace.py, quadrants.py), never a whole
workspace or task, so the signatures below stay short and explicit. The arithmetic is the
features' own functions', called unchanged (bitwise the same numbers as when they were
compiled into the kernels: tests/engine/ parity suites); the hooks pass them views named
like the workspace fields they read.

`hooks_for(family, ip, cp)` picks the hooks of a call from its packed parameters (the same
flags the kernels test), compiling what it needs once per process (`compiled`).
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from simrl.algorithms.tokens import TF_COUNT, TI_ROW, TI_TOK
from simrl.engine.kernels.breakdown import breakdown_minibatch, breakdown_step, sequence_terms
from simrl.engine.kernels.codes import I_ADV_TOKEN, I_BREAKDOWN, I_EXACT
from simrl.engine.kernels.controllers import (
    after_update,
    before_update,
    controls_end,
    measure_bandit,
    measure_sequence,
    penalise_bandit,
    penalise_sequence,
)
from simrl.engine.kernels.quadrants import quadrant_bandit, quadrant_sequence, quadrants_end
from simrl.engine.kernels.sampling import exact_batch
from simrl.engine.kernels.seq_graph import forward_reach, leaf_rewards, q_values, row_q
from simrl.engine.kernels.seq_sampling import exact_tokens
from simrl.engine.kernels.token_baseline import bandit_token_baselines, sequence_token_baselines

#: a call's hooks; a field is None where the call's kernel family never reads it
Hooks = namedtuple(
    "Hooks",
    [
        # both families
        "before_update",  # (cp, fp): the controllers before each update
        "after_update",  # (cp, pol): the controllers after each update
        "step_end",  # the controllers' and the quadrant split's update columns
        "breakdown_step",  # the dH breakdown's step end (kernels/breakdown.py)
        # the bandit
        "exact_batch",  # algo.exact's batch (sampling.exact_batch)
        "penalise_bandit",  # KL in the reward
        "token_baselines_bandit",  # verl's optimal_token_baseline
        "minibatch_bandit",  # the adaptive entropy's measure and the quadrant split
        "breakdown_minibatch",  # the dH breakdown's token terms
        # sequence tasks
        "exact_tokens",  # algo.exact's token table (seq_sampling.exact_tokens)
        "penalise_sequence",
        "token_baselines_sequence",
        "minibatch_sequence",
        "breakdown_prepare_sequence",  # the breakdown's E[A] per row (the graph's DP)
        "breakdown_tokens_sequence",
    ],
)

#: the features, and the hooks each needs (a field's code compiles when any run of the
#: call has the feature; the others get their stubs)
FEATURES = {
    "controls": (  # the controllers or the quadrant split: a non-empty Params.cp
        "before_update",
        "after_update",
        "step_end",
        "penalise_bandit",
        "minibatch_bandit",
        "penalise_sequence",
        "minibatch_sequence",
    ),
    "audit": (  # run.audit: the dH breakdown
        "breakdown_step",
        "breakdown_minibatch",
        "breakdown_prepare_sequence",
        "breakdown_tokens_sequence",
    ),
    "exact": ("exact_batch", "exact_tokens"),  # algo.exact
    "token_baseline": ("token_baselines_bandit", "token_baselines_sequence"),
}
#: the fields each kernel family reads
FAMILY_FIELDS = {
    "bandit": (
        "before_update",
        "after_update",
        "step_end",
        "breakdown_step",
        "exact_batch",
        "penalise_bandit",
        "token_baselines_bandit",
        "minibatch_bandit",
        "breakdown_minibatch",
    ),
    "sequence": (
        "before_update",
        "after_update",
        "step_end",
        "breakdown_step",
        "exact_tokens",
        "penalise_sequence",
        "token_baselines_sequence",
        "minibatch_sequence",
        "breakdown_prepare_sequence",
        "breakdown_tokens_sequence",
    ),
}

# ---- views: the workspace fields an unchanged implementation reads ----------------------

_RunIp = namedtuple("_RunIp", ["ip"])
_TaskView = namedtuple("_TaskView", ["correct", "fmt", "label"])
_ExactView = namedtuple(
    "_ExactView", ["bprompt", "bans", "brew", "bcount", "badv", "stats", "blik"]
)
_GroupView = namedtuple("_GroupView", ["bprompt", "bans", "brew"])
_TokView = namedtuple("_TokView", ["bprompt", "bans", "tok", "quad"])
_AudView = namedtuple("_AudView", ["bprompt", "bans", "tok", "aud"])
_SeqBatchView = namedtuple("_SeqBatchView", ["gstart", "bresp", "brew"])
_RunFpIp = namedtuple("_RunFpIp", ["fp", "ip"])
_SeqTaskView = namedtuple("_SeqTaskView", ["graph", "leaves", "max_len"])
_ChosenView = namedtuple("_ChosenView", ["bprompt", "gstart", "chosen"])
_StatsView = namedtuple("_StatsView", ["stats"])
_SeqExactView = namedtuple("_SeqExactView", ["dp", "batch", "tf", "ti", "misc"])


# ---- the features' hooks (plain functions: `compiled` makes them cfuncs) ----------------


def h_before_update(cp, fp):
    before_update(cp, fp)


def h_after_update(cp, pol):
    after_update(cp, pol)


def h_step_end(cp, pol, old, quad, rows, n_rows, upd, col):
    col = controls_end(cp, pol, upd, col)
    quadrants_end(cp, quad, pol, old, rows, n_rows, upd, col)


def h_breakdown_step(lr, pol, old, aud, rbar, rows, n_rows, out, pp, t, want_pp):
    breakdown_step(lr, pol, old, aud, rbar, rows, n_rows, out, pp, t, want_pp)


def h_exact_batch(
    ip, u, prob_old, correct, fmt, label, bprompt, bans, brew, bcount, badv, stats, blik
):
    return exact_batch(
        _RunIp(ip), u, prob_old, _TaskView(correct, fmt, label),
        _ExactView(bprompt, bans, brew, bcount, badv, stats, blik),
    )  # fmt: skip


def h_penalise_bandit(cp, bprompt, bans, brew, logp_old, ref_logp, n_groups, G):
    penalise_bandit(cp, _GroupView(bprompt, bans, brew), logp_old, ref_logp, n_groups, G)


def h_token_baselines_bandit(prob_old, bprompt, bans, brew, badv, n_groups, G):
    bandit_token_baselines(prob_old, bprompt, bans, brew, badv, n_groups, G)


def h_minibatch_bandit(cp, lr, pol, tok, bprompt, bans, quad, lo, hi, n_entries, rows, n_rows):
    measure_bandit(cp, pol.ent, bprompt, tok[TF_COUNT, lo * n_entries :], lo, hi, n_entries)
    quadrant_bandit(
        cp, lr, pol, _TokView(bprompt, bans, tok, quad), lo, hi, n_entries, rows, n_rows
    )


def h_breakdown_minibatch(lr, pol, tok, bprompt, bans, aud, lo, hi, n_entries, w_seq):
    breakdown_minibatch(lr, pol, _AudView(bprompt, bans, tok, aud), lo, hi, n_entries, w_seq)


def h_exact_tokens(
    fp, ip, u, prob_old, graph, leaves, max_len, dp, bprompt, gstart, chosen, tf, ti, stats
):
    return exact_tokens(
        _RunFpIp(fp, ip), u, prob_old, _SeqTaskView(graph, leaves, max_len),
        _SeqExactView(dp, _ChosenView(bprompt, gstart, chosen), tf, ti, _StatsView(stats)),
    )  # fmt: skip


def h_breakdown_prepare_sequence(
    fp, leaves, max_len, over_cache, over_factor, prob, graph, dp, n_train, qrow, wrow
):
    """Each row's exact expected advantage under pi_old for Theorem 1 (seq_step's dH
    breakdown): the leaves' rewards, the reach and Q over the graph, per row."""
    leaf_rewards(fp, leaves, max_len, over_cache, over_factor, dp.r_leaf)
    forward_reach(prob, graph, dp.reach_ext)
    q_values(prob, dp.r_leaf, graph, dp.q, dp.value)
    row_q(dp.q, dp.reach, graph, n_train, qrow, wrow)


def h_penalise_sequence(cp, gstart, bresp, brew, ti, logp, ref_logp, n_groups, G):
    penalise_sequence(
        cp, _SeqBatchView(gstart, bresp, brew), ti, TI_ROW, TI_TOK, logp, ref_logp, n_groups, G
    )


def h_token_baselines_sequence(prob, tf, ti, gstart, lens, brew, n_groups, G):
    sequence_token_baselines(prob, tf, ti, gstart, lens, brew, n_groups, G)


def h_minibatch_sequence(
    cp, lr, pol, quad, tf, trow, ttok, tcount, tkeep, b0, N, exact, forking, rows, n_rows
):
    measure_sequence(cp, pol.ent, trow, tcount, tkeep, N, exact, forking)
    quadrant_sequence(cp, lr, pol, quad, tf, trow, ttok, b0, N, rows, n_rows)


def h_breakdown_tokens_sequence(
    lr, pol, aud, trow, ttok, tw, work, tkeep, tlogp, tsteer, tent, N, forking
):
    sequence_terms(lr, pol, aud, trow, ttok, tw, work, tkeep, tlogp, tsteer, tent, N, forking)


# ---- the stubs: the same signatures, nothing done ---------------------------------------


def s_before_update(cp, fp):
    return


def s_after_update(cp, pol):
    return


def s_step_end(cp, pol, old, quad, rows, n_rows, upd, col):
    return


def s_breakdown_step(lr, pol, old, aud, rbar, rows, n_rows, out, pp, t, want_pp):
    return


def s_exact_batch(
    ip, u, prob_old, correct, fmt, label, bprompt, bans, brew, bcount, badv, stats, blik
):
    return 0


def s_penalise_bandit(cp, bprompt, bans, brew, logp_old, ref_logp, n_groups, G):
    return


def s_token_baselines_bandit(prob_old, bprompt, bans, brew, badv, n_groups, G):
    return


def s_minibatch_bandit(cp, lr, pol, tok, bprompt, bans, quad, lo, hi, n_entries, rows, n_rows):
    return


def s_breakdown_minibatch(lr, pol, tok, bprompt, bans, aud, lo, hi, n_entries, w_seq):
    return


def s_exact_tokens(
    fp, ip, u, prob_old, graph, leaves, max_len, dp, bprompt, gstart, chosen, tf, ti, stats
):
    return 0


def s_breakdown_prepare_sequence(
    fp, leaves, max_len, over_cache, over_factor, prob, graph, dp, n_train, qrow, wrow
):
    return


def s_penalise_sequence(cp, gstart, bresp, brew, ti, logp, ref_logp, n_groups, G):
    return


def s_token_baselines_sequence(prob, tf, ti, gstart, lens, brew, n_groups, G):
    return


def s_minibatch_sequence(
    cp, lr, pol, quad, tf, trow, ttok, tcount, tkeep, b0, N, exact, forking, rows, n_rows
):
    return


def s_breakdown_tokens_sequence(
    lr, pol, aud, trow, ttok, tw, work, tkeep, tlogp, tsteer, tent, N, forking
):
    return


# ---- signatures -------------------------------------------------------------------------


def signatures() -> dict:
    """Each hook's numba signature. The structures' types are numba's types of samples of
    the kernels' own (every array C-contiguous, as the kernels build and slice them)."""
    from numba import typeof, types

    from simrl.engine.kernels.quadrants import Quadrants
    from simrl.engine.kernels.workspace import Policy, SeqDP, SeqGraph, SeqLeaves, StepStart

    def arr(dtype, ndim):
        return types.Array(dtype, ndim, "C")

    f1, f2, f3 = arr(types.float64, 1), arr(types.float64, 2), arr(types.float64, 3)
    i1, i2, i3 = arr(types.int64, 1), arr(types.int64, 2), arr(types.int64, 3)
    i4_1, i4_2 = arr(types.int32, 1), arr(types.int32, 2)
    b2 = arr(types.boolean, 2)
    i8, f8, b1, void = types.int64, types.float64, types.boolean, types.void
    s2, s1 = np.zeros((1, 1)), np.zeros(1)
    pol = typeof(Policy(s2, s2, s2, s2, np.zeros(1, np.int64), s2, s2, s1, s2, s2))
    old = typeof(StepStart(s2, s2, s2, s1, s2))
    quad = typeof(Quadrants(s2, np.zeros((1, 1, 1)), s2))
    # a sequence task's arrays as fast_sequence.task_tuples makes them (int32 indices)
    g1, g2 = np.zeros(1, np.int32), np.zeros((1, 1), np.int32)
    graph = typeof(SeqGraph(g1, g1, g1, g1, g1, g1, g1, g1, g2, g1))
    leaves = typeof(SeqLeaves(g1, g1, g1, g1, g1, s2, s1, s1))
    dp = typeof(SeqDP(s1, s1, s2, s1, s1, s1))
    b1_1 = arr(types.boolean, 1)
    return {
        "before_update": void(f1, f1),
        "after_update": void(f1, pol),
        "step_end": void(f1, pol, old, quad, i1, i8, f1, i8),
        "breakdown_step": void(f8, pol, old, f2, f2, i1, i8, f1, f3, i8, b1),
        "exact_batch": i8(i1, f1, f2, b2, i1, i1, i1, i2, f2, f2, f2, f1, f2),
        "penalise_bandit": void(f1, i1, i2, f2, f2, f2, i8, i8),
        "token_baselines_bandit": void(f2, i1, i2, f2, f2, i8, i8),
        "minibatch_bandit": void(f1, f8, pol, f2, i1, i2, quad, i8, i8, i8, i1, i8),
        "breakdown_minibatch": void(f8, pol, f2, i1, i2, f2, i8, i8, i8, f8),
        "exact_tokens": i8(f1, i1, f1, f2, graph, leaves, i8, dp, i1, i1, b1_1, f2, i4_2, f1),
        "breakdown_prepare_sequence": void(f1, leaves, i8, i8, f8, f2, graph, dp, i8, f2, f1),
        "penalise_sequence": void(f1, i1, i3, f2, i4_2, f2, f2, i8, i8),
        "token_baselines_sequence": void(f2, f2, i4_2, i1, f2, f2, i8, i8),
        "minibatch_sequence": void(
            f1, f8, pol, quad, f2, i4_1, i4_1, f1, f1, i8, i8, b1, b1, i1, i8
        ),
        "breakdown_tokens_sequence": void(f8, pol, f2, i4_1, i4_1, f1, f1, f1, f1, f1, f1, i8, b1),
    }


_COMPILED: dict[tuple[str, bool], object] = {}


def compiled(field: str, real: bool):
    """The cfunc of hook `field`: the feature's code (real) or its stub; compiled once per
    process and cached on disk (numba's cache of this file)."""
    key = (field, real)
    if key not in _COMPILED:
        from numba import cfunc

        import simrl.engine.kernels  # noqa: F401  (drops stale numba caches first)

        fn = globals()[("h_" if real else "s_") + field]
        _COMPILED[key] = cfunc(signatures()[field], cache=True)(fn)
    return _COMPILED[key]


def features_of(ip: np.ndarray, cp: np.ndarray) -> frozenset[str]:
    """The features any run of a call uses, from its packed ints ip (R, .) and its
    controllers' rows cp (R, .), width 0 without them: the flags the kernels test."""
    on = set()
    if cp.shape[1] > 0:
        on.add("controls")
    if ip.shape[0] and ip[:, I_BREAKDOWN].any():
        on.add("audit")
    if ip.shape[0] and ip[:, I_EXACT].any():
        on.add("exact")
    if ip.shape[0] and ip[:, I_ADV_TOKEN].any():
        on.add("token_baseline")
    return frozenset(on)


def features_of_config(config) -> frozenset[str]:
    """The features a run of this config uses (features_of's flags, from the config's
    fields: packing.py packs them; tests/engine/test_hooks.py checks that they agree)."""
    from simrl import controllers
    from simrl.algorithms.advantages import ADVANTAGES

    a = config.algo
    on = set()
    if controllers.active(a) or config.run.audit_quadrants:
        on.add("controls")
    if config.run.audit:
        on.add("audit")
    if a.exact:
        on.add("exact")
    if ADVANTAGES[a.advantage].token_baseline:
        on.add("token_baseline")
    return frozenset(on)


def hook_fields(family: str, features) -> list[tuple[str, bool]]:
    """(field, real) of every hook a call of this kernel family compiles."""
    real = {f for feat in features for f in FEATURES[feat]}
    return [(f, f in real) for f in FAMILY_FIELDS[family]]


def hooks_for(family: str, ip: np.ndarray, cp: np.ndarray) -> Hooks:
    """The Hooks of a call of kernel family `family` ('bandit': step.py, also the linear
    policy's and the rollout sampler's kernels; 'sequence': seq_step.py): the real code of
    every feature a run of the call uses, stubs elsewhere, None for the other family's."""
    chosen = dict(hook_fields(family, features_of(ip, cp)))
    return Hooks(*(compiled(f, chosen[f]) if f in chosen else None for f in Hooks._fields))
