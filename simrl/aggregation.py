"""Loss aggregation over tokens: verl's `agg_loss` modes, as per-token weights.

Every mode is linear in the per-token losses, so each is a weight matrix W with
loss = sum(W * loss_mat); the engine accumulates gradients with these weights.
`mask` is (B, T): 1 for the response tokens of each of the B sequences of a minibatch.
Source: volcengine/verl, verl/trainer/ppo/core_algos.py, `agg_loss`.
For one-token bandit responses the three mean modes coincide and
`seq-mean-token-sum-norm` is a plain sum (its divisor T is 1).
"""

from __future__ import annotations

import numpy as np

from simrl.registry import Registry

AGGREGATIONS = Registry("loss aggregation")


@AGGREGATIONS.register("token-mean", "sum(loss * mask) / sum(mask): every token counts once (DAPO)")
def token_mean(mask: np.ndarray) -> np.ndarray:
    return mask / mask.sum()


@AGGREGATIONS.register(
    "seq-mean-token-mean",
    "mean over sequences of the per-sequence token mean (the original GRPO objective)",
)
def seq_mean_token_mean(mask: np.ndarray) -> np.ndarray:
    return mask / mask.sum(axis=1, keepdims=True) / mask.shape[0]


@AGGREGATIONS.register("seq-mean-token-sum", "mean over sequences of the per-sequence token sum")
def seq_mean_token_sum(mask: np.ndarray) -> np.ndarray:
    return mask / mask.shape[0]


@AGGREGATIONS.register(
    "seq-mean-token-sum-norm",
    "sum(loss * mask) / T with T the padded response length, a constant (Dr. GRPO, arXiv "
    "2503.20783); note verl divides by T only, not by the number of sequences",
)
def seq_mean_token_sum_norm(mask: np.ndarray) -> np.ndarray:
    return mask / mask.shape[1]
