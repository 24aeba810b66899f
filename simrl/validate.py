"""Field checks for the config dataclasses: each says what it allows, in words."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from simrl.errors import ConfigError


def param(default: Any, doc: str, check: Any) -> Any:
    """A config field: its default, a one-line doc, and the check of its values."""
    return field(default=default, metadata={"doc": doc, "check": check})


@dataclass(frozen=True)
class Range:
    """A number in an interval; `integer` also requires an int."""

    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False
    hi_open: bool = False
    integer: bool = False

    def allowed(self) -> str:
        kind = "an integer" if self.integer else "a finite number"
        if self.lo == -math.inf and self.hi == math.inf:
            return f"must be {kind}"
        if self.hi == math.inf:
            return f"must be {kind} {'>' if self.lo_open else '>='} {self.lo:g}"
        if self.lo == -math.inf:
            return f"must be {kind} {'<' if self.hi_open else '<='} {self.hi:g}"
        left, right = ("(" if self.lo_open else "["), (")" if self.hi_open else "]")
        return f"must be {kind} in {left}{self.lo:g}, {self.hi:g}{right}"

    def ok(self, v: object) -> bool:
        if isinstance(v, bool) or not isinstance(v, int | float):
            return False
        if self.integer and not isinstance(v, int):
            return False
        if not math.isfinite(v):
            return False
        above = v > self.lo if self.lo_open else v >= self.lo
        below = v < self.hi if self.hi_open else v <= self.hi
        return above and below


POS = Range(0.0, lo_open=True)
NONNEG = Range(0.0)
UNIT = Range(0.0, 1.0)
POS_INT = Range(1, integer=True)
NONNEG_INT = Range(0, integer=True)


@dataclass(frozen=True)
class OneOf:
    """A name out of a fixed set (usually a registry's names)."""

    names: tuple[str, ...]

    def allowed(self) -> str:
        return "must be one of " + ", ".join(repr(n) for n in self.names)

    def ok(self, v: object) -> bool:
        return isinstance(v, str) and v in self.names


@dataclass(frozen=True)
class IntList:
    """A list of distinct integers, each >= lo (non-empty unless `empty`)."""

    lo: int = 1
    empty: bool = False

    def allowed(self) -> str:
        size = "a list" if self.empty else "a non-empty list"
        return f"must be {size} of distinct integers >= {self.lo}"

    def ok(self, v: object) -> bool:
        return (
            isinstance(v, tuple)
            and (self.empty or len(v) > 0)
            and all(isinstance(k, int) and not isinstance(k, bool) and k >= self.lo for k in v)
            and len(set(v)) == len(v)
        )


@dataclass(frozen=True)
class FloatList:
    """A list of numbers in [lo, hi] (possibly empty when `empty` is allowed)."""

    lo: float = 0.0
    hi: float = 1.0
    empty: bool = True

    def allowed(self) -> str:
        size = "a list" if self.empty else "a non-empty list"
        return f"must be {size} of numbers in [{self.lo:g}, {self.hi:g}]"

    def ok(self, v: object) -> bool:
        return (
            isinstance(v, tuple)
            and (self.empty or len(v) > 0)
            and all(
                isinstance(x, int | float)
                and not isinstance(x, bool)
                and math.isfinite(x)
                and self.lo <= x <= self.hi
                for x in v
            )
        )


@dataclass(frozen=True)
class Bool:
    def allowed(self) -> str:
        return "must be true or false"

    def ok(self, v: object) -> bool:
        return isinstance(v, bool)


@dataclass(frozen=True)
class Text:
    """Any string (a path, a FILE.py:FUNCTION spec); its meaning is checked where it is used."""

    def allowed(self) -> str:
        return "must be a string"

    def ok(self, v: object) -> bool:
        return isinstance(v, str)


@dataclass(frozen=True)
class InRegistry:
    """A name registered in a registry, read when checked (so an entry registered after
    the config module loaded, such as a loss defined in a test, is allowed)."""

    registry: Any

    def allowed(self) -> str:
        return "must be one of " + ", ".join(repr(n) for n in self.registry.names)

    def ok(self, v: object) -> bool:
        return isinstance(v, str) and v in self.registry


def one_of(names: Iterable[str]) -> OneOf:
    return OneOf(tuple(names))


def require(cond: bool, field: str, value: object, allowed: str) -> None:
    """Cross-field check: raise ConfigError(field, value, allowed) unless `cond`."""
    if not cond:
        raise ConfigError(field, value, allowed)


class Section:
    """Shared behaviour of the config sections: field checks on construction."""

    section: ClassVar[str]

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if not f.metadata["check"].ok(value):
                key, allowed = f"{self.section}.{f.name}", f.metadata["check"].allowed()
                from simrl.crosswalk import foreign_value  # TRL's or verl's spelling of it

                hint = foreign_value(key, value)
                raise ConfigError(key, value, allowed if hint is None else f"{hint}; {allowed}")
