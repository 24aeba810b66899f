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

from simrl.algorithms.kl_estimators import KL_ESTIMATORS
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


# ---- KL to the reference: each estimator's torch form (simrl/algorithms/kl_estimators/) ----


def sampled_kl(
    kind: str,
    logp: torch.Tensor,
    logp_ref: torch.Tensor,
    logp_old: torch.Tensor | None = None,
) -> torch.Tensor:
    """The sampled estimator `kind` per token (k1 = x, k2 = x^2 / 2, k3 = e^{-x} - 1 + x
    with x = logp - logp_ref; k3_ratio also reads logp_old): KL_ESTIMATORS[kind].torch."""
    e = KL_ESTIMATORS[kind]
    if not e.sampled:
        raise KeyError(f"KL estimator {kind!r} is exact, not sampled")
    if e.reads_ratio:
        if logp_old is None:
            raise ValueError(f"KL estimator {kind!r} reads the ratio: pass logp_old")
        return e.torch(logp, logp_ref, logp_old)
    return e.torch(logp, logp_ref)


def exact_kl(kind: str, logp_all: torch.Tensor, logp_ref_all: torch.Tensor) -> torch.Tensor:
    """Full-vocabulary KL at each prefix (..., V) -> (...): reverse KL(pi || ref) or
    forward KL(ref || pi) (theory/NOTES.md "KL gradients"): KL_ESTIMATORS[kind].torch."""
    e = KL_ESTIMATORS[kind]
    if e.sampled:
        raise KeyError(f"KL estimator {kind!r} is sampled, not exact")
    return e.torch(logp_all, logp_ref_all)
