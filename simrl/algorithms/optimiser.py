"""What an optimiser is: one registry entry holding every engine's form of the step on
the tabular logits (the shape of policy_loss.py).

A module in simrl/algorithms/optimisers/ calls `register(Optimiser(...))` with its name,
citation, config fields (optim.<field>, after optim.kind and optim.lr), a flag and two
forms:

- `numpy(z, g, state, p) -> (z, state)`: the specification; `g` = d loss / d z (S, K),
  the descent direction is -g; `state` is `OptState(m, v, t)`, which
  persists across RL steps and is reset with the reference (ProRL); `p` is the optim
  config;
- `numba(op, z, g, prob, m, v, t, rows, n_rows)`: a plain module-level function the
  kernels compile as a cfunc of `numba_signature()` and call once per minibatch, as a
  first-class function (simrl.algorithms.Algorithms): step z from the gradient g of the
  touched states rows[:n_rows] (the rest of g is 0); `prob` = softmax(z) before the
  step, (m, v, t) the state (t (1,)); `op` holds the run's values of `params`, in that
  order. It must leave g zero (the next minibatch accumulates into it): clear each
  entry after its step, while it is in cache (sgd's one pass is the old fused row step);
- `moves_every_entry`: the step can move a state with zero gradient (Adam: its moments
  decay), so the kernels refresh and check every state, and its moments m, v;
- `moments`: the numba form reads or writes m and v (True unless declared otherwise).
  Without them the fast engines give it (0, 0) arrays for m and v instead of two (S, K)
  arrays per run (engine/fast.py batch_arrays): a form that declares False must not
  index them.

The torch bridge uses torch.optim (simrl/bridge/update.py), not these forms.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from simrl.registry import Registry


class OptState(NamedTuple):
    m: np.ndarray  # (S, K) first moment (adam)
    v: np.ndarray  # (S, K) second moment (adam)
    t: int  # number of adam updates since the last reset


def init_state(shape: tuple[int, ...]) -> OptState:
    return OptState(np.zeros(shape), np.zeros(shape), 0)


@dataclass(frozen=True)
class Optimiser:
    name: str
    doc: str  # one line: what the optimiser does
    source: str  # paper and equation, or the library file and function it follows
    numpy: Callable[..., Any]
    numba: Callable[..., Any]
    #: optim-config fields the numba form reads, in the order of its `op` row
    params: tuple[str, ...] = ("lr",)
    #: the optim-config fields this module declares: name -> (type, param(default, doc, check))
    fields: dict[str, tuple[type, Any]] = field(default_factory=dict)
    moves_every_entry: bool = False  # a state with zero gradient may move (Adam's moments)
    moments: bool = True  # the numba form reads or writes m, v (else they are (0, 0))
    code: int = -1  # the registration index (set by register)

    @property
    def fn(self) -> Callable[..., Any]:
        """The numpy reference form (the registries' common `fn`)."""
        return self.numpy

    def pack(self, optim: Any) -> list[float]:
        """This optimiser's `op` row for one run's optim config."""
        return [float(getattr(optim, n)) for n in self.params]


OPTIMIZERS = Registry("optimiser")


def register(entry: Optimiser) -> Optimiser:
    """Add an optimiser to OPTIMIZERS (its code is its registration index)."""
    if entry.fields and _FIELDS_FROZEN:
        raise ValueError(
            f"optimiser {entry.name!r} declares config fields {sorted(entry.fields)}, but the "
            "optim config was built when simrl.config was imported: an optimiser with new fields "
            "must be a built-in module (BUILTIN); one registered later can read existing fields only"
        )
    declared = {name for e in OPTIMIZERS for name in e.fields}
    for name in entry.fields:
        if name in declared:
            raise ValueError(f"optimiser {entry.name!r}: field {name!r} is already declared")
    return OPTIMIZERS.put(dataclasses.replace(entry, code=len(OPTIMIZERS)))


def unregister(name: str) -> None:
    """Remove the last-registered optimiser (tests register a toy one and remove it)."""
    OPTIMIZERS.remove(name)
    _COMPILED.pop(name, None)


_FIELDS_FROZEN = False


def declared_fields() -> list[tuple[str, type, Any]]:
    """Every optimiser's config fields, in registration order (simrl/config.py's
    OptimConfig); from then on an optimiser that declares fields can no longer be
    registered."""
    global _FIELDS_FROZEN
    _FIELDS_FROZEN = True
    return [(n, t, f) for e in OPTIMIZERS for n, (t, f) in e.fields.items()]


def params_width() -> int:
    """Columns of the packed `op` array: the most params any optimiser reads (at least 1)."""
    return max([1, *(len(e.params) for e in OPTIMIZERS)])


_COMPILED: dict[str, Any] = {}


def numba_signature():
    """void(op f8[::1], z f8[:, ::1], g f8[:, ::1], prob f8[:, ::1], m f8[:, ::1],
    v f8[:, ::1], t i8[::1], rows i8[::1], n_rows i8)."""
    from numba import types

    mat = types.float64[:, ::1]
    return types.void(
        types.float64[::1], mat, mat, mat, mat, mat, types.int64[::1], types.int64[::1], types.int64
    )


def compiled(name: str):
    """The optimiser's numba form compiled as a cfunc (cached on disk for simrl's own
    modules, in memory for one defined elsewhere)."""
    if name not in _COMPILED:
        from numba import cfunc

        import simrl.engine.kernels  # noqa: F401  (drops stale numba caches first)

        e = OPTIMIZERS[name]
        cache = (getattr(e.numba, "__module__", "") or "").startswith("simrl.")
        _COMPILED[name] = cfunc(numba_signature(), cache=cache)(e.numba)
    return _COMPILED[name]
