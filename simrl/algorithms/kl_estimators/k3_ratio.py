"""k3_ratio: TRL's bias-corrected KL, k3 times the token's ratio r = pi / pi_old:
k = r (exp(-x) - 1 + x) with x = logp - logp_ref; the ratio carries gradient, so
d k / d logp = r (1 - exp(-x)) + r (exp(-x) - 1 + x) = r x.

Source: TRL 1.16.0 trl/trainer/grpo_trainer.py, `GRPOTrainer._compute_loss`:
per_token_kl = exp(ref - logp) - (ref - logp) - 1, then, with
`GRPOConfig.use_bias_correction_kl` (default True), per_token_kl * coef_1 where
coef_1 = exp(logp - old_logp) (DeepSeek-V3.2, arXiv 2512.02556: the unbiased
reverse-KL gradient under off-policy samples). simrl's ratio is per token, TRL's
importance_sampling_level = "token"; TRL broadcasts the sequence ratio under "sequence",
which simrl does not model for the KL.
"""

from __future__ import annotations

import numpy as np

from simrl.algorithms import nb
from simrl.algorithms.kl_estimator import KLEstimator, register


def numpy_form(
    logp: np.ndarray, logp_ref: np.ndarray, logp_old: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    x = logp - logp_ref
    r = np.exp(logp - logp_old)
    e = np.exp(-x)
    k3 = e - 1.0 + x
    return r * k3, r * (1.0 - e) + r * k3


def numba_form(x, r):
    e = nb.fast_exp(-x)
    return r * (1.0 - e) + r * (e - 1.0 + x)


def torch_form(logp, logp_ref, logp_old):
    import torch

    x = logp - logp_ref
    return (torch.exp(-x) - 1.0 + x) * torch.exp(logp - logp_old)


ENTRY = register(
    KLEstimator(
        name="k3_ratio",
        doc="k3 times the ratio pi / pi_old, which carries gradient (TRL use_bias_correction_kl)",
        source="TRL 1.16.0 GRPOTrainer._compute_loss, use_bias_correction_kl; DeepSeek-V3.2 "
        "(arXiv 2512.02556)",
        numpy=numpy_form,
        numba=numba_form,
        torch=torch_form,
        sampled=True,
        reads_ratio=True,
    )
)
