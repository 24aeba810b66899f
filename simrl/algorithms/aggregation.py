"""What a loss aggregation is: one registry entry holding every engine's form of how a
minibatch's per-token losses are combined (the shape of policy_loss.py).

Every mode of verl's `agg_loss` (volcengine/verl, verl/trainer/ppo/core_algos.py) is
linear in the per-token losses, so each is a weight per token: loss = sum(W * loss_mat).
A module in simrl/algorithms/aggregations/ calls `register(Aggregation(...))` with:

- `numpy(mask) -> W`: the specification; `mask` (B, T) is 1 on the response tokens of
  each of the minibatch's B sequences. The bridge uses it too (the weights are a
  function of the mask, not of the model);
- `numba(exact, n_tokens, n_seq, max_len, length) -> w`: one token's weight, given the
  minibatch's token count, its number of responses, the padded length T and the token's
  response length; with `exact` (the exact expected gradient, whose entries stand for
  full-length responses) the weight of a full mask. The kernels inline it (an if-chain
  generated from the registry, engine/kernels/dispatch.py), so an aggregation must be
  built in (BUILTIN) to run on the numba engine;
- flags: `per_length` (the weight depends on the token's own response length: the
  kernels then compute it per token), `fixed_weight` (the weight depends on neither the
  token count nor the length, which algo.exact with variable lengths needs),
  `reads_scale` (the mode divides by verl's constant `loss_scale_factor`,
  algo.loss_scale_factor, T when 0: its forms take it as one more argument,
  `numpy(mask, scale)` and `numba(..., scale)`).

For one-token bandit responses (T = 1) the three mean modes coincide.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simrl.registry import Registry


@dataclass(frozen=True)
class Aggregation:
    name: str
    doc: str  # one line: what the mode does
    source: str  # paper and equation, or the library file and function it follows
    numpy: Callable[..., Any]
    numba: Callable[..., Any]
    per_length: bool = False  # the weight reads the token's response length
    fixed_weight: bool = False  # the weight reads neither the token count nor the length
    reads_scale: bool = False  # the forms take the constant loss_scale_factor (T when 0)
    code: int = -1  # the registration index (set by register)

    @property
    def fn(self) -> Callable[..., Any]:
        """The numpy reference form (the registries' common `fn`)."""
        return self.numpy


AGGREGATIONS = Registry("loss aggregation")


def register(entry: Aggregation) -> Aggregation:
    """Add a mode to AGGREGATIONS (its code is its registration index)."""
    return AGGREGATIONS.put(dataclasses.replace(entry, code=len(AGGREGATIONS)))


def unregister(name: str) -> None:
    AGGREGATIONS.remove(name)


def fixed_weight_names() -> tuple[str, ...]:
    return tuple(e.name for e in AGGREGATIONS if e.fixed_weight)


def weights(e: Aggregation, mask: Any, loss_scale_factor: float = 0.0) -> Any:
    """The mode's per-token weights W (B, T) of a minibatch's mask; a mode that reads the
    constant gets loss_scale_factor, or the padded length T = mask.shape[1] when it is 0
    (verl `agg_loss`: loss_scale_factor None -> loss_mask.shape[-1])."""
    if not e.reads_scale:
        return e.numpy(mask)
    return e.numpy(mask, float(loss_scale_factor) if loss_scale_factor > 0 else mask.shape[1])
