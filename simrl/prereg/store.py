"""The store of a study: one parquet file per grid cell, and a manifest.

    experiments/<study>/results/cells/<cell key>.parquet   seed, step, failed_step, metrics
    experiments/<study>/results/manifest.json               what is stored, when, how long

A cell's file is keyed by the hash of its resolved config, replicates, engine and simrl
version (grid.cell_key), and written to a temporary name and renamed (simrl.io), so a
file is either absent or complete. The cell files are the truth: the manifest is
rebuilt from them after every cell, so a run killed between writing a cell and updating
the manifest loses nothing, and a rerun computes exactly the cells whose files are
missing. A cell's numbers depend only on its key, so resumed results are bitwise the
same as uninterrupted ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from simrl import io
from simrl._version import __version__
from simrl.prereg.grid import Cell

RESULTS = "results"
CELLS = "cells"
MANIFEST = "manifest.json"


class Store:
    def __init__(self, study_dir: Path):
        self.root = study_dir / RESULTS
        self.cells_dir = self.root / CELLS

    def path(self, key: str) -> Path:
        return self.cells_dir / f"{key}.parquet"

    def has(self, key: str) -> bool:
        return self.path(key).is_file()

    def write(self, key: str, df: pd.DataFrame) -> None:
        io.write_parquet(self.path(key), df)

    def read(self, key: str) -> pd.DataFrame:
        return pd.read_parquet(self.path(key))

    def clean(self) -> None:
        """Remove temporary files a killed run left behind (never a complete cell)."""
        if self.cells_dir.is_dir():
            for tmp in self.cells_dir.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)

    def missing(self, cells: list[Cell]) -> list[Cell]:
        return [c for c in cells if not self.has(c.key)]

    def manifest(self) -> dict[str, Any]:
        path = self.root / MANIFEST
        return json.loads(path.read_text()) if path.is_file() else {"cells": {}}

    def update_manifest(
        self,
        cells: list[Cell],
        spec_sha256: str,
        timings: dict[str, dict[str, Any]],
        run_info: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Rewrite the manifest from the cell files present; keep earlier timings."""
        old = self.manifest().get("cells", {})
        entries = {}
        for cell in cells:
            if not self.has(cell.key):
                continue
            entry = {
                "index": cell.index,
                "levels": cell.labels,
                "file": f"{CELLS}/{cell.key}.parquet",
                "runs": cell.runs,
            }
            timing = timings.get(cell.key) or old.get(cell.key, {}).get("timing")
            if timing:
                entry["timing"] = timing
            entries[cell.key] = entry
        finished = [e["timing"]["finished_utc"] for e in entries.values() if "timing" in e]
        runs = self.manifest().get("runs", [])
        if run_info is not None:
            runs = [*runs, run_info]
        manifest = {
            "runs": runs,  # every `simrl prereg run` that stored cells: when, where, how long
            "spec_sha256": spec_sha256,
            "simrl_version": __version__,
            "cells_total": len(cells),
            "cells_stored": len(entries),
            "first_result_utc": min(finished) if finished else None,
            "last_result_utc": max(finished) if finished else None,
            "cells": entries,
        }
        io.write_text(self.root / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        return manifest
