"""The advantage estimators, one module each. Importing this package registers the
built-in ones in simrl.algorithms.advantage.ADVANTAGES, in the order of BUILTIN: their
codes, and the order of their fields in the algo config (and a saved config.toml)."""

from importlib import import_module

from simrl.algorithms.advantage import ADVANTAGES

BUILTIN = (
    "grpo",
    "dr_grpo",
    "rloo",
    "reinforce",
    "reinforce_pp",  # reinforce_pp, reinforce_pp_baseline
    "opo",
    "gpg",
    "grpo_passk",
    "passk",
    "psr_nsr",  # psr, nsr, w_reinforce
    "grpo_batch",
    "remax",
    "optimal_token_baseline",
)
for _name in BUILTIN:
    import_module(f"{__name__}.{_name}")

__all__ = ["ADVANTAGES", "BUILTIN"]
