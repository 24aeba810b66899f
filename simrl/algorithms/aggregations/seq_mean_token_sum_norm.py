"""seq-mean-token-sum-norm: the mean over sequences of each sequence's token sum, divided
by a constant: sum(loss * mask) / B / c, with c = algo.loss_scale_factor, or the padded
response length T when it is 0 (verl's default). For one-token bandit responses
(T = 1) it is seq-mean-token-sum.

Source: volcengine/verl 0.9.1, verl/trainer/ppo/core_algos.py, `agg_loss` with
loss_agg_mode = "seq-mean-token-sum-norm": the seq-mean-token-sum branch (divided by
global_batch_size, the number of sequences with a response token) then
`loss /= loss_scale_factor` (None -> loss_mask.shape[-1]); the division by the number of
sequences is verl PR 5417's. Dr. GRPO (Liu et al. 2025, arXiv 2503.20783) Eq. 3's
constant normaliser. Until issue 17 simrl's mode of this name divided by T only, verl's
older rule; that rule is kept as `token-sum-norm` (no shipped study used the old
meaning).
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms.aggregation import Aggregation, register


def numpy_form(mask: np.ndarray, scale: float | None = None) -> np.ndarray:
    """scale: the constant (loss_scale_factor); None = the padded length T = mask.shape[1]."""
    scale = mask.shape[1] if scale is None else scale
    return mask / mask.shape[0] / scale


def numba_form(exact, n_tokens, n_seq, max_len, length, scale):
    return 1.0 / n_seq / scale


ENTRY = register(
    Aggregation(
        name="seq-mean-token-sum-norm",
        doc="sum(loss * mask) / B / c with B the sequences and c = algo.loss_scale_factor (the "
        "padded length T when 0): verl 0.9.1's rule (Dr. GRPO's constant normaliser)",
        source="verl 0.9.1 core_algos.agg_loss 'seq-mean-token-sum-norm' (verl PR 5417); "
        "Dr. GRPO (arXiv 2503.20783)",
        numpy=numpy_form,
        numba=numba_form,
        fixed_weight=True,
        reads_scale=True,
    )
)
