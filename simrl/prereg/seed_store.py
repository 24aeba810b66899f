"""Seed checkpoints of a bridge cell: what survives a kill in the middle of a cell.

A bridge cell runs its seeds one after another (simrl/bridge/run.py run_bridge), minutes
each on the tiny model and up to an hour each on SmolLM2-135M on CPU, and the store writes
a cell only when all its seeds are done (store.Store.write_cells). Without checkpoints a
kill (a session's end, a pre-empted node) loses every finished seed of the cells in
flight. SeedStore keeps each finished seed as results/partial/<cell key>/seed<r>.json,
written atomically (io.write_bytes: a temporary file renamed into place), so that a rerun of
the study continues each cell at its missing seeds.

A seed file is one header line, `simrl-seed 1 <sha256 of the rest>`, then JSON: the cell
key, the code fingerprint (fingerprint.code_fingerprint("bridge")), the seed, and what
run_seed returned (metric rows, audit rows, the failed step, the kept eval samples).
Numbers keep their type and every bit: a Python float as JSON's shortest repr (which
reads back to the same float64), a numpy scalar as {"$np": dtype, "v": value}. A file is
used only when its hash, key, code and seed all match; otherwise one line on stderr says
why and the seed is recomputed. Nothing in a file is executed (JSON, no pickle).

Seeds of a cell are independent: run_seed draws only from seed_generator(cfg, r, s), and
a shared step-0 eval row is bitwise the computed one. So a cell continued from seed files
equals the cell run in one go, bit for bit (tests/prereg/test_seed_store.py).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from simrl import io

#: the folder of a study's results that holds the seed files of the cells in flight
PARTIAL = "partial"
HEADER = b"simrl-seed 1 "

SeedRun = tuple[list[dict], list[dict], int, dict]  # rows, audit rows, failed step, samples


def _encode(v: Any) -> Any:
    if isinstance(v, np.generic):
        return {"$np": v.dtype.str, "v": v.item()}
    if isinstance(v, dict):
        return {k: _encode(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_encode(x) for x in v]
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    raise TypeError(f"a seed checkpoint cannot hold a {type(v).__name__}")


def _decode(v: Any) -> Any:
    if isinstance(v, dict):
        if set(v) == {"$np", "v"}:
            return np.dtype(v["$np"]).type(v["v"])
        return {k: _decode(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_decode(x) for x in v]
    return v


class SeedStore:
    """The finished seeds of one bridge cell (`key`), computed by code `code`, in
    `folder`/<key>/. `on_load(r)` is called for each seed read back (CellProgress.skip)."""

    def __init__(
        self,
        folder: str | Path,
        key: str,
        code: str,
        on_load: Callable[[int], None] | None = None,
    ):
        self.dir = Path(folder) / key
        self.key, self.code, self.on_load = key, code, on_load

    def path(self, r: int) -> Path:
        return self.dir / f"seed{r}.json"

    def save(self, r: int, run: SeedRun) -> None:
        rows, audit, failed, samples = run
        payload = {
            "key": self.key,
            "code": self.code,
            "seed": r,
            "rows": rows,
            "audit": audit,
            "failed": failed,
            "samples": [[list(k), v] for k, v in samples.items()],
        }
        body = json.dumps(_encode(payload), sort_keys=True, allow_nan=True).encode()
        self.dir.mkdir(parents=True, exist_ok=True)
        io.write_bytes(
            self.path(r), HEADER + hashlib.sha256(body).hexdigest().encode() + b"\n" + body
        )

    def load(self, r: int) -> SeedRun | None:
        """Seed r as run_seed returned it, or None (no file, or one that does not check)."""
        path = self.path(r)
        if not path.is_file():
            return None
        why = self._check(path, r)
        if isinstance(why, str):
            print(f"simrl: {path}: {why}; seed {r} is recomputed", file=sys.stderr, flush=True)
            return None
        if self.on_load is not None:
            self.on_load(r)
        return why

    def _check(self, path: Path, r: int) -> SeedRun | str:
        data = path.read_bytes()
        head, _, body = data.partition(b"\n")
        if not head.startswith(HEADER):
            return "not a seed checkpoint"
        if hashlib.sha256(body).hexdigest().encode() != head[len(HEADER) :]:
            return "sha256 differs from its header (the file was altered or cut)"
        try:
            p = _decode(json.loads(body))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, TypeError) as e:
            return f"unreadable ({type(e).__name__})"
        for field, want in (("key", self.key), ("code", self.code), ("seed", r)):
            if p.get(field) != want:
                return f"written for {field} {p.get(field)!r}, not {want!r}"
        samples = {tuple(k): v for k, v in p["samples"]}
        return p["rows"], p["audit"], int(p["failed"]), samples

    def clear(self) -> None:
        """Remove this cell's seeds (its cell is stored), and the partial folder when empty."""
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.dir.parent.is_dir() and not any(self.dir.parent.iterdir()):
            self.dir.parent.rmdir()


def clear_stored(results: Path, stored: Callable[[str], bool]) -> None:
    """Remove the seed folders of cells that are stored (a kill between a cell's write and
    the removal of its seeds leaves them)."""
    partial = results / PARTIAL
    if partial.is_dir():
        for d in partial.iterdir():
            if d.is_dir() and stored(d.name):
                shutil.rmtree(d, ignore_errors=True)
        if not any(partial.iterdir()):
            partial.rmdir()


def checkpointed(results: Path, cells, code: str) -> dict[str, int]:
    """Per cell (key -> count), its seeds held in results/partial that check (load), for
    `prereg run --dry-run`: the runs a rerun reads back instead of running."""
    out = {}
    for cell in cells:
        store = SeedStore(results / PARTIAL, cell.key, code)
        if store.dir.is_dir():
            n = sum(store.load(r) is not None for r in range(cell.runs))
            if n:
                out[cell.key] = n
    return out
