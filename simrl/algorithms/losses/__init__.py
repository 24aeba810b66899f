"""The policy losses, one module each. Importing this package registers the built-in ones
in simrl.algorithms.policy_loss.POLICY_LOSSES, in the order of BUILTIN: their codes, and
the order of their fields in the algo config (and so in a saved config.toml)."""

from importlib import import_module

from simrl.algorithms.policy_loss import POLICY_LOSSES

BUILTIN = (
    "vanilla", "pg", "clip_cov", "kl_cov", "steer", "cispo",
    "gspo", "gmpo", "sapo", "gpg", "dppo", "dro",
    "opsm", "luspo", "vespo", "ce_gppo",
)  # fmt: skip
for _name in BUILTIN:
    import_module(f"{__name__}.{_name}")

__all__ = ["BUILTIN", "POLICY_LOSSES"]
