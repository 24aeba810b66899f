"""The advantage-estimator registry: rewards of a batch of groups (n_groups, G) ->
advantages (n_groups, G), one module per estimator in simrl/algorithms/advantages/ (each
holds its citation, config fields, checks and its numpy and numba forms;
simrl/algorithms/advantage.py).

Every response of a group answers the same prompt; a sequence-level advantage is later
broadcast to the response's tokens. `ADVANTAGES[name].fn(rewards, algo)` is the numpy form.
"""

from simrl.algorithms.advantages import ADVANTAGES

__all__ = ["ADVANTAGES"]
