"""token-mean: sum(loss * mask) / sum(mask), every token of the minibatch counts once.

Source: volcengine/verl, verl/trainer/ppo/core_algos.py, `agg_loss` with
loss_agg_mode = "token-mean"; DAPO (Yu et al. 2025, arXiv 2503.14476) Eq. 8's
token-level sum over sum_i |o_i|.
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms.aggregation import Aggregation, register


def numpy_form(mask: np.ndarray) -> np.ndarray:
    return mask / mask.sum()


def numba_form(exact, n_tokens, n_seq, max_len, length):
    return 1.0 / (n_seq * max_len) if exact else 1.0 / n_tokens


ENTRY = register(
    Aggregation(
        name="token-mean",
        doc="sum(loss * mask) / sum(mask): every token counts once (DAPO)",
        source="verl core_algos.agg_loss 'token-mean'; DAPO (arXiv 2503.14476) Eq. 8",
        numpy=numpy_form,
        numba=numba_form,
    )
)
