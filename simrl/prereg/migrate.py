"""Bring a format-1 manifest (no per-cell hashes) to format 2, honestly.

Format 1 recorded no hash of a cell's file and no fingerprint of the code that computed
it. Migration records, for every cell file present that the grid expects, the sha256 of
its bytes now and the sha256 of its resolved config, marks the code fingerprint
"unrecorded" (it cannot be known afterwards), and appends a note saying when this was
done and that the hashes vouch for the files as they were at migration, not at
computation. No cell file is read for its numbers, changed or moved.

    python3 -m simrl.prereg.migrate experiments/factorial [...]
"""

from __future__ import annotations

import sys

from simrl.prereg.grid import expand
from simrl.prereg.lock import utc_now
from simrl.prereg.spec import load_study
from simrl.prereg.store import FORMAT, UNRECORDED, Store, config_sha256, sha256_bytes

NOTE = (
    "manifest format 1 -> 2: sha256 of each cell file and of its resolved config recorded "
    "from the files as they were at this migration, not when they were computed; the code "
    "that computed them was not fingerprinted then, so 'code' is 'unrecorded' "
    "(`simrl prereg verify --recompute` compares their numbers with the code now). No cell "
    "file was changed."
)


def migrate(study_path) -> int:
    """Migrate one study's manifest; returns the number of cell entries given hashes."""
    study = load_study(study_path)
    store = Store(study.path)
    m = store.manifest()
    if m.get("format", 1) >= FORMAT:
        return 0
    n = 0
    for cell in expand(study):
        entry = m["cells"].get(cell.key)
        if entry is None or not store.has(cell.key):
            continue
        entry["sha256"] = sha256_bytes(store.path(cell.key).read_bytes())
        entry["config_sha256"] = config_sha256(cell.config)
        entry.setdefault("simrl_version", m.get("simrl_version"))
        entry["code"] = UNRECORDED
        n += 1
    m["format"] = FORMAT
    m.setdefault("migrations", []).append({"utc": utc_now(), "note": NOTE})
    store.write_manifest(m)
    return n


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(f"{arg}: {migrate(arg)} cell entries migrated")
