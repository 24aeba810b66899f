"""The policy-loss registry (verl's `@register_policy_loss` names), one module per loss in
simrl/algorithms/losses/: each holds its citation, config fields, capability flags and
its numpy (specification), numba and torch forms (simrl/algorithms/policy_loss.py).

Every loss maps a minibatch of N tokens (`TokenBatch`) to a `LossOut`: the per-token loss,
its derivative with respect to the token's current log-probability (`dlogp`, what the
engine chains through d logp / d logits = e_a - pi), and the token masks the metrics
count (clipping by side, tokens selected by a covariance rule). Aggregation over tokens
is separate (simrl/aggregation.py), as in verl. This module gathers the names other code
uses.
"""

from simrl.algorithms.losses import POLICY_LOSSES
from simrl.algorithms.losses.covariance import COV_RANK_GRID, covariance_rank, token_covariance
from simrl.algorithms.losses.ppo_clip import ppo_clip
from simrl.algorithms.losses.steer import STEER_K_FLOOR, steer_omega, steer_weights
from simrl.algorithms.tokens import LossOut, TokenBatch

__all__ = [
    "COV_RANK_GRID",
    "POLICY_LOSSES",
    "STEER_K_FLOOR",
    "LossOut",
    "TokenBatch",
    "covariance_rank",
    "ppo_clip",
    "steer_omega",
    "steer_weights",
    "token_covariance",
]
