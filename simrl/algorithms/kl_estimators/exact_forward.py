"""exact_forward: KL(ref || pi) = sum_a ref (l_ref - l) of the whole state, with
pi = softmax(z); gradient d KL / d z = pi - ref.

Source: theory/NOTES.md, "KL gradients" (forward KL); on the bridge, over the full
vocabulary at each prefix.
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms.kl_estimator import KLEstimator, register


def numpy_form(logp: np.ndarray, logp_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of log-probs (n, K) -> (KL (n,), gradient w.r.t. logits (n, K))."""
    ref = np.exp(logp_ref)
    kl = (ref * (logp_ref - logp)).sum(axis=-1)
    return kl, np.exp(logp) - ref


def numba_form(scale, logp, prob, ref_logp, ref_prob, s, g):
    K = g.shape[1]
    for k in range(K):
        g[s, k] += scale * (prob[s, k] - ref_prob[s, k])


def torch_form(logp_all, logp_ref_all):
    """(..., V) -> (...)."""
    return (logp_ref_all.exp() * (logp_ref_all - logp_all)).sum(-1)


ENTRY = register(
    KLEstimator(
        name="exact_forward",
        doc="exact KL(ref || pi) of the whole state, exact gradient",
        source='theory/NOTES.md "KL gradients" (forward KL)',
        numpy=numpy_form,
        numba=numba_form,
        torch=torch_form,
        sampled=False,
    )
)
