"""The loss aggregation modes, one module each (verl's `agg_loss` modes). Importing this
package registers the built-in ones in simrl.algorithms.aggregation.AGGREGATIONS, in the
order of BUILTIN (their codes)."""

from importlib import import_module

from simrl.algorithms.aggregation import AGGREGATIONS

BUILTIN = (
    "token_mean",
    "seq_mean_token_mean",
    "seq_mean_token_sum",
    "seq_mean_token_sum_norm",
    "token_sum",
    "token_sum_norm",
)
for _name in BUILTIN:
    import_module(f"{__name__}.{_name}")
#: the names the built-in modules registered (what the kernels are compiled for)
BUILTIN_NAMES = AGGREGATIONS.names

__all__ = ["AGGREGATIONS", "BUILTIN", "BUILTIN_NAMES"]
