"""Closed-form predictions for softmax policies: pure numpy, never imports simrl.

Each function names its source (paper and equation) or its derivation in NOTES.md.
"""

from theory.entropy import (
    entropy,
    entropy_gradient,
    first_order_entropy_change,
    log_softmax,
    softmax,
)

__all__ = [
    "entropy",
    "entropy_gradient",
    "first_order_entropy_change",
    "log_softmax",
    "softmax",
]
