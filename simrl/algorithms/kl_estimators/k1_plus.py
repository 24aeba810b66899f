"""k1+: the value of k1 = x (x = logp - logp_ref at the sampled token) with the gradient
of k2 = x^2 / 2, a straight-through estimator: d / d logp = x.

Source: verl 0.9.1 verl/trainer/ppo/core_algos.py, `kl_penalty` with kl_penalty = "k1+"
(also "kl+"): a name ending in "+" returns
k2 - sg(k2) + sg(kl_penalty_forward(base name)), so its value is k1's and its gradient
k2's ("the expected gradient of k1 and k3 is not the expected gradient of KL; k2 gives the
right gradient", verl's comment; Schulman 2020, "Approximating KL divergence").
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms.kl_estimator import KLEstimator, register


def numpy_form(logp: np.ndarray, logp_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = logp - logp_ref
    return x, x


def numba_form(x):
    return x


def torch_form(logp, logp_ref):
    x = logp - logp_ref
    k2 = 0.5 * x * x
    return k2 - k2.detach() + x.detach()


ENTRY = register(
    KLEstimator(
        name="k1+",
        doc="value of k1 (logp - logp_ref), gradient of k2 (straight through; verl 'k1+')",
        source="verl 0.9.1 core_algos.kl_penalty 'k1+' (straight-through k2 gradient)",
        numpy=numpy_form,
        numba=numba_form,
        torch=torch_form,
        sampled=True,
    )
)
