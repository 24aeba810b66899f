"""Optimisers on the tabular logits, as pure functions (z, grad, state) -> (z, state): a
facade over simrl/algorithms/optimisers/, one module per optimiser (sgd, adam, npg),
kept so that every import of simrl.optim keeps working. See
simrl/algorithms/optimiser.py."""

from __future__ import annotations

from simrl.algorithms.optimiser import OPTIMIZERS, Optimiser, OptState, init_state
from simrl.algorithms.optimisers import BUILTIN
from simrl.algorithms.optimisers.adam import numpy_form as adam
from simrl.algorithms.optimisers.npg import NPG_PI_FLOOR
from simrl.algorithms.optimisers.npg import numpy_form as npg
from simrl.algorithms.optimisers.sgd import numpy_form as sgd

__all__ = [
    "BUILTIN",
    "NPG_PI_FLOOR",
    "OPTIMIZERS",
    "OptState",
    "Optimiser",
    "adam",
    "init_state",
    "npg",
    "sgd",
]
