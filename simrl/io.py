"""Atomic writes: a file is either absent or complete, never half-written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd


def umask() -> int:
    """The process's umask (read by setting it and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def respect_umask(path: str | Path) -> None:
    """mkstemp creates files mode 0600 whatever the umask; give a file the mode a plain
    open() would have (0666 & ~umask)."""
    os.chmod(path, 0o666 & ~umask())


def _atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        respect_umask(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    _atomic(Path(path), lambda tmp: Path(tmp).write_text(text))


def write_parquet(path: str | Path, df: pd.DataFrame) -> None:
    _atomic(Path(path), lambda tmp: df.to_parquet(tmp, index=False))
