"""The per-response mean the sequence-level losses share (GSPO's log-ratio, GMPO's clipped
log-ratio): numpy and torch forms (the numba form is numba_helpers.response_mean).

A token batch carries, per token, its response's index `seq` in the step's batch and that
response's `length` (simrl/algorithms/tokens.py); a minibatch holds whole responses, so
the mean of x over token t's response is sum_{t': seq t' = seq t} x_t' / length_t. A
bandit answer is a response of length 1: the mean is the token's own value.
"""

from __future__ import annotations

import numpy as np


def response_mean(x: np.ndarray, seq: np.ndarray, length: np.ndarray) -> np.ndarray:
    """(N,) per token: the mean of x over the tokens of its response (sums in token order)."""
    if x.size == 0:
        return x.copy()
    index = seq - seq.min()
    return np.bincount(index, weights=x)[index] / length


def response_mean_torch(x, seq, length):
    """response_mean for torch tensors (x detached by the caller where the rule says sg)."""
    import torch

    if x.numel() == 0:
        return x.clone()
    index = (seq - seq.min()).long()
    sums = torch.zeros(int(index.max()) + 1, dtype=x.dtype, device=x.device)
    return sums.index_add(0, index, x)[index] / length.to(x.dtype)
