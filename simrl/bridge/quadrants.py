"""STEER's four quadrants on the bridge (`run.audit_quadrants`): the probe breakdown's
entropy change split by the sign of the token's advantage and whether the token is more
or less likely than its state's average (theory/NOTES.md, "STEER's four quadrants"; the
simulator's form is simrl/engine/dh_breakdown.py `quadrant_metrics`, same names
QUADRANT_METRICS and meaning).

A token's quadrant is 2 [A <= 0] + [log pi_old(a) + H_old <= 0] (A the advantage the loss
reads, the entropy-based term included; H_old the full-vocabulary entropy of pi_old at
the token's prefix), QUADRANTS order. Per probe:

    dH_q_<quadrant>        the sum of the one-token first-order changes of the quadrant's
                           tokens generated at the probe (the tabular prediction, as
                           dH_token_sum; 0 at a probe no token of the quadrant visited).
                           The four sum to dH_token_sum up to rounding.
    dH_q_<quadrant>_alone  H(z_q) - H(z0): z_q the probe's logits at theta0 + D_q, D_q the
                           quadrant's share of the update's parameter steps,
                           D_q = sum_u -lr c_u sum_{t in q, minibatch u} coef_t grad_theta
                           logp_t(theta_u), coef_t = d loss / d logp_t of the policy loss
                           and a sampled KL term (the probe breakdown's coefficient),
                           evaluated at each update's own parameters theta_u, c_u the
                           update's gradient-clip factor (1 without bridge.max_grad_norm).
                           Every token of the quadrant counts, wherever it was generated:
                           on a network the probes also move by the other prefixes' tokens.
    dH_q_residual          dH_exact - sum_q dH_q.

With a tabular model (the parameters are the logits, grad_z logp_t = e_a - pi_u) D_q is
the simulator's quadrant displacement exactly, so the metrics equal the reference's
(tests/bridge/test_quadrants.py, 1e-10). With sgd, one update and no exact KL or entropy
term, sum_q D_q is the update's parameter step; the alone changes do not add up to
dH_exact (entropy is not linear in the step, and on a network the logits are not linear
in the parameters either): their sum's gap to dH_exact is the quadrants' interaction.
The split needs optim.kind = 'sgd' (an Adam step is not a sum of per-token steps; the
config refuses it otherwise).

Cost, only when asked: per minibatch four more backward passes through the retained graph
(one per quadrant with tokens), and five parameter-sized buffers (theta0 and the four
D_q; a sixth while the alone logits are computed), then four probe forwards per step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from simrl.engine.dh_breakdown import QUADRANT_METRICS, QUADRANTS
from simrl.theory import entropy

__all__ = ["QUADRANTS", "QUADRANT_METRICS", "QuadrantSums", "quadrant_of", "quadrant_rows"]


def quadrant_of(adv: torch.Tensor, logp_old: torch.Tensor, h_old: torch.Tensor) -> torch.Tensor:
    """Each token's quadrant (int64), 2 [A <= 0] + [log pi_old(a) + H_old <= 0], compared
    in float64 (simrl/engine/dh_breakdown.py `BreakdownSums.add_quadrants`)."""
    lik = (logp_old.detach().double() + h_old.detach().double()) <= 0
    return 2 * (adv.detach().double() <= 0).long() + lik.long()


@dataclass
class QuadrantSums:
    """A step's quadrant sums: the first-order terms at the probes and each quadrant's
    parameter displacement D_q (the module doc)."""

    first: np.ndarray  # (4, n_probes) one-token first-order changes, QUADRANTS order
    theta0: list[torch.Tensor]  # the parameters at the step's start
    dtheta: list[list[torch.Tensor]]  # 4 x parameters: D_q

    @classmethod
    @torch.no_grad()
    def start(cls, n_probes: int, params: list[torch.Tensor]) -> QuadrantSums:
        return cls(
            np.zeros((4, n_probes)),
            [p.detach().clone() for p in params],
            [[torch.zeros_like(p) for p in params] for _ in range(4)],
        )

    def add_first(self, probe: np.ndarray, quad: np.ndarray, one_token: np.ndarray) -> None:
        """Add tokens' one-token first-order changes to their (quadrant, probe)."""
        np.add.at(self.first, (quad, probe), one_token)

    def add_steps(self, params, lp, coef, quad, step: float) -> None:
        """Add a minibatch's quadrant displacements: D_q += -step grad_theta sum_{t in q}
        coef_t logp_t, step = lr x the update's clip factor; lp (N,) the tokens' log-probs
        in the update's graph (retained), coef (N,) detached."""
        for k in range(4):
            m = quad == k
            if not bool(m.any()):
                continue
            surrogate = (coef.detach() * m.to(coef.dtype) * lp).sum()
            grads = torch.autograd.grad(surrogate, params, retain_graph=True, allow_unused=True)
            with torch.no_grad():
                for d, g in zip(self.dtheta[k], grads, strict=True):
                    if g is not None:
                        d.add_(g, alpha=-step)

    @torch.no_grad()
    def alone_logits(self, params, probe_logits: Callable[[], np.ndarray]) -> list[np.ndarray]:
        """The probes' logits at theta0 + D_q for each quadrant (`probe_logits()` reads the
        model whose parameters are `params`); the parameters are restored bitwise."""
        now = [p.detach().clone() for p in params]
        out = []
        try:
            for k in range(4):
                for p, p0, d in zip(params, self.theta0, self.dtheta[k], strict=True):
                    p.copy_(p0 + d)
                out.append(probe_logits())
        finally:
            for p, v in zip(params, now, strict=True):
                p.copy_(v)
        return out


def quadrant_rows(z0: np.ndarray, z1: np.ndarray, first: np.ndarray, alone) -> np.ndarray:
    """(n_probes, 9) per-probe QUADRANT_METRICS: the four first-order terms, the four alone
    changes H(z_q) - H(z0), the residual dH_exact - sum of the first-order terms."""
    h0 = entropy(z0)
    exact = entropy(z1) - h0
    cols = [*first, *(entropy(zq) - h0 for zq in alone), exact - first.sum(axis=0)]
    return np.stack(cols, axis=1)
