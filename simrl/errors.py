"""The two ways a simulation refuses to go on: bad input, and non-finite numbers."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration value is not allowed. Raised before any work starts.

    The message always names the field (dotted), the value given and what is allowed.
    """

    def __init__(self, field: str, value: object, allowed: str):
        self.field, self.value, self.allowed = field, value, allowed
        super().__init__(f"{field} = {value!r}: {allowed}")


class NonFiniteError(FloatingPointError):
    """A run produced a non-finite value (logits, optimiser state or a metric it needs)."""

    def __init__(self, run: int, step: int, what: str, label: str = ""):
        self.run, self.step, self.what = run, step, what
        where = f"run {run}" + (f" ({label})" if label else "")
        super().__init__(f"non-finite {what} in {where} at step {step}")
