"""KL penalties to a reference policy: a facade over simrl/algorithms/kl_estimators/, one
module per estimator (the sampled k1/k2/k3 of Schulman 2020, verl's abs and straight-through
k1+ / k3+, TRL's bias-corrected k3_ratio, and the exact tabular KLs),
kept so that every import of simrl.kl keeps working. See
simrl/algorithms/kl_estimator.py for what an estimator holds."""

from __future__ import annotations

from simrl.algorithms.kl_estimator import KL_ESTIMATORS, KLEstimator, sampled_names
from simrl.algorithms.kl_estimators import BUILTIN
from simrl.algorithms.kl_estimators.abs import numpy_form as abs_kl
from simrl.algorithms.kl_estimators.exact_forward import numpy_form as exact_forward
from simrl.algorithms.kl_estimators.exact_reverse import numpy_form as exact_reverse
from simrl.algorithms.kl_estimators.k1 import numpy_form as k1
from simrl.algorithms.kl_estimators.k1_plus import numpy_form as k1_plus
from simrl.algorithms.kl_estimators.k2 import numpy_form as k2
from simrl.algorithms.kl_estimators.k3 import numpy_form as k3
from simrl.algorithms.kl_estimators.k3_plus import numpy_form as k3_plus
from simrl.algorithms.kl_estimators.k3_ratio import numpy_form as k3_ratio

#: the built-in sampled estimators (an entry's own flag is KL_ESTIMATORS[name].sampled)
SAMPLED = sampled_names()

__all__ = [
    "BUILTIN",
    "KL_ESTIMATORS",
    "SAMPLED",
    "KLEstimator",
    "abs_kl",
    "exact_forward",
    "exact_reverse",
    "k1",
    "k1_plus",
    "k2",
    "k3",
    "k3_plus",
    "k3_ratio",
]
