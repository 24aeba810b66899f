"""token-sum: sum(loss * mask), every token of the minibatch counts 1.

Source: volcengine/verl 0.9.1, verl/trainer/ppo/core_algos.py, `agg_loss` with
loss_agg_mode = "token-sum" (verl_F.masked_sum(loss_mat, loss_mask) * dp_size; one
process here, dp_size = 1).
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms.aggregation import Aggregation, register


def numpy_form(mask: np.ndarray) -> np.ndarray:
    return mask.astype(np.float64)


def numba_form(exact, n_tokens, n_seq, max_len, length):
    return 1.0


ENTRY = register(
    Aggregation(
        name="token-sum",
        doc="sum(loss * mask): every token counts 1 (verl 'token-sum')",
        source="verl 0.9.1 core_algos.agg_loss 'token-sum'",
        numpy=numpy_form,
        numba=numba_form,
        fixed_weight=True,
    )
)
