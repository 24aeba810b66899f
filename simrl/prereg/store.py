"""The store of a study: one parquet file per grid cell, and a manifest that vouches for each.

    experiments/<study>/results/cells/<cell key>.parquet   seed, step, failed_step, metrics
    experiments/<study>/results/manifest.json               what is stored, its hashes, when
    experiments/<study>/results/set_aside/                 cells that failed a check (kept)

A cell's file is keyed by the hash of its resolved config, replicates, engine and simrl
version (grid.cell_key), and written to a temporary name and renamed (simrl.io), so a
file is either absent or complete. When a cell is written its manifest entry records the
sha256 of the file's bytes, the sha256 of its resolved config, the simrl version and the
fingerprint of the code that computed it (simrl/prereg/fingerprint.py). Every read checks
the file against its entry (`verify`): a file with no entry, another hash, unreadable
bytes or missing columns is not a result. `run` moves such a cell aside (never deletes
it) and recomputes it, as it does a cell computed by other code; `analyze` refuses it by
name. A cell's numbers depend only on its key and code, so resumed results are bitwise
the same as uninterrupted ones.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from simrl import io
from simrl._version import __version__
from simrl.prereg.grid import Cell
from simrl.prereg.identity import identity_toml

RESULTS = "results"
CELLS = "cells"
MANIFEST = "manifest.json"
SET_ASIDE = "set_aside"
#: bytes of parsed cell frames a Store keeps (see Store.read)
READ_CACHE_BYTES = 256 * 2**20
#: the manifest format: 2 records per-cell hashes and the code fingerprint
FORMAT = 2
#: the columns every cell file has before its metric columns
KEY_COLUMNS = ("seed", "step", "failed_step")
#: the code fingerprint of a cell computed before fingerprints were recorded
UNRECORDED = "unrecorded"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def config_sha256(config: Any) -> str:
    return sha256_bytes(identity_toml(config).encode())


class Store:
    def __init__(self, study_dir: Path):
        self.root = study_dir / RESULTS
        self.cells_dir = self.root / CELLS
        #: key -> (the file's stat stamp, its parsed frame): see read
        self._frames: dict[str, tuple[tuple[int, int, int], pd.DataFrame]] = {}
        self._frame_bytes = 0

    def path(self, key: str) -> Path:
        return self.cells_dir / f"{key}.parquet"

    def has(self, key: str) -> bool:
        return self.path(key).is_file()

    def write_cells(
        self, frames: dict[str, pd.DataFrame], record: Callable[[dict[str, str]], None]
    ) -> dict[str, str]:
        """Write cells so that no file is ever in the store without its manifest entry:
        each to a temporary file, then `record(key -> sha256)` (the manifest update), then
        renamed into place. A kill before the renames leaves entries without files, which
        count as missing (and are dropped at the next manifest update)."""
        self.cells_dir.mkdir(parents=True, exist_ok=True)
        tmps, hashes = {}, {}
        try:
            for key, df in frames.items():
                fd, tmp = tempfile.mkstemp(dir=self.cells_dir, prefix=f".{key}.", suffix=".tmp")
                os.close(fd)
                tmps[key] = Path(tmp)
                df.to_parquet(tmp, index=False)
                io.respect_umask(tmps[key])
                hashes[key] = sha256_bytes(tmps[key].read_bytes())
            record(hashes)
            for key, tmp in tmps.items():
                os.replace(tmp, self.path(key))
        except BaseException:
            for tmp in tmps.values():
                tmp.unlink(missing_ok=True)
            raise
        return hashes

    def read(self, key: str) -> pd.DataFrame:
        """The cell's frame (a copy each time). An analysis reads every cell three times
        (verify, the outcomes, the trajectories): the parsed frame is kept, up to
        READ_CACHE_BYTES in all, and reused while the file's stat stamp (inode, size,
        mtime) is unchanged; a file replaced or rewritten since is parsed again."""
        path = self.path(key)
        st = path.stat()
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        hit = self._frames.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1].copy()
        df = pd.read_parquet(path)
        size = int(df.memory_usage(index=True, deep=False).sum())
        if hit is not None:
            self._frames.pop(key)
            self._frame_bytes -= int(hit[1].memory_usage(index=True, deep=False).sum())
        if self._frame_bytes + size <= READ_CACHE_BYTES:
            self._frames[key] = (stamp, df.copy())
            self._frame_bytes += size
        return df

    def clean(self) -> None:
        """Remove temporary files a killed run left behind (never a complete cell), and the
        seed checkpoints of cells that are stored."""
        if self.cells_dir.is_dir():
            for tmp in self.cells_dir.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)
        from simrl.prereg.seed_store import clear_stored

        clear_stored(self.root, self.has)

    def cell_files(self) -> list[Path]:
        return sorted(self.cells_dir.glob("*.parquet")) if self.cells_dir.is_dir() else []

    def manifest(self) -> dict[str, Any]:
        path = self.root / MANIFEST
        if not path.is_file():
            return {"cells": {}}
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            from simrl.errors import ConfigError

            raise ConfigError(
                str(path), type(e).__name__, "must be the study's manifest (valid JSON)"
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("cells"), dict):
            from simrl.errors import ConfigError

            raise ConfigError(str(path), "?", "must be a manifest with a 'cells' table")
        return data

    def has_manifest(self) -> bool:
        return (self.root / MANIFEST).is_file()

    # ---- verification -----------------------------------------------------------------

    def verify(self, cell: Cell, entry: dict | None) -> str | None:
        """None if the cell's file is what its manifest entry vouches for; else why not."""
        path = self.path(cell.key)
        if not path.is_file():
            return "no file"
        if entry is None:
            return "no manifest entry (written by a run that did not finish, or copied in)"
        data = path.read_bytes()
        if "sha256" not in entry:
            return "its manifest entry records no sha256 (manifest format 1)"
        if sha256_bytes(data) != entry["sha256"]:
            return f"sha256 {sha256_bytes(data)[:12]} differs from the manifest's {entry['sha256'][:12]}"
        if entry.get("config_sha256") not in (None, config_sha256(cell.config)):
            return "its recorded config hash is not the cell's config"
        try:
            df = self.read(cell.key)
        except Exception as e:  # any unreadable bytes: pyarrow raises several kinds
            return f"unreadable ({type(e).__name__})"
        missing = [c for c in KEY_COLUMNS if c not in df.columns]
        if missing:
            return "missing columns " + ", ".join(missing)
        return None

    def check_cells(self, cells: list[Cell]) -> dict[str, str]:
        """cell key -> why it fails, for every stored cell that fails verification."""
        entries = self.manifest().get("cells", {})
        bad = {}
        for c in cells:
            if self.has(c.key):
                why = self.verify(c, entries.get(c.key))
                if why:
                    bad[c.key] = why
        return bad

    def stale(self, cells: list[Cell], code: str) -> dict[str, str]:
        """Verified cells computed by other code than `code` (a fingerprint)."""
        entries = self.manifest().get("cells", {})
        out = {}
        for c in cells:
            e = entries.get(c.key)
            if e is not None and self.has(c.key) and e.get("code", UNRECORDED) != code:
                out[c.key] = f"computed by code {e.get('code', UNRECORDED)[:12]}, now {code[:12]}"
        return out

    def set_aside(self, key: str, why: str) -> Path:
        """Move a cell file out of the store (never delete it); a note says why."""
        from simrl.prereg.lock import utc_now

        stamp = utc_now().replace(":", "").replace(".", "")
        dest = self.root / SET_ASIDE / f"{key}.{stamp}.parquet"
        dest.parent.mkdir(parents=True, exist_ok=True)
        self.path(key).replace(dest)
        io.write_text(dest.with_suffix(".why.txt"), why + "\n")
        return dest

    def missing(self, cells: list[Cell]) -> list[Cell]:
        return [c for c in cells if not self.has(c.key)]

    # ---- the manifest -------------------------------------------------------------------

    def update_manifest(
        self,
        cells: list[Cell],
        spec_sha256: str,
        written: dict[str, dict[str, Any]],
        run_info: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Rewrite the manifest: the entries of cells just written (`written`: key -> sha256,
        code, timing), and the earlier entries of cells still present."""
        old_manifest = self.manifest()
        old = old_manifest.get("cells", {})
        entries = {}
        for cell in cells:
            if cell.key in written:
                w = written[cell.key]
                entry = {
                    "index": cell.index,
                    "levels": cell.labels,
                    "file": f"{CELLS}/{cell.key}.parquet",
                    "runs": cell.runs,
                    "sha256": w["sha256"],
                    "config_sha256": config_sha256(cell.config),
                    "simrl_version": __version__,
                    "code": w["code"],
                    "timing": w["timing"],
                }
            elif cell.key in old and self.has(cell.key):
                entry = old[cell.key]
            else:
                continue  # a file with no entry vouches for nothing (run sets it aside)
            entries[cell.key] = entry
        finished = [e["timing"]["finished_utc"] for e in entries.values() if "timing" in e]
        runs = old_manifest.get("runs", [])
        if run_info is not None:
            runs = [*runs, run_info]
        manifest = {
            "format": FORMAT,
            "runs": runs,  # every `simrl prereg run` that stored cells: when, where, how long
            "spec_sha256": spec_sha256,
            "simrl_version": __version__,
            "cells_total": len(cells),
            "cells_stored": len(entries),
            "first_result_utc": min(finished) if finished else None,
            "last_result_utc": max(finished) if finished else None,
            "cells": entries,
        }
        for key in ("migrations", "set_aside"):
            if key in old_manifest:
                manifest[key] = old_manifest[key]
        self.write_manifest(manifest)
        return manifest

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        io.write_text(self.root / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")

    def record_set_aside(self, moved: dict[str, tuple[str, Path]]) -> None:
        """Note in the manifest which cells were set aside, why and where."""
        if not moved or not self.has_manifest():
            return
        m = self.manifest()
        from simrl.prereg.lock import utc_now

        now = utc_now()
        m.setdefault("set_aside", []).extend(
            {"key": k, "why": why, "to": str(p.relative_to(self.root)), "utc": now}
            for k, (why, p) in moved.items()
        )
        for k in moved:
            m["cells"].pop(k, None)
        m["cells_stored"] = len(m["cells"])
        self.write_manifest(m)
