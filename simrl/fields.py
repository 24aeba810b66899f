"""`simrl fields [SECTION]`: every config field with its default, doc and allowed values,
read from the dataclasses themselves (simrl/config.py, simrl/bridge/config.py), so the
list is never out of date. TRL's and verl's names for them: docs/crosswalk.md."""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import textwrap

from simrl.config_toml import _toml_value
from simrl.errors import ConfigError


def sections() -> dict[str, type]:
    from simrl.bridge.config import BridgeConfig
    from simrl.config import SECTIONS

    return {**SECTIONS, "bridge": BridgeConfig}


def _default(f: dataclasses.Field):
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]


def rows(section: str | None = None) -> list[tuple[str, str, str, str]]:
    """(section.field, default as TOML, doc, allowed values), in the config's order."""
    all_sections = sections()
    if section is not None and section not in all_sections:
        raise ConfigError("SECTION", section, "must be one of " + ", ".join(all_sections))
    out = []
    for name, cls in all_sections.items():
        if section is not None and name != section:
            continue
        for f in dataclasses.fields(cls):
            check = f.metadata.get("check")
            out.append(
                (
                    f"{name}.{f.name}",
                    _toml_value(_default(f)),
                    f.metadata.get("doc", ""),
                    check.allowed() if check is not None else "",
                )
            )
    return out


def render(section: str | None = None, width: int | None = None) -> str:
    width = width or max(60, min(shutil.get_terminal_size((100, 24)).columns, 120))
    lines = []
    current = None
    for key, default, doc, allowed in rows(section):
        sec = key.partition(".")[0]
        if sec != current:
            lines += ([""] if current else []) + [f"[{sec}]"]
            current = sec
        lines.append(f"{key} = {default}")
        body = doc + (f"; {allowed}" if allowed else "")
        lines += textwrap.wrap(body, width, initial_indent="    ", subsequent_indent="    ")
    return "\n".join(lines) + "\n"


def add_parser(sub, parser_class) -> None:
    p = sub.add_parser(
        "fields",
        help="list every config field with its default, doc and allowed values",
        description="Every config field: section.field = default, its doc and allowed "
        "values. TRL's and verl's names for them: docs/crosswalk.md.",
    )
    p.add_argument(
        "section",
        nargs="?",
        default=None,
        help="one section: task, reward, algo, optim, run or bridge (default: all)",
    )


def cmd(args: argparse.Namespace) -> int:
    print(render(args.section), end="")
    return 0
