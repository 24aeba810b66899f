"""What an advantage estimator is: one registry entry holding every engine's form of it
(the shape of policy_loss.py, for the rewards-to-advantages step).

A module in simrl/algorithms/advantages/ calls `register(AdvantageEstimator(...))` with
its name, citation, config fields, checks and two forms:

- `numpy(rewards, p) -> adv`: the specification, rewards (n_groups, G) of a step's groups
  to advantages (n_groups, G); p is the algo config. The bridge computes advantages with
  it too (they are a function of the rewards, not of the model). An estimator with
  `reads_lengths` is called `numpy(rewards, p, lengths)`, lengths (n_groups, G) the
  responses' token counts (1 on the bandit): call it through `compute`;
  An estimator with `reads_greedy` gets `greedy` (n_groups,) too: the reward of each
  group's greedy response under pi_old (ReMax's baseline);
- `numba(ap, rew, adv, n_groups, G, lens, greedy)`: a plain module-level function the
  kernels compile as a cfunc of `numba_signature()`: rew[:n_groups, :G] ->
  adv[:n_groups, :G]; `ap` holds the run's values of the estimator's `params`, in that
  order; lens[:n_groups, :G] the responses' lengths as floats (ones on the bandit) and
  greedy[:n_groups] the greedy responses' rewards (filled only for an estimator with
  `reads_greedy`); every estimator receives both and ignores what it does not declare.

An estimator with `token_baseline` (verl's optimal_token_baseline) is per token: its
numpy form also takes `scores` (n_groups, G, T), each token's squared score norm
1 - 2 pi_old(y_t) + sum_v pi_old(v)^2, and returns per-token advantages (n_groups, G, T);
its numba form writes the returns and the kernels subtract the per-token baselines.

The estimator is called once per step on the whole step's batch of groups, so a rule over
the batch (a batch mean or std, whitening) reads every row of `rew` it is given.

The kernels take the run's compiled estimator as a first-class function (with its loss:
simrl.algorithms.Algorithms), so one compiled kernel serves every estimator.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from simrl.registry import Registry


@dataclass(frozen=True)
class AdvantageEstimator:
    name: str
    doc: str  # one line: what the estimator does
    source: str  # paper and equation, or the library file and function it follows
    numpy: Callable[..., Any]
    numba: Callable[..., Any]
    #: config fields the numba form reads, in the order of its `ap` row
    params: tuple[str, ...] = ()
    #: the algo-config fields this module declares: name -> (type, param(default, doc, check))
    fields: dict[str, tuple[type, Any]] = field(default_factory=dict)
    #: checks on the algo config when this estimator is chosen (raise ConfigError)
    check: Callable[[Any], None] | None = None
    #: the rule reads the responses' lengths (verl's token-level whitening, OPO's
    #: length-weighted baseline): numpy(rewards, p, lengths); numba reads `lens`
    reads_lengths: bool = False
    #: the rule reads the reward of each group's greedy response under pi_old (ReMax):
    #: numpy(rewards, p, greedy=...); numba reads `greedy`; needs a deterministic reward
    reads_greedy: bool = False
    #: the rule is per token (verl's optimal_token_baseline): numpy(rewards, p, lengths,
    #: scores) with scores (n_groups, G, T) each token's 1 - 2 pi_old(y) + sum pi_old^2
    #: (0 past a response's end) returns per-token advantages (n_groups, G, T); the numba
    #: form writes the returns and the kernels subtract the per-token baselines
    #: (engine/kernels/token_baseline.py); needs reads_lengths
    token_baseline: bool = False
    code: int = -1  # the registration index (set by register)

    @property
    def fn(self) -> Callable[..., Any]:
        """The numpy reference form (the registries' common `fn`)."""
        return self.numpy

    def pack(self, algo: Any) -> list[float]:
        """This estimator's `ap` row for one run's algo config."""
        return [float(getattr(algo, n)) for n in self.params]


ADVANTAGES = Registry("advantage estimator")


def register(entry: AdvantageEstimator) -> AdvantageEstimator:
    """Add an estimator to ADVANTAGES (its code is its registration index)."""
    if entry.fields and _FIELDS_FROZEN:
        raise ValueError(
            f"advantage {entry.name!r} declares config fields {sorted(entry.fields)}, but the "
            "algo config was built when simrl.config was imported: an algorithm with new fields must "
            "be a built-in module (BUILTIN); one registered later can read existing fields only"
        )
    declared = {name for e in ADVANTAGES for name in e.fields}
    for name in entry.fields:
        if name in declared:
            raise ValueError(f"advantage {entry.name!r}: field {name!r} is already declared")
    return ADVANTAGES.put(dataclasses.replace(entry, code=len(ADVANTAGES)))


def unregister(name: str) -> None:
    ADVANTAGES.remove(name)
    _COMPILED.pop(name, None)


_FIELDS_FROZEN = False


def declared_fields() -> list[tuple[str, type, Any]]:
    """Every estimator's config fields, in registration order (AlgoConfig); from then on
    an estimator that declares fields can no longer be registered."""
    global _FIELDS_FROZEN
    _FIELDS_FROZEN = True
    return [(n, t, f) for e in ADVANTAGES for n, (t, f) in e.fields.items()]


def compute(
    name: str, rewards: Any, p: Any, lengths: Any = None, greedy: Any = None, scores: Any = None
) -> Any:
    """The numpy form of estimator `name` on a step's rewards (n_groups, G); `lengths`
    (n_groups, G) the responses' token counts, None meaning 1 each (the bandit); `greedy`
    (n_groups,) the greedy responses' rewards (read by an estimator with `reads_greedy`);
    `scores` (n_groups, G, T) the tokens' score norms 1 - 2 pi_old(y) + sum pi_old^2 (an
    estimator with `token_baseline`, which then returns (n_groups, G, T))."""
    import numpy as np

    e = ADVANTAGES[name]
    kw = {}
    if e.reads_lengths:
        if lengths is None:
            lengths = np.ones_like(rewards, dtype=float)
        kw["lengths"] = np.asarray(lengths, dtype=float)
    if e.reads_greedy:
        if greedy is None:
            raise ValueError(f"advantage {name!r} needs the greedy responses' rewards")
        kw["greedy"] = np.asarray(greedy, dtype=float)
    if e.token_baseline:
        if scores is None:
            raise ValueError(f"advantage {name!r} needs the tokens' score norms")
        kw["scores"] = np.asarray(scores, dtype=float)
    return e.numpy(rewards, p, **kw)


def entropy_term(adv: Any, h: Any, alpha: float, kappa: float) -> Any:
    """The entropy-based advantage of Cheng et al. 2025 (Reasoning with Exploration: An
    Entropy Perspective, arXiv 2506.14758): every token's advantage A plus
    min(alpha sg(H), |A| / kappa), H the sampling policy's entropy at the token's state
    (H_old: a constant of the step, so no gradient flows through it). The term is >= 0 and
    at most |A| / kappa, so it never flips a negative advantage's sign for kappa > 1. It
    applies after any estimator (`algo.entropy_adv_alpha` > 0), in every engine: the
    kernels add it where they write a token's advantage (TF_ADV), the reference engines to
    their token tables, the bridge per completion token (simrl/bridge/update.py)."""
    import numpy as np

    if alpha == 0.0:
        return adv
    return adv + np.minimum(alpha * h, np.abs(adv) / kappa)


def check_advantage(algo: Any) -> None:
    chosen = ADVANTAGES[algo.advantage]
    if chosen.check is not None:
        chosen.check(algo)


def params_width() -> int:
    return max([1, *(len(e.params) for e in ADVANTAGES)])


_COMPILED: dict[str, Any] = {}


def numba_signature():
    """void(ap f8[::1], rew f8[:, ::1], adv f8[:, ::1], n_groups i8, G i8, lens f8[:, ::1],
    greedy f8[::1])."""
    from numba import types

    return types.void(
        types.float64[::1],
        types.float64[:, ::1],
        types.float64[:, ::1],
        types.int64,
        types.int64,
        types.float64[:, ::1],
        types.float64[::1],
    )


def compiled(name: str):
    """The estimator's numba form compiled as a cfunc (cached on disk for simrl's own
    modules, in memory for one defined elsewhere)."""
    if name not in _COMPILED:
        from numba import cfunc

        import simrl.engine.kernels  # noqa: F401  (drops stale numba caches first)

        e = ADVANTAGES[name]
        cache = (getattr(e.numba, "__module__", "") or "").startswith("simrl.")
        _COMPILED[name] = cfunc(numba_signature(), cache=cache)(e.numba)
    return _COMPILED[name]
