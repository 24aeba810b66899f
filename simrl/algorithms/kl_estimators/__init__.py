"""The KL estimators, one module each. Importing this package registers the built-in ones
in simrl.algorithms.kl_estimator.KL_ESTIMATORS, in the order of BUILTIN (their codes):
the sampled estimators of Schulman (2020, "Approximating KL divergence", joschu.net) as
TRL and verl use them per token (verl `kl_penalty`: "kl" = k1, "mse" = k2, "low_var_kl"
= k3), then the exact tabular KLs (derivations: theory/NOTES.md, "KL gradients"), then
verl's "abs" and straight-through "k1+" / "k3+" and TRL's bias-corrected k3 times r
(issue 17; appended, so the older codes are unchanged)."""

from importlib import import_module

from simrl.algorithms.kl_estimator import KL_ESTIMATORS

BUILTIN = (
    "k1",
    "k2",
    "k3",
    "exact_reverse",
    "exact_forward",
    "abs",
    "k1_plus",
    "k3_plus",
    "k3_ratio",
)
for _name in BUILTIN:
    import_module(f"{__name__}.{_name}")
#: the names the built-in modules registered (what the kernels are compiled for)
BUILTIN_NAMES = KL_ESTIMATORS.names

__all__ = ["BUILTIN", "BUILTIN_NAMES", "KL_ESTIMATORS"]
