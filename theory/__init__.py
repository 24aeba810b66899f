"""Closed-form predictions for softmax policies: pure numpy, never imports simrl.

Each function names its source (paper and equation) or its derivation in NOTES.md.
"""

import importlib

from .decomposition import Decomposition, DecompositionCI, decompose, decompose_with_ci
from .entropy import (
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
from .passk import pass_at_k_exact, pass_at_k_unbiased

#: the forms that need scipy, imported on first use (PEP 562): simrl's CLI answers
#: --version and bad input without loading scipy (simrl/_lazy.py does the same for simrl's
#: packages; theory never imports simrl). The numpy-only modules load at once: `entropy` is a
#: module and a function here, and the function must win.
_EXPORTS = {
    **dict.fromkeys(
        (
            "clip_bias_direction",
            "expected_clipped_gradient",
            "expected_clipped_gradient_closed_form",
            "expected_sign_weighted_gradient",
            "mean_positive_advantage",
            "monte_carlo_clipped_gradient",
            "never_clipped_high",
        ),
        ".clipping",
    ),
    **dict.fromkeys(
        ("EntropyLawFit", "ExtrapolationScore", "extrapolation_score", "fit_entropy_law"),
        ".laws",
    ),
    **dict.fromkeys(
        ("expected_multi_epoch", "multi_epoch_bias", "monte_carlo_multi_epoch"),
        "theory.clipping_epochs",
    ),
    **dict.fromkeys(
        (
            "cui_theorem1_shared",
            "spill_first_order",
            "natural_shared_step",
            "policy_overlap",
        ),
        "theory.shared",
    ),
}


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


__all__ = [
    "Decomposition",
    "DecompositionCI",
    "EntropyLawFit",
    "ExtrapolationScore",
    "clip_bias_direction",
    "cui_theorem1",
    "cui_theorem1_shared",
    "cui_theorem2",
    "decompose",
    "decompose_with_ci",
    "entropy",
    "entropy_gradient",
    "expected_clipped_gradient",
    "expected_clipped_gradient_closed_form",
    "expected_multi_epoch",
    "extrapolation_score",
    "first_order_entropy_change",
    "first_order_remainder_bound",
    "fit_entropy_law",
    "log_softmax",
    "mean_positive_advantage",
    "monte_carlo_clipped_gradient",
    "monte_carlo_multi_epoch",
    "multi_epoch_bias",
    "natural_shared_step",
    "never_clipped_high",
    "pass_at_k_exact",
    "pass_at_k_unbiased",
    "policy_overlap",
    "sampled_token_entropy_change",
    "second_order_entropy_change",
    "second_order_remainder_bound",
    "softmax",
    "spill_first_order",
    "steer_eq14",
    "steer_omega_code",
]
