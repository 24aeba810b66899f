"""Per-response reductions the sequence-level losses share: the mean of a per-token value
over its response (GSPO's log-ratio, GMPO's clipped log-ratio) and the sum or mean of the
clamped log-ratio log(pi / pi_old) (LUSPO, VESPO, OPSM). numpy and torch forms here, one
core each (`response_reduce`); the numba forms are numba_helpers.response_reduce,
response_mean and response_log_ratio.

A token batch carries, per token, its response's index `seq` in the step's batch
(simrl/algorithms/tokens.py); a minibatch holds whole responses, so a reduction sums a
per-token quantity over the tokens with the same `seq`, in token order, and hands every
token its response's value (the mean divides by the token's `length`, the response's
length, which a caller may set: tests/parity/test_verl.py feeds verl's |y| + 1e-8).
A bandit answer is its own response (length 1), so there a reduction is the identity.

The sequence-level rules are written so that each token's loss depends on its own
log-probability only (the response's value enters detached, as in GSPO-token, arXiv
2507.18071): their `dlogp` is then the derivative of the summed token losses, as for
every other loss, and the forking-token mask and the aggregation weights act per token in
all three engines alike. Under an aggregation whose weight is the same for all tokens of
a response (all of simrl/aggregation.py's modes) this equals the gradient of the
per-response objective that TRL differentiates through the response mean
(tests/parity/test_trl.py checks it against TRL's code).
"""

from __future__ import annotations

import numpy as np

#: no clamp of the per-token log-ratio (VESPO passes TRL's 20)
NO_CLAMP = np.inf


def response_reduce(
    x: np.ndarray, seq: np.ndarray, mean: bool, length: np.ndarray | None = None
) -> np.ndarray:
    """(N,) per token: the sum (mean when `mean`) of x over the tokens of its response
    (sums in token order: np.bincount adds its input in order). The mean divides by the
    token's `length` (the response's length as the token batch carries it), or with
    length None by the response's token count."""
    if x.size == 0:
        return x.copy()
    _, inv, count = np.unique(seq, return_inverse=True, return_counts=True)
    total = np.bincount(inv, weights=x, minlength=count.size)
    if not mean:
        return total[inv]
    return total[inv] / (count[inv] if length is None else length)


def response_mean(x: np.ndarray, seq: np.ndarray, length: np.ndarray) -> np.ndarray:
    """(N,) per token: the mean of x over the tokens of its response, over its length."""
    return response_reduce(x, seq, True, length)


def response_log_ratio(
    logp: np.ndarray, logp_old: np.ndarray, seq: np.ndarray, mean: bool, clamp: float = NO_CLAMP
) -> np.ndarray:
    """(N,) per token: the sum (mean when `mean`) over its response of
    clip(logp - logp_old, -clamp, clamp)."""
    return response_reduce(np.clip(logp - logp_old, -clamp, clamp), seq, mean)


def response_reduce_torch(x, seq, mean: bool, length=None):
    """response_reduce of tensors (with gradient through x; the caller detaches x where
    the rule says sg)."""
    import torch

    if x.numel() == 0:
        return x.clone()
    _, inv, count = torch.unique(seq, return_inverse=True, return_counts=True)
    total = torch.zeros(count.shape, dtype=x.dtype, device=x.device).index_add(0, inv, x)
    if not mean:
        return total[inv]
    return total[inv] / (count[inv] if length is None else length).to(x.dtype)


def response_mean_torch(x, seq, length):
    """response_mean of tensors."""
    return response_reduce_torch(x, seq, True, length)


def response_log_ratio_torch(logp, logp_old, seq, mean: bool, clamp: float = NO_CLAMP):
    """response_log_ratio of tensors (with gradient through logp)."""
    import torch

    return response_reduce_torch(torch.clamp(logp - logp_old, -clamp, clamp), seq, mean)
