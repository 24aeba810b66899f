"""exact_reverse: KL(pi || ref) = sum_a pi (l - l_ref) of the whole state, with
pi = softmax(z), l = log pi; gradient d KL / d z = pi * ((l - l_ref) - KL).

Source: theory/NOTES.md, "KL gradients" (the reverse KL that the sampled k1/k3
estimate, computed exactly on a tabular policy); on the bridge, over the full vocabulary
at each prefix.
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms.kl_estimator import KLEstimator, register


def numpy_form(logp: np.ndarray, logp_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of log-probs (n, K) -> (KL (n,), gradient w.r.t. logits (n, K))."""
    pi = np.exp(logp)
    d = logp - logp_ref
    kl = (pi * d).sum(axis=-1)
    return kl, pi * (d - kl[..., None])


def numba_form(scale, logp, prob, ref_logp, ref_prob, s, g):
    K = g.shape[1]
    kl = 0.0
    for k in range(K):
        kl += prob[s, k] * (logp[s, k] - ref_logp[s, k])
    for k in range(K):
        g[s, k] += scale * prob[s, k] * ((logp[s, k] - ref_logp[s, k]) - kl)


def torch_form(logp_all, logp_ref_all):
    """(..., V) -> (...)."""
    return (logp_all.exp() * (logp_all - logp_ref_all)).sum(-1)


ENTRY = register(
    KLEstimator(
        name="exact_reverse",
        doc="exact KL(pi || ref) of the whole state, exact gradient",
        source='theory/NOTES.md "KL gradients" (reverse KL)',
        numpy=numpy_form,
        numba=numba_form,
        torch=torch_form,
        sampled=False,
    )
)
