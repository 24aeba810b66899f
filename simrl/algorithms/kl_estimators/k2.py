"""k2 = x^2 / 2 with x = logp - logp_ref at the sampled token; d k2 / d logp = x.

Source: Schulman 2020, "Approximating KL divergence" (joschu.net), k2; verl
core_algos.py `kl_penalty` with kl_penalty = "mse".
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms.kl_estimator import KLEstimator, register


def numpy_form(logp: np.ndarray, logp_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = logp - logp_ref
    return 0.5 * x * x, x


def numba_form(x):
    return x


def torch_form(logp, logp_ref):
    x = logp - logp_ref
    return 0.5 * x * x


ENTRY = register(
    KLEstimator(
        name="k2",
        doc="(logp - logp_ref)^2 / 2 at the sampled token (verl 'mse')",
        source="Schulman 2020, Approximating KL divergence, k2; verl core_algos.kl_penalty 'mse'",
        numpy=numpy_form,
        numba=numba_form,
        torch=torch_form,
        sampled=True,
    )
)
