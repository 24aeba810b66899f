"""What a policy loss is: one registry entry holding every engine's form of it.

A loss module (simrl/algorithms/losses/<name>.py) calls `register(PolicyLoss(...))` with
its name, citation, config fields, capability flags and three forms:

- `numpy(b: TokenBatch, p) -> LossOut`: the specification (p is the algo config);
- `numba(lp, tf, ti, b0, N, flags, first)`: a plain module-level Python function that
  the kernels compile as a numba `cfunc` of `NUMBA_SIGNATURE` (cached on disk) the first
  time a run uses the loss. `lp` holds the run's values of the loss's `params`, in that
  order; `tf` / `ti` are the token tables of simrl/algorithms/tokens.py (the minibatch is
  columns b0 .. b0 + N - 1; TF_RATIO already holds exp(logp - logp_old), 1 when `first`);
  it writes TF_DLOGP and the flags. It calls numba helpers only through module attributes
  (`nb.fast_exp`), so importing a loss module never imports numba;
- `torch(b: TorchTokens, p) -> TorchLossOut`: for autograd (the bridge), importing torch
  inside the function.

Everything else is derived from the registry: the config's allowed names, fields and
combination checks (simrl/config.py), the per-run parameter packing (`pack_params`), the
kernels' dispatch (the run's compiled loss is passed to the kernels as a first-class
function; one compiled kernel serves every loss), the stream layout (Clip-Cov's keys),
the bridge's losses and the parity suites (tests/engine, tests/bridge), which enumerate
the registry. docs/adding-an-algorithm.md walks through adding one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from simrl.registry import Registry


@dataclass(frozen=True)
class PolicyLoss:
    name: str
    doc: str  # one line: what the loss does
    source: str  # paper and equation, or the library file and function it follows
    numpy: Callable[..., Any]
    numba: Callable[..., Any]
    torch: Callable[..., Any]
    #: config fields the numba form reads, in the order of its `lp` row
    params: tuple[str, ...] = ()
    #: the algo-config fields this module declares: name -> (type, param(default, doc, check))
    fields: dict[str, tuple[type, Any]] = field(default_factory=dict)
    #: combination checks on the algo config (raise ConfigError), run for every config
    check: Callable[[Any], None] | None = None
    #: encodes a non-numeric param for `lp` (e.g. a mode name -> its index)
    encode: dict[str, Callable[[Any], float]] = field(default_factory=dict)
    # ---- capability flags ----
    uses_keys: bool = False  # draws a uniform key per token (random token selection)
    reads_entropy_old: bool = False  # reads TF_ENT_OLD / entropy_old
    dual_clip: bool = False  # honours algo.dual_clip
    exact: bool = False  # defined in algo.exact mode (no sample-based token selection)
    sequence_level: bool = False  # a rule per response (reads seq / pos / length)
    bridge: bool = True  # has a torch form the bridge can run
    #: the token-flag metrics this loss sets (LossOut's clip_low / clip_high / clip_dual /
    #: selected as the update metrics of REPORTABLE); the rest stay 0 for it and are not
    #: shown in a run's summary. The default, all of them, suits a loss that does not say.
    reports: tuple[str, ...] = (
        "clip_low_frac",
        "clip_high_frac",
        "clip_dual_frac",
        "cov_selected_frac",
    )
    code: int = -1  # the registration index (set by register)

    @property
    def fn(self) -> Callable[..., Any]:
        """The numpy reference form (the registries' common `fn`)."""
        return self.numpy

    def pack(self, algo: Any) -> list[float]:
        """This loss's `lp` row for one run's algo config."""
        return [
            float(self.encode[n](getattr(algo, n)) if n in self.encode else getattr(algo, n))
            for n in self.params
        ]


POLICY_LOSSES = Registry("policy loss")

#: the update metrics that count a loss's token flags, in LossOut's order
REPORTABLE = ("clip_low_frac", "clip_high_frac", "clip_dual_frac", "cov_selected_frac")


def register(entry: PolicyLoss) -> PolicyLoss:
    """Add a loss to POLICY_LOSSES (its code is its registration index)."""
    if entry.fields and _FIELDS_FROZEN:
        raise ValueError(
            f"policy loss {entry.name!r} declares config fields {sorted(entry.fields)}, but the "
            "algo config was built when simrl.config was imported: an algorithm with new fields must "
            "be a built-in module (BUILTIN); one registered later can read existing fields only"
        )
    unknown = set(entry.reports) - set(REPORTABLE)
    if unknown:
        raise ValueError(
            f"policy loss {entry.name!r}: reports {sorted(unknown)}; allowed: {', '.join(REPORTABLE)}"
        )
    declared = {name for e in POLICY_LOSSES for name in e.fields}
    for name in entry.fields:
        if name in declared:
            raise ValueError(f"policy loss {entry.name!r}: field {name!r} is already declared")
    entry = dataclasses.replace(entry, code=len(POLICY_LOSSES))
    return POLICY_LOSSES.put(entry)


def unregister(name: str) -> None:
    """Remove a loss (tests register toy losses and remove them again)."""
    POLICY_LOSSES.remove(name)
    _COMPILED.pop(name, None)


_FIELDS_FROZEN = False


def declared_fields() -> list[tuple[str, type, Any]]:
    """Every loss's config fields, in registration order (simrl/config.py's AlgoConfig);
    from then on a loss that declares fields can no longer be registered."""
    global _FIELDS_FROZEN
    _FIELDS_FROZEN = True
    return [(n, t, f) for e in POLICY_LOSSES for n, (t, f) in e.fields.items()]


def check_losses(algo: Any) -> None:
    """Every registered loss's combination checks, then the flags' rules."""
    from simrl.validate import require

    for e in POLICY_LOSSES:
        if e.check is not None:
            e.check(algo)
    chosen = POLICY_LOSSES[algo.loss]
    require(
        algo.dual_clip == 0 or chosen.dual_clip,
        "algo.dual_clip",
        algo.dual_clip,
        f"dual clip applies to the {names_phrase(e.name for e in POLICY_LOSSES if e.dual_clip)}"
        f" losses only, not '{algo.loss}' (as in verl)",
    )


def names_phrase(names, conjunction: str = "and") -> str:
    """'a', 'b' and 'c' (or another conjunction)."""
    quoted = [repr(n) for n in names]
    if len(quoted) == 1:
        return quoted[0]
    return ", ".join(quoted[:-1]) + f" {conjunction} " + quoted[-1]


def exact_losses() -> tuple[str, ...]:
    return tuple(e.name for e in POLICY_LOSSES if e.exact)


def entry(name: str) -> PolicyLoss:
    """The registered loss called `name` (KeyError listing the valid names)."""
    return POLICY_LOSSES[name]


def params_width() -> int:
    """Columns of the packed `lp` array: the most params any loss reads (at least 1)."""
    return max([1, *(len(e.params) for e in POLICY_LOSSES)])


# ---- the numba form -------------------------------------------------------------------

_COMPILED: dict[str, Any] = {}


def numba_signature():
    """void(lp f8[::1], tf f8[:, ::1], ti i4[:, ::1], b0 i8, N i8, flags i1[:, ::1], first b1)."""
    from numba import types

    return types.void(
        types.float64[::1],
        types.float64[:, ::1],
        types.int32[:, ::1],
        types.int64,
        types.int64,
        types.int8[:, ::1],
        types.boolean,
    )


def compiled(name: str, cache: bool = True):
    """The loss's numba form compiled as a cfunc (kept for the process; cached on disk
    unless `cache` is False, as for a loss defined at run time)."""
    if name not in _COMPILED:
        from numba import cfunc

        import simrl.engine.kernels  # noqa: F401  (drops stale numba caches first)

        e = entry(name)
        _COMPILED[name] = cfunc(numba_signature(), cache=cache and _cacheable(e))(e.numba)
    return _COMPILED[name]


def _cacheable(e: PolicyLoss) -> bool:
    """numba caches a function by its source file; one defined in a test or a REPL may
    have none worth keying on."""
    module = getattr(e.numba, "__module__", "") or ""
    return module.startswith("simrl.")
