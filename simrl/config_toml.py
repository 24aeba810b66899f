"""Reading and writing configs as TOML: dotted overrides, section building with
field-by-field checks and "did you mean" suggestions, TOML values. Shared by the
simulator's config (simrl/config.py) and the bridge's (simrl/bridge/config.py)."""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

from simrl.errors import ConfigError
from simrl.validate import FloatList

#: fields renamed since they were first released: old section.field -> new. The old name
#: answers with one line naming the new one, except in a registered study's locked spec
#: (simrl/prereg/spec.py translates those), whose text cannot change. Cell identities keep
#: the old names (simrl/prereg/identity.py IDENTITY_NAMES), so stored keys are unchanged.
RENAMED = {
    "task.steps": (
        "task.reasoning_tokens",
        "reasoning tokens per answer of a sequence task; run.steps counts training steps",
    ),
}


def with_overrides(data: dict[str, Any], overrides: dict[str, Any] | None, sections) -> dict:
    """A copy of nested config data (less its simrl_version stamp) with dotted overrides
    'section.field' applied; a key whose section is not one of `sections` is refused."""
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    data.pop("simrl_version", None)
    for key, value in (overrides or {}).items():
        section, _, name = key.partition(".")
        if not name or section not in sections:
            raise ConfigError(
                key,
                value,
                "overrides are 'section.field' with section one of " + ", ".join(sections),
            )
        data.setdefault(section, {})[name] = value
    return data


def build_sections(data: dict[str, Any], sections: dict[str, type]) -> dict[str, Any]:
    """Each section of `data` built as its dataclass in `sections` (checked field by field)."""
    kwargs = {}
    for section, values in data.items():
        if section not in sections:
            raise ConfigError(section, values, _suggest("section", section, sections))
        if not isinstance(values, dict):
            raise ConfigError(section, values, "must be a table of fields")
        kwargs[section] = _build_section(sections[section], values)
    return kwargs


def read_toml(path: str | Path) -> dict[str, Any]:
    """A config file's data; a missing file or bad TOML is a ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("config", str(path), "must be an existing TOML file")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("config", str(path), f"must be valid TOML ({e})") from None


def parse_override(text: str) -> tuple[str, Any]:
    """'optim.lr=0.1' -> ('optim.lr', 0.1); a value that is not a TOML literal stays a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError("--set", text, "must look like section.field=value")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip(), value


def _suggest(what: str, name: str, valid: Any) -> str:
    close = difflib.get_close_matches(name, list(valid), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {what}{hint}; valid: " + ", ".join(valid)


def unknown_field(section: str, name: str, valid: Any) -> str:
    """What an unknown section.field answers: its new name when it was renamed, simrl's name
    when it is TRL's or verl's (docs/crosswalk.md), else the closest field."""
    key = f"{section}.{name}"
    if key in RENAMED:
        new, what = RENAMED[key]
        return f"was renamed: use {new} ({what})"
    from simrl.crosswalk import foreign_field

    hint = foreign_field(section, name)
    return hint if hint is not None else _suggest("field", name, valid)


def _build_section(cls: type, values: dict[str, Any]) -> Any:
    by_name = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    kwargs = {}
    for name, value in values.items():
        if name not in by_name:
            raise ConfigError(
                f"{cls.section}.{name}", value, unknown_field(cls.section, name, by_name)
            )
        kwargs[name] = _coerce(f"{cls.section}.{name}", by_name[name], value)
    return cls(**kwargs)


def _coerce(key: str, f: dataclasses.Field, value: Any) -> Any:
    """TOML's types to the field's: int -> float where a float is wanted; list -> tuple;
    a bare true/false where a name is wanted stays a name (--set reward.kind=true)."""
    default = f.default
    if isinstance(default, str) and isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, tuple):
        if isinstance(value, list | tuple):
            if isinstance(f.metadata["check"], FloatList):
                return tuple(
                    float(x) if isinstance(x, int) and not isinstance(x, bool) else x for x in value
                )
            return tuple(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return (value,)
        raise ConfigError(key, value, f.metadata["check"].allowed())
    return value


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, float):
        return (
            repr(v)
            if math.isfinite(v)
            else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
        )
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return str(v)
