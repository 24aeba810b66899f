"""seq-mean-token-sum-norm: sum(loss * mask) / T, with T the padded response length, a
constant. verl divides by T only, not by the number of sequences; for one-token bandit
responses (T = 1) it is a plain sum.

Source: volcengine/verl, verl/trainer/ppo/core_algos.py, `agg_loss` with
loss_agg_mode = "seq-mean-token-sum-norm"; Dr. GRPO (Liu et al. 2025, arXiv 2503.20783),
Eq. 3's constant normaliser.
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms.aggregation import Aggregation, register


def numpy_form(mask: np.ndarray) -> np.ndarray:
    return mask / mask.shape[1]


def numba_form(exact, n_tokens, n_seq, max_len, length):
    return 1.0 / max_len


ENTRY = register(
    Aggregation(
        name="seq-mean-token-sum-norm",
        doc="sum(loss * mask) / T with T the padded response length, a constant (Dr. GRPO, arXiv "
        "2503.20783); note verl divides by T only, not by the number of sequences",
        source="verl core_algos.agg_loss 'seq-mean-token-sum-norm'; Dr. GRPO (arXiv 2503.20783)",
        numpy=numpy_form,
        numba=numba_form,
        fixed_weight=True,
    )
)
