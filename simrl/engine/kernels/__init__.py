"""The numba kernels of the fast path (simrl/engine/fast.py drives them).

One concept per module: `codes` (packed columns and registry codes), `fastmath` (a
vectorisable exp), `pcg64` (numpy's PCG64 stream), `softmax` (the per-state cache),
`sampling` (a bandit step's batch), `losses` (the ratio, the run's policy loss, the clip
tallies), `update` (gradient and optimiser), `metrics`, `breakdown` (the dH breakdown,
`run.audit`), `step` (one bandit step of one run, and the parallel chunk over runs); for
sequence tasks `seq_graph` (the task graph's dynamic programs), `seq_sampling`,
`seq_update`, `seq_metrics` and `seq_step`; `workspace` names the structures they pass
(docs/architecture.md, "The kernels' plumbing"); `hooks` hands the kernels the optional
features (the exact batch, the dH breakdown, the controllers, the quadrant split, the
per-token baselines) as first-class functions, compiled only for a call that uses them.

The algorithms' numba forms live with their algorithms (simrl/algorithms/): the policy
losses, advantage estimators and optimisers reach the kernels as first-class functions
(simrl.algorithms.compiled), the KL estimators and aggregation modes through an if-chain
generated from their registries and inlined (`dispatch`).

Compile time (docs/performance.md, "Compile time"): every njit function is a library that
links, optimises and generates machine code for everything below it again, so the thin
per-step wrappers (step.snapshot, step_metrics, kept_finite, record_eval, ...,
update.minibatch_step) are `inline="always"`; no caller passes a literal (True, 0) where a
variable is passed elsewhere (numba would compile the callee twice); array copies are
loops (`copying`); and the chunk kernels run serially, the driver splitting a block's runs
over threads (engine/threads.py) instead of numba's parfor lowering.

numba's on-disk cache is keyed on each function's own source file, so a kernel whose
callee or frozen global in another module changed would load stale machine code. This
package therefore fingerprints, per group of compiled code, the sources it is built from,
and drops that group's numba caches (wherever numba keeps them: the source's __pycache__,
NUMBA_CACHE_DIR, or the user-wide cache) when any of its sources changed. The groups: the
kernels (the step and chunk kernels with everything they inline: the KL estimators,
aggregations and rewards, the numba helpers, the tokens' columns, the metrics' constants),
and one per family of algorithm cfuncs (losses, advantages, optimisers: each with the
helpers it calls). So an upgrade that changes one loss recompiles the losses' cfuncs
(seconds), not the step kernels (minutes); docs/performance.md, "Compile time".
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def numba_cache_dir(source: Path) -> Path | None:
    """The folder where numba keeps the cache of functions defined in `source` (numba's
    own locators, in numba's order: NUMBA_CACHE_DIR, the source's __pycache__, the
    user-wide cache); None if it has none."""
    from numba.core.caching import CacheImpl

    def probe() -> None:  # the locators read a function's first line only
        pass

    for locator in CacheImpl._locator_classes:
        found = locator.from_function(probe, str(source))
        if found is not None:
            return Path(found.get_cache_path())
    return None


def drop_stale_group(name: str, sources: list[Path], compiled: list[Path]) -> bool:
    """Delete numba's cache files of the functions defined in the `compiled` files (files,
    or folders: every *.py under them) unless `sources` (idem) are the ones they were built
    from (a sha256 stamp `simrl-<name>.sha256` in the first one's cache folder)."""
    files = sorted({p for s in compiled for p in ([s] if s.is_file() else s.rglob("*.py"))})
    folder = numba_cache_dir(files[0]) if files else None
    if folder is None:
        return False
    digest = _fingerprint(sources)
    stamp = folder / f"simrl-{name}.sha256"
    try:
        if stamp.is_file() and stamp.read_text() == digest:
            return False
        for path in files:
            cache = numba_cache_dir(path)
            if cache is not None:
                for stale in [*cache.glob(f"{path.stem}.*.nbi"), *cache.glob(f"{path.stem}.*.nbc")]:
                    stale.unlink(missing_ok=True)
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(digest)
    except OSError:  # a read-only cache folder: numba cannot cache there either
        return False
    return True


def _fingerprint(sources: list[Path]) -> str:
    digest = hashlib.sha256()
    files = sorted({p for s in sources for p in ([s] if s.is_file() else s.rglob("*.py"))})
    for path in files:
        digest.update(f"{path.parent.name}/{path.name}".encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


_HERE = Path(__file__).parent
_SIMRL = _HERE.parents[1]
_ALGORITHMS = _SIMRL / "algorithms"
#: what every compiled form may call or freeze: the numba helpers and the tokens' columns
_SHARED = [
    _ALGORITHMS / "losses" / "numba_helpers.py",
    _HERE / "fastmath.py",
    _ALGORITHMS / "tokens.py",
    _ALGORITHMS / "nb.py",
    # theory/entropy.py: simrl/theory/ in a wheel, the top-level theory/ in a checkout
    # (simrl/_theory_path.py); a path that does not exist adds nothing to a fingerprint
    _SIMRL / "theory" / "entropy.py",
    _SIMRL.parent / "theory" / "entropy.py",
]
#: the step kernels: their modules and all they inline or freeze as globals
_KERNELS = [
    _HERE,
    _ALGORITHMS / "kl_estimators",
    _ALGORITHMS / "aggregations",
    _ALGORITHMS / "rewards",
]
_KERNEL_SOURCES = [
    *_KERNELS,
    *_SHARED,
    _HERE.parent / "packing.py",
    _HERE.parent / "reference.py",
    _SIMRL / "metrics.py",
    _SIMRL / "metrics_sequence.py",
]
drop_stale_group(
    "kernels", _KERNEL_SOURCES, [*_KERNELS, _ALGORITHMS / "losses" / "numba_helpers.py"]
)
for _family in ("losses", "advantages", "optimisers"):
    drop_stale_group(_family, [_ALGORITHMS / _family, *_SHARED], [_ALGORITHMS / _family])
