"""Reading a spec's fields: one helper per kind of value, each raising a ConfigError that
names the field, the value and what is allowed. Nothing read here is ever executed."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from simrl.errors import ConfigError


def _keys(prefix: str, table: dict, allowed: tuple[str, ...]) -> None:
    for key in table:
        if key not in allowed:
            import difflib

            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"{prefix}{key}", table[key], f"unknown key{hint}; valid: " + ", ".join(allowed)
            )


def _table(data: dict, key: str) -> dict:
    value = data.get(key)
    if not isinstance(value, dict):
        raise ConfigError(key, value, f"[{key}] must be a table")
    return value


def _text(data: dict, key: str, where: str = "") -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(where + key, value, "must be a non-empty string")
    return value.strip()


def _int(data: dict, name: str, key: str, lo: int, default: int | None = None) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ConfigError(name, value, f"must be an integer >= {lo}")
    return value


def _names(data: dict, name: str, key: str, required: bool = False) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(name, value, "must be a list of outcome names")
    if required and not value:
        raise ConfigError(name, value, "needs at least one outcome")
    return tuple(value)


def _flatten(prefix: str, table: dict, out: dict) -> None:
    for key, value in table.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            _flatten(dotted, value, out)
        else:
            out[dotted] = value


def _label(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _prob(name: str, v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v < 1:
        raise ConfigError(name, v, "must be a number in (0, 1)")


def _nonneg(name: str, v: Any) -> None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not (v >= 0 and math.isfinite(v)):
        raise ConfigError(name, v, "must be a finite number >= 0")


# ---- param(default, doc, check): the spec's tables read as the config reads its sections ----

#: a field with no default: it must be given
REQUIRED = object()
#: the most bootstrap replicates a spec may ask for (each is a pass over the seeds)
MAX_BOOT = 100_000


@dataclass(frozen=True)
class Param:
    """One field of a spec table: its default (REQUIRED: none), a one-line doc, and the
    check of its values (an object with ok(value) and allowed(), as simrl/validate.py)."""

    default: Any
    doc: str
    check: Any


@dataclass(frozen=True)
class Text:
    """A non-empty string."""

    def allowed(self) -> str:
        return "must be a non-empty string"

    def ok(self, v: object) -> bool:
        return isinstance(v, str) and bool(v.strip())


@dataclass(frozen=True)
class Name:
    """An identifier (a factor name), or empty when the field is unused."""

    def allowed(self) -> str:
        return "must be a name (letters, digits, _)"

    def ok(self, v: object) -> bool:
        return isinstance(v, str) and (v == "" or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v))


@dataclass(frozen=True)
class Labels:
    """A list of level labels (strings, numbers or booleans), of a given length."""

    size: int = 2

    def allowed(self) -> str:
        return f"must be a list of {self.size} level labels"

    def ok(self, v: object) -> bool:
        return (
            isinstance(v, list | tuple)
            and len(v) in (0, self.size)
            and all(
                isinstance(x, str | bool | int) or (isinstance(x, float) and math.isfinite(x))
                for x in v
            )
        )


@dataclass(frozen=True)
class Optional:
    """A check, or the field's unset value (None, or `empty`)."""

    check: Any
    empty: Any = None

    def allowed(self) -> str:
        return self.check.allowed()

    def ok(self, v: object) -> bool:
        return v is None or (self.empty is not None and v == self.empty) or self.check.ok(v)


@dataclass(frozen=True)
class Table:
    """A TOML table."""

    def allowed(self) -> str:
        return "must be a table"

    def ok(self, v: object) -> bool:
        return isinstance(v, dict)


@dataclass(frozen=True)
class Strings:
    """A list of strings (outcome, metric or factor names)."""

    what: str = "names"

    def allowed(self) -> str:
        return f"must be a list of {self.what} (strings)"

    def ok(self, v: object) -> bool:
        return isinstance(v, list) and all(isinstance(x, str) and x for x in v)


@dataclass(frozen=True)
class Ints:
    """A non-empty list of distinct integers >= lo."""

    lo: int = 1

    def allowed(self) -> str:
        return f"must be a non-empty list of distinct integers >= {self.lo}"

    def ok(self, v: object) -> bool:
        return (
            isinstance(v, list)
            and len(v) > 0
            and all(isinstance(k, int) and not isinstance(k, bool) and k >= self.lo for k in v)
            and len(set(v)) == len(v)
        )


@dataclass(frozen=True)
class Crossing:
    """'plurality', or a finite number on the factor's scale."""

    def allowed(self) -> str:
        return "must be 'plurality' or a finite number on the factor's scale"

    def ok(self, v: object) -> bool:
        if v in ("", "plurality"):
            return True
        return not isinstance(v, bool) and isinstance(v, int | float) and math.isfinite(v)


def read(table: Any, where: str, schema: dict[str, Param], skip: tuple[str, ...] = ()) -> dict:
    """Every field of `schema` from `table`: checked, defaults filled in; an unknown key, a
    missing required field or a value its check refuses is one ConfigError. Keys in
    `skip` are read by the caller (tables with their own structure)."""
    if not isinstance(table, dict):
        raise ConfigError(where.rstrip("."), table, "must be a table")
    _keys(where, table, (*schema, *skip))
    out = {}
    for key, p in schema.items():
        if key not in table:
            if p.default is REQUIRED:
                raise ConfigError(f"{where}{key}", None, f"is required: {p.doc}")
            out[key] = p.default
            continue
        value = table[key]
        if not p.check.ok(value):
            raise ConfigError(f"{where}{key}", value, p.check.allowed())
        out[key] = value
    return out
