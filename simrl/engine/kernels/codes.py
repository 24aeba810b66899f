"""Column indices of the packed per-run parameters and the registry codes the kernels switch
on by hand (the reward; the policy losses, advantage estimators and optimisers have none:
the kernels call their compiled forms, simrl/algorithms/; the KL estimators and the
aggregation modes are dispatched by an if-chain generated from their registries,
kernels/dispatch.py).

Literal constants: numba freezes them at compile time. `packing.check_codes` ties the
registry codes to the registries, and `check_layout` the columns to packing.py.
"""

from __future__ import annotations

from simrl.engine import reference
from simrl.engine.packing import DERIVED_FLOATS, FLOAT_FIELDS, INT_FIELDS, check_codes
from simrl.metrics import UPDATE_METRICS
from theory.entropy import STEER_PROB_FLOOR as THEORY_STEER_PROB_FLOOR

F_LR, F_P, F_FLIP, F_KL_COEF, F_ENT_COEF = 0, 1, 2, 3, 4
# the reward's expectation weights w_c, w_nc, w_l, w_f, w_1 (packing.DERIVED_FLOATS)
F_EW = 5
I_REW, I_AGG, I_KLK, I_OPT_EVERY, I_DS, I_G, I_P, I_EPOCHS, I_MB = 0, 1, 2, 3, 4, 5, 6, 7, 8
I_REFRESET, I_EXACT, I_LOSS_ENT, I_ROUNDS = 9, 10, 11, 12
I_LSEL, I_LSAMPLE, I_LREWARD, I_LTIE, I_LCC, I_LTOTAL, I_AUDIT, I_NTRAIN = (
    13, 14, 15, 16, 17, 18, 19, 20,
)  # fmt: skip
I_KL_SAMPLED, I_AGG_PER_LENGTH = 21, 22

# ---- registry codes (packing.EXPECTED_CODES) -------------------------------------------
R_TRUE, R_RANDOM, R_INCORRECT, R_FORMAT, R_SELFC, R_NOISY, R_FROZEN = 0, 1, 2, 3, 4, 5, 6
DS_OFF, DS_DROP, DS_RESAMPLE = 0, 1, 2

# ---- metric columns ------------------------------------------------------------------
N_UPD = 14  # reward_mean .. dH_first_order (9), then the 5 audit metrics
N_EVAL_FIXED = 8  # entropy mean/q10/q50/q90, kl_base, mass format/incorrect_label/base_top
STEER_PROB_FLOOR = 1e-8  # theory.entropy.STEER_PROB_FLOOR
FORK_TIE_TOL = 1e-12  # reference.FORK_TIE_TOL


def check_layout() -> None:
    """The constants here agree with packing.py and metrics.py (checked at import)."""
    check_codes()
    assert (
        len(FLOAT_FIELDS) == F_EW
        and len(DERIVED_FLOATS) == 5
        and len(INT_FIELDS) == I_AGG_PER_LENGTH + 1
        and len(UPDATE_METRICS) == N_UPD
    )
    assert FORK_TIE_TOL == reference.FORK_TIE_TOL and STEER_PROB_FLOOR == THEORY_STEER_PROB_FLOOR


check_layout()
