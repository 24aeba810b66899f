"""k1 = x = logp - logp_ref at the sampled token; d k1 / d logp = 1.

Source: Schulman 2020, "Approximating KL divergence" (joschu.net), k1; verl
core_algos.py `kl_penalty` with kl_penalty = "kl"; TRL GRPOTrainer's per-token KL with
the plain log-ratio.
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms.kl_estimator import KLEstimator, register


def numpy_form(logp: np.ndarray, logp_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = logp - logp_ref
    return x, np.ones_like(x)


def numba_form(x):
    return 1.0


def torch_form(logp, logp_ref):
    return logp - logp_ref


ENTRY = register(
    KLEstimator(
        name="k1",
        doc="logp - logp_ref at the sampled token (verl 'kl')",
        source="Schulman 2020, Approximating KL divergence, k1; verl core_algos.kl_penalty 'kl'",
        numpy=numpy_form,
        numba=numba_form,
        torch=torch_form,
        sampled=True,
    )
)
