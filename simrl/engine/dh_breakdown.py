"""The dH breakdown (`run.audit = true`) in the numpy reference: the per-state sums a
step's token evaluations add, the per-state rows of the exact entropy change and its six
predictions, and their means over the moved states (docs/architecture.md, "Five things
once called audit"; theory/NOTES.md). engine/reference.py and sequence_ref.py fill the
sums; the numba form is engine/kernels/breakdown.py."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simrl.metrics import AUDIT_METRICS, AUDIT_PROMPT_COLUMNS
from simrl.theory import (
    cui_theorem1,
    entropy,
    first_order_entropy_change,
    second_order_entropy_change,
)


@dataclass
class BreakdownSums:
    """Per-state sums over a step's token evaluations (run.audit; theory/NOTES.md)."""

    weight: np.ndarray  # (S,) total aggregation weight: Cui's Theorem 1 uses eta = lr * weight
    token: np.ndarray  # (S,) one-token first-order changes
    steer_code: np.ndarray  # (S,) -lr w_t Omega_t, STEER's public-code Omega (signed)
    steer_eq14: np.ndarray  # (S,) STEER Eq. 14 with the token's loss weight
    #: run.audit_quadrants: (4, S) one-token first-order changes per STEER quadrant and
    #: (4, S, K) each quadrant's own sgd displacement (QUADRANTS order); None when off
    quadrant: np.ndarray | None = None
    quadrant_dz: np.ndarray | None = None

    @classmethod
    def zeros(cls, S: int, K: int = 0, quadrants: bool = False) -> BreakdownSums:
        if not quadrants:
            return cls(*(np.zeros(S) for _ in range(4)))
        return cls(*(np.zeros(S) for _ in range(4)), np.zeros((4, S)), np.zeros((4, S, K)))

    def add_quadrants(self, s_t, a_t, adv, logp_old, h_old, one_token, coef, pi, lr) -> None:
        """Add a minibatch's tokens to their quadrants (theory/NOTES.md, "STEER's four
        quadrants"): quadrant 2 [A <= 0] + [log pi_old(a) + H_old <= 0]; each token's
        one-token first-order change, and its sgd displacement -lr coef_t (e_a - pi) at the
        update's logits (pi: their softmax)."""
        q = 2 * (adv <= 0) + (logp_old + h_old <= 0)
        S = self.quadrant.shape[1]
        for k in range(4):
            m = q == k
            if not m.any():
                continue
            np.add.at(self.quadrant[k], s_t[m], one_token[m])
            np.add.at(self.quadrant_dz[k], (s_t[m], a_t[m]), -lr * coef[m])
            self.quadrant_dz[k] += (
                lr * np.bincount(s_t[m], weights=coef[m], minlength=S)[:, None] * pi
            )


#: STEER's quadrants: sign of the advantage x the token's log-probability under pi_old
#: against its mean -H_old ("likely": log pi_old(a) > -H_old)
QUADRANTS = ("pos_likely", "pos_unlikely", "neg_likely", "neg_unlikely")
#: run.audit_quadrants' update metrics: per quadrant the first-order term (sum of its
#: tokens' one-token changes) and its displacement's exact change alone, then the
#: residual dH_exact - the four first-order terms (theory/NOTES.md)
QUADRANT_METRICS = (
    *(f"dH_q_{q}" for q in QUADRANTS),
    *(f"dH_q_{q}_alone" for q in QUADRANTS),
    "dH_q_residual",
)


def quadrant_metrics(z0, z, h_old, moved, sums: BreakdownSums) -> dict:
    """Means over the moved states of QUADRANT_METRICS (NaN when nothing moved)."""
    if not moved.any():
        return dict.fromkeys(QUADRANT_METRICS, np.nan)
    first = sums.quadrant[:, moved]  # (4, n)
    alone = np.stack(
        [entropy(z0[moved] + sums.quadrant_dz[k][moved]) - h_old[moved] for k in range(4)]
    )
    exact = entropy(z[moved]) - h_old[moved]
    values = [*first.mean(axis=1), *alone.mean(axis=1), (exact - first.sum(axis=0)).mean()]
    return {n: float(v) for n, v in zip(QUADRANT_METRICS, values, strict=True)}


def breakdown_table(
    lr: float, z0, z, h_old, moved, breakdown: BreakdownSums, adv: np.ndarray
) -> np.ndarray:
    """(S, 7) breakdown rows of the moved states, given their exact expected advantages
    adv (n_moved, K) under the sampling policy; NaN rows elsewhere."""
    out = np.full((z.shape[0], len(AUDIT_PROMPT_COLUMNS)), np.nan)
    zm, dz = z0[moved], (z - z0)[moved]
    eta = lr * breakdown.weight[moved][:, None]
    out[moved] = np.stack(
        [
            entropy(z[moved]) - h_old[moved],
            first_order_entropy_change(zm, dz),
            second_order_entropy_change(zm, dz),
            cui_theorem1(zm, adv, eta),
            breakdown.token[moved],
            breakdown.steer_code[moved],
            breakdown.steer_eq14[moved],
        ],
        axis=1,
    )
    return out


def breakdown_metrics(per_state: np.ndarray | None, moved: np.ndarray) -> dict:
    """Means over the moved states of the dH breakdown's predictions (NaN when run.audit is off)."""
    if per_state is None or not moved.any():
        return dict.fromkeys(AUDIT_METRICS, np.nan)
    means = per_state[moved].mean(axis=0)
    return {name: float(means[AUDIT_PROMPT_COLUMNS.index(name)]) for name in AUDIT_METRICS}
