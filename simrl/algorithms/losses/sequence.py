"""Per-response reductions the sequence-level losses share (luspo, vespo, opsm): their
numpy and torch forms (the numba form is numba_helpers.response_log_ratio).

A minibatch's tokens carry their response index `seq` (simrl/algorithms/tokens.py); a
reduction sums a per-token quantity over each response and hands every token its
response's value. A bandit answer is its own response, so there a reduction is the
identity. The sums run in token order, as the numba form's.

The sequence-level rules here are written so that each token's loss depends on its own
log-probability only (the response's value enters detached, as in GSPO-token, arXiv
2507.18071): their `dlogp` is then the derivative of the summed token losses, as
for every other loss, and the forking-token mask and the aggregation weights act per
token in all three engines alike. Under an aggregation whose weight is the same for all
tokens of a response (all of simrl/aggregation.py's modes) this equals the gradient of
the per-response objective that TRL differentiates through the response mean
(tests/parity/test_trl.py checks it against TRL's code).
"""

from __future__ import annotations

import numpy as np

#: TRL's per-token clamp of log(pi / pi_old) before VESPO's sum (grpo_trainer.py
#: get_gamma_weights: torch.clamp(log_ratio_per_token, -20.0, 20.0))
NO_CLAMP = np.inf


def response_log_ratio(
    logp: np.ndarray, logp_old: np.ndarray, seq: np.ndarray, mean: bool, clamp: float = NO_CLAMP
) -> np.ndarray:
    """(N,) per token: the sum (mean when `mean`) over its response of
    clip(logp - logp_old, -clamp, clamp)."""
    _, inv, count = np.unique(seq, return_inverse=True, return_counts=True)
    x = np.clip(logp - logp_old, -clamp, clamp)
    total = np.bincount(inv, weights=x, minlength=count.size)
    return (total / count if mean else total)[inv]


def response_log_ratio_torch(logp, logp_old, seq, mean: bool, clamp: float = NO_CLAMP):
    """response_log_ratio of tensors (with gradient through logp)."""
    import torch

    _, inv, count = torch.unique(seq, return_inverse=True, return_counts=True)
    x = torch.clamp(logp - logp_old, -clamp, clamp)
    total = torch.zeros(count.shape, dtype=x.dtype, device=x.device).index_add(0, inv, x)
    return (total / count if mean else total)[inv]
