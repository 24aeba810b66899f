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


def drop_stale_cache(source_dir: Path, cache_dir: Path) -> bool:
    """Delete numba's cache files in cache_dir unless the sources of source_dir/*.py are
    the ones it was built from (a sha256 stamp). Returns True if it deleted or restamped."""
    digest = hashlib.sha256()
    for path in sorted(source_dir.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    fingerprint = digest.hexdigest()
    stamp = cache_dir / "kernels.sha256"
    try:
        if stamp.is_file() and stamp.read_text() == fingerprint:
            return False
        cache_dir.mkdir(exist_ok=True)
        for stale in [*cache_dir.glob("*.nbi"), *cache_dir.glob("*.nbc")]:
            stale.unlink(missing_ok=True)
        stamp.write_text(fingerprint)
    except OSError:  # a read-only install: numba then caches elsewhere, keyed by path
        return False
    return True


drop_stale_cache(Path(__file__).parent, Path(__file__).parent / "__pycache__")
