"""The optimisers, one module each. Importing this package registers the built-in ones in
simrl.algorithms.optimiser.OPTIMIZERS, in the order of BUILTIN: their codes, and the
order of their fields in the optim config (and a saved config.toml)."""

from importlib import import_module

from simrl.algorithms.optimiser import OPTIMIZERS

BUILTIN = ("sgd", "adam", "npg")
for _name in BUILTIN:
    import_module(f"{__name__}.{_name}")
#: the names the built-in modules registered (what the kernels are compiled for)
BUILTIN_NAMES = OPTIMIZERS.names

__all__ = ["BUILTIN", "BUILTIN_NAMES", "OPTIMIZERS"]
