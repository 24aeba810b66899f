"""The numba kernels of the fast path (simrl/engine/fast.py drives them).

One concept per module: `codes` (packed columns and registry codes), `fastmath` (a
vectorisable exp), `pcg64` (numpy's PCG64 stream), `softmax` (the per-state cache),
`sampling` (a bandit step's batch), `losses` (the ratio, the run's policy loss, the clip
tallies), `update` (gradient and optimiser), `metrics`, `breakdown` (the dH breakdown,
`run.audit`), `step` (one bandit step of one run, and the parallel chunk over runs); for
sequence tasks `seq_graph` (the task graph's dynamic programs), `seq_sampling`,
`seq_update`, `seq_metrics` and `seq_step`; `workspace` names the structures they pass
(docs/architecture.md, "The kernels' plumbing").

The algorithms' numba forms live with their algorithms (simrl/algorithms/): the policy
losses, advantage estimators and optimisers reach the kernels as first-class functions
(simrl.algorithms.compiled), the KL estimators and aggregation modes through an if-chain
generated from their registries and inlined (`dispatch`).

numba's on-disk cache is keyed on each function's own source file, so a kernel whose
callee in another module changed would load stale machine code. This package therefore
fingerprints the sources of its modules and of simrl/algorithms, and drops their numba
caches when any changed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def drop_stale_cache(sources: list[Path], stamp: Path) -> bool:
    """Delete numba's cache files in the __pycache__ of every folder that holds one of
    `sources` (files, or folders: every *.py under them) unless the sources are the ones
    it was built from (a sha256 in `stamp`). Returns True if it deleted or restamped."""
    digest = hashlib.sha256()
    files = sorted({p for s in sources for p in ([s] if s.is_file() else s.rglob("*.py"))})
    folders = sorted({p.parent for p in files})
    for path in files:
        digest.update(f"{path.parent.name}/{path.name}".encode() + b"\0")
        digest.update(path.read_bytes())
    fingerprint = digest.hexdigest()
    try:
        if stamp.is_file() and stamp.read_text() == fingerprint:
            return False
        for folder in folders:
            cache = folder / "__pycache__"
            for stale in [*cache.glob("*.nbi"), *cache.glob("*.nbc")]:
                stale.unlink(missing_ok=True)
        stamp.parent.mkdir(exist_ok=True)
        stamp.write_text(fingerprint)
    except OSError:  # a read-only install: numba then caches elsewhere, keyed by path
        return False
    return True


_HERE = Path(__file__).parent
_ALGORITHMS = _HERE.parents[1] / "algorithms"
drop_stale_cache(
    [
        _HERE,
        _HERE.parent / "packing.py",
        _ALGORITHMS / "losses",
        _ALGORITHMS / "advantages",
        _ALGORITHMS / "kl_estimators",
        _ALGORITHMS / "aggregations",
        _ALGORITHMS / "optimisers",
        _ALGORITHMS / "rewards",
        _ALGORITHMS / "tokens.py",
        _ALGORITHMS / "nb.py",
    ],
    _HERE / "__pycache__" / "kernels.sha256",
)
