"""The rewards, one module each. Importing this package registers the built-in ones in
simrl.algorithms.reward.REWARDS, in the order of BUILTIN: their codes, and the order of
their fields in the reward config (and a saved config.toml)."""

from importlib import import_module

from simrl.algorithms.reward import REWARDS

BUILTIN = (
    "true",
    "random",
    "incorrect",
    "format",
    "self_consistency",
    "noisy",
    "frozen",
    "unlikeliness",
)
for _name in BUILTIN:
    import_module(f"{__name__}.{_name}")
#: the names the built-in modules registered (what the kernels are compiled for)
BUILTIN_NAMES = REWARDS.names

__all__ = ["BUILTIN", "BUILTIN_NAMES", "REWARDS"]
