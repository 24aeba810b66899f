"""Recipes: the settings a published trainer or paper uses, by name (`algo.recipe`).

One data file per recipe, `simrl/recipes/<name>.toml` (read with tomllib, never
executed):

    name = "dapo"
    summary = "one line"
    source = "where the values were read (library version and files, or repository,
              commit and script)"

    [set."algo.clip_high"]            # a simrl field the recipe sets
    value = 0.28
    source = "recipe/dapo/run_dapo_qwen2.5_32b.sh:15 clip_ratio_high=0.28"

    [[not_modelled]]                  # a setting of the source simrl does not have
    setting = "rollout.temperature = 1.2"
    reason = "simrl samples from the policy itself (temperature 1)"

A config that names a recipe gets the recipe's fields wherever it does not set them
itself: `apply(data)` runs in `Config.from_dict` and `BridgeRunConfig.from_dict`, after
the file's values and the `--set` overrides, so a user's explicit field always wins.
A saved config.toml lists every field, so loading it again changes nothing. Fields
that only the sequence family reads (config_checks.SEQUENCE_ALGO_FIELDS) are set on
sequence tasks only; on the bandit they keep their defaults.
`simrl recipes` lists the recipes and `simrl recipes NAME` shows one (docs/recipes.md).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simrl.errors import ConfigError

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Setting:
    field: str  # section.field
    value: Any
    source: str


@dataclass(frozen=True)
class Recipe:
    name: str
    summary: str
    source: str
    settings: tuple[Setting, ...]
    not_modelled: tuple[tuple[str, str], ...]  # (setting, reason)

    def values(self) -> dict[str, Any]:
        """section.field -> value, in the file's order."""
        return {s.field: s.value for s in self.settings}


def _load(path: Path) -> Recipe:
    data = tomllib.loads(path.read_text())
    settings = tuple(
        Setting(key, _tomlish(entry["value"]), entry["source"])
        for key, entry in data.get("set", {}).items()
    )
    missing = [k for k in ("name", "summary", "source") if k not in data]
    if missing or data["name"] != path.stem:
        raise ValueError(f"recipe file {path.name}: needs name = {path.stem!r}, summary, source")
    return Recipe(
        name=data["name"],
        summary=data["summary"],
        source=data["source"],
        settings=settings,
        not_modelled=tuple((e["setting"], e["reason"]) for e in data.get("not_modelled", [])),
    )


def _tomlish(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


#: name -> Recipe, sorted by file name
RECIPES: dict[str, Recipe] = {r.name: r for r in map(_load, sorted(HERE.glob("*.toml")))}


def get(name: str) -> Recipe:
    if name not in RECIPES:
        raise ConfigError("algo.recipe", name, "one of " + ", ".join(RECIPES))
    return RECIPES[name]


def sequence_only(field: str) -> bool:
    """Whether only the sequence family reads the field (it stays at its default on the
    bandit)."""
    from simrl.config_checks import SEQUENCE_ALGO_FIELDS

    section, _, name = field.partition(".")
    return section == "algo" and name in SEQUENCE_ALGO_FIELDS


def apply(data: dict[str, Any], task_kind: str | None = None) -> dict[str, Any]:
    """Nested config data with its recipe's fields filled in where the data does not set
    them (a copy; data without `algo.recipe`, or with "", is returned unchanged).
    `task_kind`: the task family (None: read from data, default 'bandit'); sequence-only
    fields are skipped on the bandit."""
    name = (data.get("algo") or {}).get("recipe", "") if isinstance(data.get("algo"), dict) else ""
    if not name:
        return data
    if not isinstance(name, str):
        raise ConfigError("algo.recipe", name, "a recipe name: one of " + ", ".join(RECIPES))
    recipe = get(name)
    if task_kind is None:
        task = data.get("task")
        task_kind = task.get("kind", "bandit") if isinstance(task, dict) else "bandit"
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for s in recipe.settings:
        if task_kind == "bandit" and sequence_only(s.field):
            continue
        section, _, field = s.field.partition(".")
        values = out.setdefault(section, {})
        if field not in values:
            values[field] = s.value
    return out


def describe(name: str) -> str:
    """`simrl recipes NAME`: every field with its value and source, then what is not
    modelled."""
    from simrl.config_toml import _toml_value

    r = get(name)
    lines = [
        f"{r.name}: {r.summary}",
        f"source: {r.source}",
        "",
        "sets (a field you set yourself wins):",
    ]
    width = max((len(s.field) for s in r.settings), default=0)
    for s in r.settings:
        seq = "  [sequence tasks only]" if sequence_only(s.field) else ""
        lines.append(f"  {s.field:<{width}} = {_toml_value(s.value)}{seq}")
        lines.append(f"  {'':<{width}}   from {s.source}")
    lines += ["", "not modelled:"]
    if not r.not_modelled:
        lines.append("  (nothing)")
    for setting, reason in r.not_modelled:
        lines.append(f"  {setting}: {reason}")
    return "\n".join(lines)


def listing() -> str:
    """`simrl recipes`: one line per recipe (name, summary, source)."""
    width = max(len(n) for n in RECIPES)
    out = []
    for r in RECIPES.values():
        out.append(f"{r.name:<{width}}  {r.summary}")
        out.append(f"{'':<{width}}  source: {r.source}")
    out.append("")
    out.append("simrl recipes NAME shows a recipe's fields, their sources and what is not modelled")
    return "\n".join(out)
