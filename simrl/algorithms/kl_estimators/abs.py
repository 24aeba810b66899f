"""abs = |x| with x = logp - logp_ref at the sampled token; d abs / d logp = sign(x)
(0 at x = 0, as torch's derivative of abs).

Source: verl 0.9.1 verl/trainer/ppo/core_algos.py, `kl_penalty_forward` with
kl_penalty = "abs" ((logprob - ref_logprob).abs()); no paper is cited there.
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms.kl_estimator import KLEstimator, register


def numpy_form(logp: np.ndarray, logp_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = logp - logp_ref
    return np.abs(x), np.sign(x)


def numba_form(x):
    if x > 0.0:
        return 1.0
    if x < 0.0:
        return -1.0
    return 0.0


def torch_form(logp, logp_ref):
    return (logp - logp_ref).abs()


ENTRY = register(
    KLEstimator(
        name="abs",
        doc="|logp - logp_ref| at the sampled token (verl 'abs')",
        source="verl 0.9.1 core_algos.kl_penalty_forward 'abs'",
        numpy=numpy_form,
        numba=numba_form,
        torch=torch_form,
        sampled=True,
    )
)
