"""Atomic writes: a file (or an output folder) is either absent or complete, never
half-written; files get the mode the umask gives a plain open(), not mkstemp's 0600."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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


def write_bytes(path: str | Path, data: bytes) -> None:
    _atomic(Path(path), lambda tmp: Path(tmp).write_bytes(data))


def write_parquet(path: str | Path, df: pd.DataFrame) -> None:
    _atomic(Path(path), lambda tmp: df.to_parquet(tmp, index=False))


def read_toml(path: str | Path) -> dict:
    """A TOML file's tables; a missing, unreadable, non-UTF-8, invalid or absurdly nested
    file is one ConfigError naming it."""
    import tomllib

    from simrl.errors import ConfigError

    path = Path(path)
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as e:
        raise ConfigError(
            str(path), type(e).__name__, f"must be a readable file ({e.strerror})"
        ) from None
    except UnicodeDecodeError as e:
        raise ConfigError(str(path), f"byte {e.start}", "must be UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(str(path), "?", f"must be valid TOML ({e})") from None
    except RecursionError:
        raise ConfigError(str(path), "?", "must be TOML nested to a sane depth") from None


def check_out(out: str | Path, force: bool, flag: str = "--out") -> None:
    """An output folder can be written: not a file, not a non-empty folder (unless
    forced), inside a writable folder. Checked before any work starts."""
    from simrl.errors import ConfigError

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(flag, str(out), "must be a folder (a file is there)")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ConfigError(
            flag,
            str(out),
            "exists and is not empty: pass --force to replace it (the new folder replaces it "
            "only once complete)",
        )
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(flag, str(out), f"must be inside a writable folder ({parent} is not)")


@contextmanager
def atomic_dir(out: str | Path, force: bool):
    """Yield a temporary folder beside `out`; once the block completes, it becomes `out`
    (an existing `out` is replaced only then, and only when empty or `force`). A failure
    or Ctrl-C inside the block removes the temporary folder and leaves `out` as it was."""
    import shutil

    from simrl.errors import ConfigError

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    os.chmod(tmp, 0o777 & ~umask())
    try:
        yield tmp
        if out.exists() and any(out.iterdir()) and not force:
            raise ConfigError("--out", str(out), "appeared while running: pass --force")
        if out.exists():
            old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".old"))
            os.replace(out, old / "x")
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def staged(dest: str | Path, last: tuple[str, ...] = ()):
    """Yield a temporary folder inside `dest`; write a bundle of files there. Once the
    block completes, every file is renamed into place under `dest` (those named in
    `last` after the others, so a reader that finds the new `last` finds the whole new
    bundle). A failure or Ctrl-C inside the block leaves `dest` as it was."""
    import shutil

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest, prefix=".bundle.", suffix=".tmp"))
    try:
        yield tmp
        files = sorted(p for p in tmp.rglob("*") if p.is_file())
        for p in sorted(files, key=lambda p: p.relative_to(tmp).as_posix() in last):
            target = dest / p.relative_to(tmp)
            target.parent.mkdir(parents=True, exist_ok=True)
            respect_umask(p)
            os.replace(p, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
