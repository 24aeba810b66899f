"""Atomic writes: a file is either absent or complete, never half-written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd


def _atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    _atomic(Path(path), lambda tmp: Path(tmp).write_text(text))


def write_parquet(path: str | Path, df: pd.DataFrame) -> None:
    _atomic(Path(path), lambda tmp: df.to_parquet(tmp, index=False))
