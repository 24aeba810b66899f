"""The controllers (simrl/controllers.py) on the bridge: one replicate's state, the
entropy coefficient an update applies, the measured entropy after each optimiser update,
and TR-DPO's mix of the reference model's parameters (TRL 1.16.0
`SyncRefModelCallback._sync_target_model`: target.mul_(1 - alpha).add_(param,
alpha=alpha), parameter by parameter). As on the simulator, a mix takes effect from the
next step: the update's mixes go to a pending copy of the reference's parameters, which
`end_step` writes into the reference model (TRL scores the reference when it generates)."""

from __future__ import annotations

import torch

from simrl import controllers


class BridgeControl:
    def __init__(self, a, params: list[torch.Tensor], ref_params: list[torch.Tensor]):
        self.a = a
        self.state = controllers.initial(a)
        self.params, self.ref_params = params, ref_params
        self.pending: list[torch.Tensor] | None = None

    def entropy_coef(self) -> float:
        return controllers.applied_entropy_coef(self.a, self.state)

    @torch.no_grad()
    def after_update(self, h: torch.Tensor, keep: torch.Tensor) -> None:
        """h, keep: the update's tokens' current entropies and forking mask (TRL's
        entropies and effective_mask)."""
        kept = keep.to(h.dtype)
        e = float((h * kept).sum() / kept.sum().clamp(min=1.0))
        self.state, _ = controllers.after_update(self.a, self.state, e, None, None)
        if controllers.sync_due(self.a, self.state):
            if self.pending is None:
                self.pending = [r.detach().clone() for r in self.ref_params]
            alpha = self.a.ref_mixup_alpha
            for target, p in zip(self.pending, self.params, strict=True):
                target.mul_(1.0 - alpha).add_(p.detach(), alpha=alpha)

    @torch.no_grad()
    def end_step(self) -> None:
        if self.pending is not None:
            for r, new in zip(self.ref_params, self.pending, strict=True):
                r.copy_(new)
            self.pending = None
