"""token-sum-norm: sum(loss * mask) / c, with c = algo.loss_scale_factor, or the padded
response length T when it is 0; not divided by the number of sequences. For one-token
bandit responses (T = 1) it is a plain sum (token-sum).

Source: the rule of simrl's `seq-mean-token-sum-norm` before issue 17, which followed
verl's older `agg_loss` (seq-mean-token-sum-norm = sum(loss * mask) / loss_mask.shape[-1],
before verl PR 5417 added the division by the number of sequences); Dr. GRPO (arXiv
2503.20783) Eq. 3's constant normaliser without the 1 / G. Kept under this explicit name:
at loss_scale_factor = 0 it computes exactly what `seq-mean-token-sum-norm` did.
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms.aggregation import Aggregation, register


def numpy_form(mask: np.ndarray, scale: float | None = None) -> np.ndarray:
    """scale: the constant (loss_scale_factor); None = the padded length T = mask.shape[1]."""
    scale = mask.shape[1] if scale is None else scale
    return mask / scale


def numba_form(exact, n_tokens, n_seq, max_len, length, scale):
    return 1.0 / scale


ENTRY = register(
    Aggregation(
        name="token-sum-norm",
        doc="sum(loss * mask) / c with c = algo.loss_scale_factor (the padded length T when 0), "
        "not divided by the sequences: simrl's seq-mean-token-sum-norm before issue 17 (older verl)",
        source="older verl core_algos.agg_loss 'seq-mean-token-sum-norm' (before verl PR 5417); "
        "Dr. GRPO (arXiv 2503.20783)",
        numpy=numpy_form,
        numba=numba_form,
        fixed_weight=True,
        reads_scale=True,
    )
)
