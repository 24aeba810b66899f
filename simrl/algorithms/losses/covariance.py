"""The token covariance of Clip-Cov and KL-Cov (Cui et al. 2025, arXiv 2505.22617,
Sec. 4.2; verl `compute_policy_loss_clip_cov` / `compute_policy_loss_kl_cov`): numpy form
(the torch forms select tokens with these same functions on detached values; the numba
form is numba_helpers.token_covariance)."""

from __future__ import annotations

import numpy as np

#: KL-Cov ranks covariances on this grid, so that equal ones tie exactly (broken by token
#: order): a zero-variance group's tokens have A = 0 but A - mean A = +-1e-17 (GRPO's
#: advantages sum to 0 up to rounding), and identical states of different prompts give
#: covariances that differ in the last bits; rounding must not pick the top k
#: (tests/engine/test_sequence_parity.py holds the numba engine to this ranking)
COV_RANK_GRID = 1e-9


def token_covariance(adv: np.ndarray, logp: np.ndarray) -> np.ndarray:
    """Cui et al. 2025 Eq. (Clip-Cov): (A - mean A) * (logp - mean logp) over the minibatch."""
    return (adv - adv.mean()) * (logp - logp.mean())


def covariance_rank(cov: np.ndarray) -> np.ndarray:
    """The covariance rounded to COV_RANK_GRID (half up), as a rank key."""
    return np.floor(cov * (1.0 / COV_RANK_GRID) + 0.5)


def detached(x) -> np.ndarray:
    """A torch tensor's values as float64 numpy (for the non-differentiable selections)."""
    return x.detach().double().cpu().numpy()
