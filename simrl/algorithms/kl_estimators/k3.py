"""k3 = exp(-x) - 1 + x with x = logp - logp_ref at the sampled token;
d k3 / d logp = 1 - exp(-x).

Source: Schulman 2020, "Approximating KL divergence" (joschu.net), k3 (unbiased, low
variance); verl core_algos.py `kl_penalty` with kl_penalty = "low_var_kl", which the
GRPO recipe uses (DeepSeekMath, arXiv 2402.03300, Eq. 4). verl clamps k3 to [-10, 10];
inside that range the value and gradient here are exact, and the simulator does not
clamp (stated, not hidden: see the doc of algo.kl_kind).
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms import nb
from simrl.algorithms.kl_estimator import KLEstimator, register


def numpy_form(logp: np.ndarray, logp_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = logp - logp_ref
    e = np.exp(-x)
    return e - 1.0 + x, 1.0 - e


def numba_form(x):
    return 1.0 - nb.fast_exp(-x)


def torch_form(logp, logp_ref):
    import torch

    x = logp - logp_ref
    return torch.exp(-x) - 1.0 + x


ENTRY = register(
    KLEstimator(
        name="k3",
        doc="exp(logp_ref - logp) - (logp_ref - logp) - 1 at the sampled token (verl 'low_var_kl')",
        source="Schulman 2020, Approximating KL divergence, k3; verl core_algos.kl_penalty "
        "'low_var_kl'; DeepSeekMath (arXiv 2402.03300) Eq. 4",
        numpy=numpy_form,
        numba=numba_form,
        torch=torch_form,
        sampled=True,
    )
)
