"""The numba kernels of the fast path (simrl/engine/fast.py drives them).

One concept per module: `codes` (packed columns and registry codes), `fastmath` (a
vectorisable exp), `pcg64` (numpy's PCG64 stream), `softmax` (the per-state cache),
`sampling` (a step's batch), `losses`, `update` (gradient and optimiser), `metrics`,
`step` (one step of one run, and the parallel chunk over runs).

numba's on-disk cache is keyed on each function's own source file, so a kernel whose
callee in another module changed would load stale machine code. This package therefore
fingerprints the sources of all its modules and drops its numba cache when any changed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_HERE = Path(__file__).parent
_CACHE = _HERE / "__pycache__"
_STAMP = _CACHE / "kernels.sha256"


def _drop_stale_cache() -> None:
    digest = hashlib.sha256()
    for path in sorted(_HERE.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    fingerprint = digest.hexdigest()
    try:
        if _STAMP.read_text() == fingerprint:
            return
        _CACHE.mkdir(exist_ok=True)
        for stale in [*_CACHE.glob("*.nbi"), *_CACHE.glob("*.nbc")]:
            stale.unlink(missing_ok=True)
        _STAMP.write_text(fingerprint)
    except FileNotFoundError:
        _CACHE.mkdir(exist_ok=True)
        _STAMP.write_text(fingerprint)
    except OSError:  # a read-only install: numba then caches elsewhere, keyed by path
        pass


_drop_stale_cache()
