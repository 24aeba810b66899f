"""The rollout sampler's truncated importance sampling in the loss (algo.tis): each
token's weight rho (the token table's row TF_IS, filled by kernels/rollout_sampler.py)
multiplies its d loss / d logp, so it scales the policy loss only, not the KL or entropy
terms (reference.token_gradient: `policy * tokens.is_weight`; TRL 1.16.0
`GRPOTrainer._compute_loss`: per_token_loss * importance_sampling_ratio; verl 0.9.1
`compute_policy_loss_*`: pg_losses * rollout_is_weights). The update kernels call it
right after the run's policy loss, when the run's I_TIS flag is set."""

from __future__ import annotations

from numba import njit

from simrl.algorithms.tokens import TF_DLOGP, TF_IS


@njit(cache=True)
def apply_tis(tf, b0, N):
    """tf[TF_DLOGP, b0 + t] *= tf[TF_IS, b0 + t] for the minibatch's N tokens."""
    for t in range(b0, b0 + N):
        tf[TF_DLOGP, t] *= tf[TF_IS, t]
