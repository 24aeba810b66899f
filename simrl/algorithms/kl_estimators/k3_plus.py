"""k3+: the value of k3 = exp(-x) - 1 + x (x = logp - logp_ref at the sampled token) with
the gradient of k2 = x^2 / 2, a straight-through estimator: d / d logp = x.

Source: verl 0.9.1 verl/trainer/ppo/core_algos.py, `kl_penalty` with kl_penalty = "k3+"
(also "low_var_kl+"): k2 - sg(k2) + sg(kl_penalty_forward("k3")). verl clamps the k3
value (its argument to [-20, 20], the value to [-10, 10]); as for simrl's `k3`, the value
here is not clamped (it is exact inside that range, and only the gradient, x, moves the
policy).
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms.kl_estimator import KLEstimator, register


def numpy_form(logp: np.ndarray, logp_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = logp - logp_ref
    return np.exp(-x) - 1.0 + x, x


def numba_form(x):
    return x


def torch_form(logp, logp_ref):
    import torch

    x = logp - logp_ref
    k2 = 0.5 * x * x
    return k2 - k2.detach() + (torch.exp(-x) - 1.0 + x).detach()


ENTRY = register(
    KLEstimator(
        name="k3+",
        doc="value of k3, gradient of k2 (straight through; verl 'k3+' / 'low_var_kl+')",
        source="verl 0.9.1 core_algos.kl_penalty 'k3+' (straight-through k2 gradient)",
        numpy=numpy_form,
        numba=numba_form,
        torch=torch_form,
        sampled=True,
    )
)
