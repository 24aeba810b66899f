"""Closed-form predictions for softmax policies: pure numpy, never imports simrl.

Each function names its source (paper and equation) or its derivation in NOTES.md.
"""

from theory.clipping import (
    clip_bias_direction,
    expected_clipped_gradient,
    expected_clipped_gradient_closed_form,
    mean_positive_advantage,
    monte_carlo_clipped_gradient,
    never_clipped_high,
)
from theory.decomposition import Decomposition, DecompositionCI, decompose, decompose_with_ci
from theory.entropy import (
    cui_theorem1,
    cui_theorem2,
    entropy,
    entropy_gradient,
    first_order_entropy_change,
    first_order_remainder_bound,
    log_softmax,
    sampled_token_entropy_change,
    second_order_entropy_change,
    second_order_remainder_bound,
    softmax,
    steer_eq14,
    steer_omega_code,
)
from theory.laws import EntropyLawFit, ExtrapolationScore, extrapolation_score, fit_entropy_law
from theory.passk import pass_at_k_exact, pass_at_k_unbiased

__all__ = [
    "Decomposition",
    "DecompositionCI",
    "EntropyLawFit",
    "ExtrapolationScore",
    "clip_bias_direction",
    "cui_theorem1",
    "cui_theorem2",
    "decompose",
    "decompose_with_ci",
    "entropy",
    "entropy_gradient",
    "expected_clipped_gradient",
    "expected_clipped_gradient_closed_form",
    "extrapolation_score",
    "first_order_entropy_change",
    "first_order_remainder_bound",
    "fit_entropy_law",
    "log_softmax",
    "mean_positive_advantage",
    "monte_carlo_clipped_gradient",
    "never_clipped_high",
    "pass_at_k_exact",
    "pass_at_k_unbiased",
    "sampled_token_entropy_change",
    "second_order_entropy_change",
    "second_order_remainder_bound",
    "softmax",
    "steer_eq14",
    "steer_omega_code",
]
