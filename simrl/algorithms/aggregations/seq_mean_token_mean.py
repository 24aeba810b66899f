"""seq-mean-token-mean: the mean over sequences of each sequence's token mean.

Source: volcengine/verl, verl/trainer/ppo/core_algos.py, `agg_loss` with
loss_agg_mode = "seq-mean-token-mean"; the original GRPO objective (Shao et al. 2024,
arXiv 2402.03300, Eq. 3: 1/G sum_i 1/|o_i| sum_t).
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms.aggregation import Aggregation, register


def numpy_form(mask: np.ndarray) -> np.ndarray:
    return mask / mask.sum(axis=1, keepdims=True) / mask.shape[0]


def numba_form(exact, n_tokens, n_seq, max_len, length):
    return 1.0 / (max_len if exact else length) / n_seq


ENTRY = register(
    Aggregation(
        name="seq-mean-token-mean",
        doc="mean over sequences of the per-sequence token mean (the original GRPO objective)",
        source="verl core_algos.agg_loss 'seq-mean-token-mean'; GRPO (arXiv 2402.03300) Eq. 3",
        numpy=numpy_form,
        numba=numba_form,
        per_length=True,
    )
)
