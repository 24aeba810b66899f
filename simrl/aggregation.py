"""Loss aggregation over tokens (verl's `agg_loss` modes, as per-token weights): a facade
over simrl/algorithms/aggregations/, one module per mode, kept so that every import of
simrl.aggregation keeps working. See simrl/algorithms/aggregation.py."""

from __future__ import annotations

from simrl.algorithms.aggregation import AGGREGATIONS, Aggregation
from simrl.algorithms.aggregations import BUILTIN
from simrl.algorithms.aggregations.seq_mean_token_mean import numpy_form as seq_mean_token_mean
from simrl.algorithms.aggregations.seq_mean_token_sum import numpy_form as seq_mean_token_sum
from simrl.algorithms.aggregations.seq_mean_token_sum_norm import (
    numpy_form as seq_mean_token_sum_norm,
)
from simrl.algorithms.aggregations.token_mean import numpy_form as token_mean
from simrl.algorithms.aggregations.token_sum import numpy_form as token_sum
from simrl.algorithms.aggregations.token_sum_norm import numpy_form as token_sum_norm

__all__ = [
    "AGGREGATIONS",
    "BUILTIN",
    "Aggregation",
    "seq_mean_token_mean",
    "seq_mean_token_sum",
    "seq_mean_token_sum_norm",
    "token_mean",
    "token_sum",
    "token_sum_norm",
]
