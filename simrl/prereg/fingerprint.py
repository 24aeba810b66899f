"""The fingerprint of the code that computes a cell: a sha256 over the sources that
determine its numbers, as simrl/engine/kernels/__init__.py fingerprints the kernels.

A study's cell is reused only when the code that computed it has the fingerprint of the
code now (store.Store.stale): a changed engine, loss, metric or task recomputes instead of
reusing. The fingerprint is over file bytes, so a comment changes it too: it errs towards
recomputing, never towards reusing.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

import simrl

#: what determines a simulator cell's numbers: the engine and the algorithms it runs, the
#: task and its prior, the metrics, the config it reads, and theory/ (closed forms the
#: metrics call)
SIMULATOR_SOURCES = (
    "simrl/engine",
    "simrl/tasks",
    "simrl/algorithms",
    "simrl/advantages.py",
    "simrl/aggregation.py",
    "simrl/config.py",
    "simrl/config_checks.py",
    "simrl/config_toml.py",
    "simrl/dynamic_sampling.py",
    "simrl/kl.py",
    "simrl/losses.py",
    "simrl/metrics.py",
    "simrl/metrics_sequence.py",
    "simrl/optim.py",
    "simrl/registry.py",
    "simrl/rewards.py",
    "simrl/validate.py",
    "theory",
)
#: a bridge cell: the bridge, the built-in task files that bridge.task names
#: (simrl/bridge/tasks.py), and the registries and config it shares with the simulator
BRIDGE_SOURCES = ("simrl/bridge", "simrl/examples/bridge_arith.py", *SIMULATOR_SOURCES)


def _root() -> Path:
    return Path(simrl.__file__).resolve().parent.parent


def _locate(entry: str) -> Path:
    """Where a source entry is: simrl/... beside the package; `theory` is the folder of
    simrl.theory (the repository's theory/, or simrl/theory/ in an installed wheel)."""
    if entry == "theory":
        import simrl.theory

        return Path(simrl.theory.__file__).resolve().parent
    return _root() / entry


@cache
def code_fingerprint(backend: str = "simulator") -> str:
    """sha256 of the relative path and bytes of every .py file of the backend's sources.

    The relative path is the entry's name in the repository layout (theory/entropy.py, not
    simrl/theory/entropy.py), so a wheel and a checkout of the same code agree."""
    digest = hashlib.sha256()
    for entry in BRIDGE_SOURCES if backend == "bridge" else SIMULATOR_SOURCES:
        path = _locate(entry)
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for f in files:
            if f.is_file():
                rel = entry if f == path else f"{entry}/{f.relative_to(path).as_posix()}"
                digest.update(rel.encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()


def source_paths(backend: str = "simulator") -> list[Path]:
    return [_locate(e) for e in (BRIDGE_SOURCES if backend == "bridge" else SIMULATOR_SOURCES)]
