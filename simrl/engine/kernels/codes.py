"""Column indices of the packed per-run parameters (packing.py) and the codes of the one
switch the kernels write by hand (dynamic sampling). The algorithms have none here: the
policy losses, advantage estimators and optimisers reach the kernels as compiled
functions (simrl/algorithms/), the KL estimators, aggregation modes and rewards through an
if-chain on their registry codes generated from the registries (kernels/dispatch.py).

Literal constants: numba freezes them at compile time. `check_layout` ties the columns
to packing.py.
"""

from __future__ import annotations

from simrl.engine import reference
from simrl.engine.packing import DERIVED_FLOATS, FLOAT_FIELDS, INT_FIELDS, LATE_FLOAT_FIELDS
from simrl.metrics import STEP_KL_METRICS, UPDATE_METRICS
from simrl.theory.entropy import STEER_PROB_FLOOR as THEORY_STEER_PROB_FLOOR

F_LR, F_KL_COEF, F_ENT_COEF, F_ENT_ADV_ALPHA, F_ENT_ADV_KAPPA = 0, 1, 2, 3, 4
# packing.DERIVED_FLOATS: the reward's param, then its expectation weights w_c, w_nc, w_l,
# w_f, w_1
F_RPARAM, F_EW = 5, 6
# packing.LATE_FLOAT_FIELDS, after the derived floats
F_LOSS_SCALE = 11
I_REW, I_AGG, I_KLK, I_OPT_EVERY, I_DS, I_G, I_P, I_EPOCHS, I_MB = 0, 1, 2, 3, 4, 5, 6, 7, 8
I_REFRESET, I_EXACT, I_LOSS_ENT, I_ROUNDS = 9, 10, 11, 12
I_LSEL, I_LSAMPLE, I_LREWARD, I_LTIE, I_LCC, I_LTOTAL, I_BREAKDOWN, I_NTRAIN = (
    13, 14, 15, 16, 17, 18, 19, 20,
)  # fmt: skip
I_KL_SAMPLED, I_AGG_PER_LENGTH, I_REW_VOTES, I_REW_UPDATES, I_REW_FORMAT = 21, 22, 23, 24, 25
I_ADV_GREEDY = 26  # the advantage estimator reads the greedy response's reward (ReMax)
I_ENT_AGG = 27  # config.ENTROPY_AGG index: 0 like the loss (verl), 1 kept-token mean (TRL)
I_ADV_TOKEN = 28  # the estimator's baseline is per token (token_baseline: verl's OTB)
I_TIS = 29  # the rollout sampler's TIS weights multiply d loss / d logp (kernels/tis.py)

DS_OFF, DS_DROP, DS_RESAMPLE = 0, 1, 2

# ---- metric columns ------------------------------------------------------------------
#: reward_mean .. dH_first_order (9), the 5 dH breakdown metrics (run.audit), then
#: metrics.STEP_KL_METRICS (2)
N_UPD = 16
N_EVAL_FIXED = 8  # entropy mean/q10/q50/q90, kl_base, mass format/incorrect_label/base_top
STEER_PROB_FLOOR = 1e-8  # theory.entropy.STEER_PROB_FLOOR
FORK_TIE_TOL = 1e-12  # reference.FORK_TIE_TOL


def check_layout() -> None:
    """The constants here agree with packing.py and metrics.py (checked at import)."""
    assert (
        len(FLOAT_FIELDS) == F_RPARAM
        and len(DERIVED_FLOATS) == 6
        and F_RPARAM + len(DERIVED_FLOATS) == F_LOSS_SCALE
        and LATE_FLOAT_FIELDS == (("algo", "loss_scale_factor"),)
        and len(INT_FIELDS) == I_TIS + 1
        and I_ADV_GREEDY + 1 == I_ENT_AGG
        and I_ENT_AGG + 1 == I_ADV_TOKEN
        and I_ADV_TOKEN + 1 == I_TIS
        and len(UPDATE_METRICS) + len(STEP_KL_METRICS) == N_UPD
    )
    assert FORK_TIE_TOL == reference.FORK_TIE_TOL and STEER_PROB_FLOOR == THEORY_STEER_PROB_FLOOR


check_layout()
