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

    @classmethod
    def zeros(cls, S: int) -> BreakdownSums:
        return cls(*(np.zeros(S) for _ in range(4)))


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
