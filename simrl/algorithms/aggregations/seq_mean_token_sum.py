"""seq-mean-token-sum: the mean over sequences of each sequence's token sum.

Source: volcengine/verl, verl/trainer/ppo/core_algos.py, `agg_loss` with
loss_agg_mode = "seq-mean-token-sum".
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms.aggregation import Aggregation, register


def numpy_form(mask: np.ndarray) -> np.ndarray:
    return mask / mask.shape[0]


def numba_form(exact, n_tokens, n_seq, max_len, length):
    return 1.0 / n_seq


ENTRY = register(
    Aggregation(
        name="seq-mean-token-sum",
        doc="mean over sequences of the per-sequence token sum",
        source="verl core_algos.agg_loss 'seq-mean-token-sum'",
        numpy=numpy_form,
        numba=numba_form,
        fixed_weight=True,
    )
)
