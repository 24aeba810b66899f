"""Per-token policy losses in torch, under the simulator's registry names and semantics.

Each loss's torch form lives in its own module beside its numpy specification and numba
form (simrl/algorithms/losses/<name>.py); TORCH_LOSSES gives them by name: `fn` maps a
`TorchTokens` batch of N tokens, whose `logp` carries gradient, to a `TorchLossOut`
(per-token loss and the masks the metrics count). The derivative of each loss with
respect to logp equals the numpy `LossOut.dlogp` (tests/bridge/test_parity.py). Token
selection (Clip-Cov's random choice, KL-Cov's top-k, STEER's weights) is not
differentiable and is computed by the numpy forms' own helpers on detached values, so
the rule is literally the simulator's.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from simrl.algorithms.losses import POLICY_LOSSES
from simrl.algorithms.tokens import TorchLossOut, TorchTokens


class _TorchEntry(NamedTuple):
    name: str
    fn: object
    doc: str


class _TorchLosses:
    """POLICY_LOSSES seen through their torch forms (the losses with `bridge = True`)."""

    def __getitem__(self, name: str) -> _TorchEntry:
        e = POLICY_LOSSES[name]
        if not e.bridge:
            raise KeyError(f"policy loss {name!r} has no torch form (bridge = False)")
        return _TorchEntry(e.name, e.torch, e.doc)

    def __contains__(self, name: object) -> bool:
        return name in POLICY_LOSSES and POLICY_LOSSES[name].bridge

    def __iter__(self):
        return (self[e.name] for e in POLICY_LOSSES if e.bridge)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(e.name for e in POLICY_LOSSES if e.bridge)


TORCH_LOSSES = _TorchLosses()

__all__ = ["TORCH_LOSSES", "TorchLossOut", "TorchTokens", "exact_kl", "sampled_kl"]


# ---- KL to the reference (simrl/kl.py: Schulman 2020's estimators; exact full-vocab KLs) ----


def sampled_kl(kind: str, logp: torch.Tensor, logp_ref: torch.Tensor) -> torch.Tensor:
    """k1 = x, k2 = x^2 / 2, k3 = e^{-x} - 1 + x with x = logp - logp_ref (simrl/kl.py)."""
    x = logp - logp_ref
    if kind == "k1":
        return x
    if kind == "k2":
        return 0.5 * x * x
    if kind == "k3":
        return torch.exp(-x) - 1.0 + x
    raise KeyError(kind)


def exact_kl(kind: str, logp_all: torch.Tensor, logp_ref_all: torch.Tensor) -> torch.Tensor:
    """Full-vocabulary KL at each prefix (..., V) -> (...): reverse KL(pi || ref) or
    forward KL(ref || pi) (simrl/kl.py, theory/NOTES.md "KL gradients")."""
    if kind == "exact_reverse":
        return (logp_all.exp() * (logp_all - logp_ref_all)).sum(-1)
    if kind == "exact_forward":
        return (logp_ref_all.exp() * (logp_ref_all - logp_all)).sum(-1)
    raise KeyError(kind)
