"""The grid: cells (one per combination of factor levels), their keys, and work units.

Every cell runs the same replicates 0..seeds-1 from the same root seed, so replicate i of
every cell draws from the same stream and starts from the same task instance where the
task config is shared: a paired design across the levels of every factor. Runs of cells
that share shapes (task kind and shape, steps, eval_every, passk) are batched into single
`run_batch` calls (units); a run's numbers do not depend on its batch-mates
(simrl/engine/batch.py), so how cells are grouped into units never changes a result.
A bridge study's cell (design.backend = "bridge") is a unit of its own: its seeds run one
after another on the transformer (simrl/bridge/run.py), from the same base model.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from simrl._version import __version__
from simrl.config import Config
from simrl.prereg.identity import identity_toml
from simrl.prereg.study import BRIDGE_ENGINE, Study
from simrl.tasks import build_task
from simrl.tasks.family import family

#: a unit holds at most this many runs (cells are never split); smaller units resume finer
RUNS_PER_UNIT = 2048


@dataclass(frozen=True)
class Cell:
    index: int  # position in grid order
    labels: dict[str, str]  # factor -> level label
    config: Config  # a BridgeRunConfig in a bridge study
    key: str  # hash of the resolved config, replicates, engine and simrl version

    @property
    def runs(self) -> int:
        return self.config.run.seeds


@dataclass(frozen=True)
class Unit:
    """Cells run in one `run_batch` call: what a worker receives (picklable)."""

    cells: tuple[tuple[str, dict], ...]  # (key, config as nested dict)
    seeds: int
    engine: str  # an engine of simrl.engine.batch, or "bridge"
    metrics: tuple[str, ...]  # columns kept (empty = all)
    #: a bridge unit run on this machine: the folder of its cells' seed checkpoints
    #: (results/partial, simrl/prereg/seed_store.py) and the code fingerprint they are
    #: valid for; empty: none (ray's workers, which need not share a filesystem; verify)
    partial: str = ""
    code: str = ""

    @property
    def runs(self) -> int:
        return len(self.cells) * self.seeds


def cell_key(config: Config, engine: str) -> str:
    """sha256 of what determines a cell's numbers: the resolved config (stamped with the
    simrl version), the replicates and the engine."""
    payload = json.dumps(
        {
            "config": identity_toml(config),
            "replicates": list(range(config.run.seeds)),
            "engine": engine,
            "simrl_version": __version__,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def expand(study: Study) -> list[Cell]:
    return [
        Cell(i, labels, cfg, cell_key(cfg, study.engine))
        for i, (labels, cfg) in enumerate(study.cells)
    ]


def shape_key(config: Config, cache: dict) -> tuple:
    """What runs batched together must share (simrl.engine.batch.check_shared_shapes).
    A bridge cell (no task section) runs alone: its own key."""
    r = config.run
    if not isinstance(config, Config):
        return (BRIDGE_ENGINE, config.to_toml())
    common = (config.task.kind, r.steps, r.eval_every, tuple(r.passk))
    if config.policy.kind != "tabular":  # batches share policy.kind (and its metric columns)
        common = (*common, config.policy.kind)
    if config.task not in cache:
        cache[config.task] = family(config.task.kind).shape_key(build_task(config.task))
    return (*common, cache[config.task])


def units(
    study: Study, cells: list[Cell], workers: int = 1, runs_per_unit: int = RUNS_PER_UNIT
) -> list[Unit]:
    """Group cells by shape, then split each group into units of at most runs_per_unit
    runs, and into at least `workers` units where the group has that many cells."""
    groups: dict[tuple, list[Cell]] = {}
    cache: dict = {}
    for cell in cells:
        groups.setdefault(shape_key(cell.config, cache), []).append(cell)
    out = []
    for group in groups.values():
        per_unit = max(1, runs_per_unit // study.seeds)
        n_units = max(-(-len(group) // per_unit), min(workers, len(group)))
        size = -(-len(group) // n_units)
        for start in range(0, len(group), size):
            chunk = group[start : start + size]
            out.append(
                Unit(
                    tuple((c.key, c.config.to_dict()) for c in chunk),
                    study.seeds,
                    study.engine,
                    study.metrics,
                )
            )
    return out
