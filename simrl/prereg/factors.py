"""A study's factors and its grid of cell configs: parsing [[factor]] tables, building and
checking every cell's config, the metrics each cell can store."""

from __future__ import annotations

import itertools
import math
import re
from typing import Any

from simrl.config import SECTIONS, Config
from simrl.errors import ConfigError
from simrl.prereg.fields import _flatten, _keys, _label
from simrl.prereg.study import Factor, Level, Study
from simrl.tasks.family import family


def cell_configs(study: Study) -> list[tuple[dict[str, str], Config]]:
    """Every cell: its factor levels (name -> label) and its resolved config. The levels
    vary fastest in the last factor; a bad combination names the cell."""
    out = []
    for levels in itertools.product(*(f.levels for f in study.factors)):
        labels = {f.name: lv.label for f, lv in zip(study.factors, levels, strict=True)}
        overrides: dict[str, Any] = {}
        for lv in levels:
            overrides.update(lv.settings)
        overrides.update(
            {
                "run.steps": study.steps,
                "run.seeds": study.seeds,
                "run.seed": study.seed,
                "run.eval_every": study.eval_every,
                "run.on_nonfinite": "record",  # a failure is recorded (and excluded), never fatal
            }
        )
        if study.passk is not None:
            overrides["run.passk"] = list(study.passk)
        try:
            if study.backend == "bridge":
                from simrl.bridge.config import BridgeRunConfig

                cfg = BridgeRunConfig.from_dict(study.base, overrides)
            else:
                cfg = Config.from_dict(study.base, overrides)
        except ConfigError as e:
            cell = ", ".join(f"{k}={v}" for k, v in labels.items())
            raise ConfigError(e.field, e.value, f"{e.allowed} (in cell {cell})") from None
        out.append((labels, cfg))
    return out


def available_metrics(cfg: Any) -> tuple[str, ...]:
    if not isinstance(cfg, Config):  # a bridge cell (BridgeRunConfig)
        from simrl.bridge.run import TIMING_NAMES
        from simrl.bridge.run import metric_names as bridge_metric_names

        # wall-clock throughput is not a result: a cell must be bitwise reproducible
        return tuple(m for m in bridge_metric_names(cfg.run.passk) if m not in TIMING_NAMES)
    return family(cfg.task.kind).config_metric_names(cfg)


def _check_bridge_cells(study: Study) -> None:
    """A bridge cell's numbers depend on the device (CPU float32 vs CUDA bf16 autocast), so
    a study names it: 'auto' would store CPU and GPU results under one cell key."""
    for labels, cfg in study.cells:
        if cfg.bridge.device == "auto":
            cell = ", ".join(f"{k}={v}" for k, v in labels.items())
            raise ConfigError(
                "bridge.device",
                "auto",
                f"must be 'cpu' or 'cuda' in a study (a cell's numbers depend on it; in cell {cell})",
            )


def _bridge_available() -> None:
    """A bridge study needs torch and transformers: say so before anything else."""
    import importlib.util

    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            "design.backend",
            "bridge",
            f"needs {' and '.join(missing)}: pip install torch==2.13.0 && pip install -e '.[llm]'",
        )


def _factors(raw: Any, sections: tuple[str, ...] = tuple(SECTIONS)) -> tuple[Factor, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError("factor", raw, "needs at least one [[factor]] table")
    factors, set_by = [], {}
    for i, f in enumerate(raw):
        where = f"factor[{i}]"
        _keys(f"{where}.", f, ("name", "field", "levels"))
        name = f.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ConfigError(f"{where}.name", name, "must be an identifier (letters, digits, _)")
        if name in ("seed", "cell", "run", "step", "failed_step", "excluded"):
            raise ConfigError(f"{where}.name", name, "is a reserved column name")
        levels_raw = f.get("levels")
        levels: list[Level] = []
        if "field" in f:
            fld = f["field"]
            _check_field(f"factor.{name}.field", fld, sections)
            if not isinstance(levels_raw, list) or len(levels_raw) < 2:
                raise ConfigError(f"factor.{name}.levels", levels_raw, "must list >= 2 values")
            for v in levels_raw:
                num = float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None
                levels.append(Level(_label(v), {fld: v}, num))
            fields_set = {fld}
        else:
            if not isinstance(levels_raw, dict) or len(levels_raw) < 2:
                raise ConfigError(
                    f"factor.{name}.levels",
                    levels_raw,
                    "must be a list of values (with field = ...) or a table of >= 2 named levels",
                )
            fields_set = set()
            for label, table in levels_raw.items():
                if not isinstance(table, dict):
                    raise ConfigError(
                        f"factor.{name}.levels.{label}", table, "must be a table of config fields"
                    )
                table = dict(table)
                value = table.pop("value", None)
                if value is not None and (
                    isinstance(value, bool)
                    or not isinstance(value, int | float)
                    or not math.isfinite(value)
                ):
                    raise ConfigError(
                        f"factor.{name}.levels.{label}.value", value, "must be a finite number"
                    )
                settings: dict[str, Any] = {}
                _flatten("", table, settings)
                for fld in settings:
                    _check_field(f"factor.{name}.levels.{label}", fld, sections)
                fields_set |= set(settings)
                levels.append(Level(str(label), settings, None if value is None else float(value)))
        labels = [lv.label for lv in levels]
        if len(set(labels)) != len(labels):
            raise ConfigError(f"factor.{name}.levels", labels, "level labels must be distinct")
        if name in (g.name for g in factors):
            raise ConfigError(f"{where}.name", name, "factor names must be distinct")
        for fld in fields_set:
            if fld in set_by:
                raise ConfigError(
                    f"factor.{name}",
                    fld,
                    f"is already set by factor {set_by[fld]!r}; a field belongs to one factor",
                )
            set_by[fld] = name
        factors.append(Factor(name, tuple(levels)))
    return tuple(factors)


def _check_field(where: str, fld: Any, sections: tuple[str, ...] = tuple(SECTIONS)) -> None:
    section, _, name = str(fld).partition(".")
    if section not in sections or not name:
        raise ConfigError(
            where,
            fld,
            "config fields are dotted: section.field, section one of " + ", ".join(sections),
        )
    if section == "run" and name in (
        "steps",
        "seeds",
        "seed",
        "eval_every",
        "passk",
        "on_nonfinite",
    ):
        raise ConfigError(where, fld, "is set by [design], not by a factor")


def _where(raw: Any, study_factors: tuple[Factor, ...], name: str) -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(name, raw, "must be a table factor -> level label (or list of labels)")
    by_name = {f.name: f for f in study_factors}
    out = {}
    for fname, labels in raw.items():
        if fname not in by_name:
            raise ConfigError(name, fname, "unknown factor; factors: " + ", ".join(by_name))
        labels = tuple(_label(x) for x in (labels if isinstance(labels, list) else [labels]))
        for lab in labels:
            if lab not in by_name[fname].labels:
                raise ConfigError(
                    f"{name}.{fname}",
                    lab,
                    "unknown level; levels: " + ", ".join(by_name[fname].labels),
                )
        out[fname] = labels
    return out
