"""What a reward is: one registry entry holding every engine's form of a verifiable reward
(the shape of policy_loss.py).

A module in simrl/algorithms/rewards/ calls `register(Reward(...))` with its name,
citation, config fields (reward.<field>, after reward.kind), flags and forms:

- `numpy(answers, facts, u, u_tie, *, p, flip) -> r`: the specification: the group's
  answers (G,), the prompt's facts (`PromptFacts`), the group's uniforms u (G,) (None
  unless `uses_uniform`) and tie-break uniform u_tie, and the reward parameters; rewards
  in {0, 1} (G,). A sequence task rewards its responses' final answers with it;
- `numba(s, ans, row, n, correct, fmt, label, u, u_off, param, winner, out)`: the
  kernels' form for group `row` of prompt s: rewards of ans[row, :n] into out[row, :n];
  u[u_off + i] is response i's uniform, `param` the run's value of the field `param`
  names, `winner` the group's plurality answer (with `votes`); a form may also name
  `lik` (with `reads_likelihood`): lik[row, :n], the responses' likelihoods under pi_old
  (the bandit: pi_old(a | s); a sequence: its per-token likelihood, exp of the mean of
  its tokens' log pi_old, summed in position order), filled by the kernels only for such a reward. The kernels inline it per
  group (an if-chain generated from the registry, engine/kernels/dispatch.py), so a
  reward must be built in (BUILTIN) to run on the numba engine;
- `bridge(answers, correct, label, u, u_tie, *, p, flip) -> r`: the bridge's form on
  parsed answers (an int, or None when the completion is not well-formed); with
  `reads_likelihood` also `lik=` (G,), the completions' per-token likelihoods under the
  bridge's sampler (simrl/bridge/sampler.py `likelihoods`), and `param=`;
- `expectation(p, flip) -> (w_c, w_nc, w_l, w_f, w_1)`: E[r | y] as affine weights of
  what a response tells (rewards.affine_expectation), or None where E[r | y] is not a
  function of the response.

Flags: `uses_uniform` (one uniform per response), `votes` (reads the group's plurality
answer, ties broken by a uniform per group), `deterministic` (a function of (prompt,
answer): what algo.exact allows), `pays_format` (pays the format answer; on a sequence
task, the response's format marker; the task needs one), `updates` (False: no update at
all, the null anchor), `reads_likelihood` (the rewards depend on the responses'
likelihoods under the sampling policy pi_old: the numpy form is called with `lik=` (G,)
and `param=` (the packed value of `param`), the numba form reads `lik`; the engines
compute the likelihoods only for such a reward, so every other reward runs as before).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from simrl.registry import Registry


class PromptFacts(NamedTuple):
    correct: np.ndarray  # (K,) bool: which answers are correct
    format_answer: int  # index of the designated wrong "format" answer, -1 if none
    incorrect_label: int  # the fixed wrong label: the base policy's most likely wrong answer


@dataclass(frozen=True)
class Reward:
    name: str
    doc: str  # one line: what the reward pays
    source: str  # paper and equation, or the library file and function it follows
    numpy: Callable[..., Any]
    numba: Callable[..., Any]
    bridge: Callable[..., Any]
    #: E[r | y] as affine weights (p, flip) -> (w_c, w_nc, w_l, w_f, w_1); None: not a
    #: function of the response
    expectation: Callable[[float, float], tuple[float, ...]] | None = None
    #: the reward-config field the numba form reads as `param` (None: none)
    param: str | None = None
    #: the reward-config fields this module declares: name -> (type, param(default, doc, check))
    fields: dict[str, tuple[type, Any]] = field(default_factory=dict)
    uses_uniform: bool = False  # one uniform per response
    votes: bool = False  # reads the group's plurality answer (a tie uniform per group)
    deterministic: bool = False  # a function of (prompt, answer): allowed with algo.exact
    pays_format: bool = False  # pays the format answer / a sequence's format marker
    updates: bool = True  # False: no update at all (frozen)
    #: the rewards read the responses' likelihoods under pi_old (numpy: lik=, param=;
    #: numba: lik[row, :n]); the engines compute them only for such a reward
    reads_likelihood: bool = False
    code: int = -1  # the registration index (set by register)

    @property
    def fn(self) -> Callable[..., Any]:
        """The numpy reference form (the registries' common `fn`)."""
        return self.numpy

    def packed_param(self, reward: Any) -> float:
        """The run's value of `param` (0 when the reward reads none)."""
        return 0.0 if self.param is None else float(getattr(reward, self.param))


REWARDS = Registry("reward")


def register(entry: Reward) -> Reward:
    """Add a reward to REWARDS (its code is its registration index)."""
    if entry.fields and _FIELDS_FROZEN:
        raise ValueError(
            f"reward {entry.name!r} declares config fields {sorted(entry.fields)}, but the "
            "reward config was built when simrl.config was imported: a reward with new fields "
            "must be a built-in module (BUILTIN); one registered later can read existing fields only"
        )
    declared = {name for e in REWARDS for name in e.fields}
    for name in entry.fields:
        if name in declared:
            raise ValueError(f"reward {entry.name!r}: field {name!r} is already declared")
    return REWARDS.put(dataclasses.replace(entry, code=len(REWARDS)))


def unregister(name: str) -> None:
    """Remove the last-registered reward (tests register a toy one and remove it)."""
    REWARDS.remove(name)


_FIELDS_FROZEN = False


def declared_fields() -> list[tuple[str, type, Any]]:
    """Every reward's config fields, in registration order (simrl/config.py's
    RewardConfig); from then on a reward that declares fields can no longer be registered."""
    global _FIELDS_FROZEN
    _FIELDS_FROZEN = True
    return [(n, t, f) for e in REWARDS for n, (t, f) in e.fields.items()]


def call_numpy(entry: Reward, answers, facts, u, u_tie, *, reward, lik=None):
    """The numpy form of `entry` on one group, with the run's reward config `reward`:
    `lik` (G,), the responses' likelihoods under pi_old, is passed (with the packed
    `param`) only to a reward with `reads_likelihood`."""
    kw = {}
    if entry.reads_likelihood:
        if lik is None:
            raise ValueError(f"reward {entry.name!r} needs the responses' likelihoods")
        kw = {"lik": np.asarray(lik, dtype=float), "param": entry.packed_param(reward)}
    return entry.numpy(answers, facts, u, u_tie, p=reward.p, flip=reward.flip, **kw)


def parsed_equal(answers, value) -> np.ndarray:
    """1.0 where a parsed answer (an int, or None) equals value (the bridge's forms)."""
    return np.array([a is not None and a == value for a in answers], dtype=float)
