"""The lock: what was registered, when, by which simrl and which commit; and amendments.

`register` writes `prereg.lock.json` beside `prereg.toml`: the sha256 of the spec's bytes,
the spec text itself (so that an amendment can show its diff), the simrl version, the
git commit of the project and whether the spec was committed unchanged, and the UTC time.
Registering twice is refused. `amend` records a deviation (reason, time, the previous and
new hashes, the unified diff of the spec) instead of overwriting anything. `check`
refuses a spec whose bytes differ from the registered (or last amended) ones, naming both
hashes.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

from simrl import io
from simrl._version import __version__
from simrl.errors import ConfigError
from simrl.prereg.rehearsal import rehearse
from simrl.prereg.spec import SPEC_FILE, load_study, resolve

LOCK_FILE = "prereg.lock.json"


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def git_state(path: Path) -> dict[str, Any]:
    """The project's commit and the git state of `path` (a file or a folder): "committed
    unchanged", "modified", "untracked", "ignored" (git status prints nothing for an
    ignored file, so it is asked with --ignored), or "no git". Python's __pycache__ is
    not source and is left out."""

    cwd = path if path.is_dir() else path.parent

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=20
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"git_commit": "unknown", "spec_committed": False, "git_state": "no git"}
    target = "." if path.is_dir() else path.name
    status = git("status", "--porcelain", "--ignored", "--untracked-files=all", "--", target)
    lines = [ln for ln in (status or "").splitlines() if "__pycache__" not in ln]
    tracked = git("ls-files", "--", target)
    if status is None:
        state = "unknown"
    elif any(ln.startswith("!!") for ln in lines) and not tracked:
        state = "ignored"
    elif any(ln.startswith("??") for ln in lines) and not tracked:
        state = "untracked"
    elif lines:
        state = "modified"  # changed, or holding untracked or ignored files
    else:
        state = "committed unchanged"
    return {
        "git_commit": commit.strip(),
        "spec_committed": state == "committed unchanged",
        "git_state": state,
    }


def results_exist(study_dir: Path) -> bool:
    results = study_dir / "results"
    return (
        (results / "manifest.json").is_file()
        or any((results / "cells").glob("*.parquet"))
        or any((results / "partial").glob("*/seed*.json"))  # a bridge cell's finished seeds
    )


def read_lock(study_dir: Path) -> dict[str, Any] | None:
    path = study_dir / LOCK_FILE
    if not path.is_file():
        return None
    try:
        lock = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ConfigError(
            str(path),
            type(e).__name__,
            "must be a lock written by simrl prereg register (valid JSON)",
        ) from None
    need = {
        "study": str,
        "spec_sha256": str,
        "spec_text": str,
        "registered_utc": str,
        "amendments": list,
    }
    for key, kind in need.items():
        if not isinstance(lock, dict) or not isinstance(lock.get(key), kind):
            raise ConfigError(
                f"{path}: {key}",
                None if not isinstance(lock, dict) else lock.get(key),
                f"a lock holds {key} ({kind.__name__})",
            )
    for i, am in enumerate(lock["amendments"]):
        if not isinstance(am, dict) or not all(
            isinstance(am.get(k), str) for k in ("spec_sha256", "spec_text", "previous_sha256")
        ):
            raise ConfigError(
                f"{path}: amendments[{i}]",
                "?",
                "an amendment holds spec_sha256, spec_text and previous_sha256",
            )
    return lock


def registered_hash(lock: dict[str, Any]) -> str:
    """The hash the spec must have now: the last amendment's, else the registration's."""
    if lock["amendments"]:
        return lock["amendments"][-1]["spec_sha256"]
    return lock["spec_sha256"]


def register(study: str | Path) -> dict[str, Any]:
    """Write the lock of a study that has none; the spec is validated first."""
    study_dir = resolve(study)
    rehearse(load_study(study_dir))  # a spec that does not validate is never registered
    if read_lock(study_dir) is not None:
        raise ConfigError(
            "study",
            study_dir.name,
            f"is already registered ({study_dir / LOCK_FILE}); a change to the spec is an "
            'amendment: simrl prereg register STUDY --amend "reason"',
        )
    if results_exist(study_dir):
        raise ConfigError(
            "study",
            study_dir.name,
            f"has results but no {LOCK_FILE}: registering now would claim a registration "
            f'before them; record the lost lock with simrl prereg register {study_dir} --amend "reason"',
        )
    lock = new_lock(study_dir)
    io.write_text(study_dir / LOCK_FILE, json.dumps(lock, indent=2) + "\n")
    return lock


def spec_text(spec: Path) -> str:
    """The spec's exact text: its bytes decoded (no newline translation), so that the
    text's sha256 is the file's."""
    return spec.read_bytes().decode("utf-8")


def new_lock(study_dir: Path) -> dict[str, Any]:
    spec = study_dir / SPEC_FILE
    return {
        "study": study_dir.name,
        "spec_sha256": sha256_file(spec),
        "spec_text": spec_text(spec),
        "simrl_version": __version__,
        **git_state(spec),
        "registered_utc": utc_now(),
        "amendments": [],
    }


def amend(study: str | Path, reason: str) -> dict[str, Any]:
    """Record a deviation: the changed spec becomes the registered one, and the lock keeps
    the reason, the time, both hashes and the diff."""
    study_dir = resolve(study)
    if not reason.strip():
        raise ConfigError("--amend", reason, "needs a reason (a non-empty string)")
    lock = read_lock(study_dir)
    rehearse(load_study(study_dir))
    acknowledges = None
    if lock is None:
        if not results_exist(study_dir):
            raise ConfigError(
                "study", study_dir.name, "is not registered yet: register it before amending"
            )
        # the lock vanished after results: a new lock that says so, never a clean one
        lock = new_lock(study_dir)
        lock["registered_after_results"] = True
        acknowledges = "lock lost"
    spec = study_dir / SPEC_FILE
    new_hash, old_hash = sha256_file(spec), registered_hash(lock)
    manifest_lost = (
        results_exist(study_dir) and not (study_dir / "results" / "manifest.json").is_file()
    )
    if manifest_lost and acknowledges is None:
        acknowledges = "manifest lost"
    if new_hash == old_hash and acknowledges is None:
        raise ConfigError(
            "--amend", reason, f"the spec is unchanged (sha256 {new_hash[:12]}); nothing to amend"
        )
    old_text = lock["amendments"][-1]["spec_text"] if lock["amendments"] else lock["spec_text"]
    new_text = spec_text(spec)
    diff = "".join(
        difflib.unified_diff(
            old_text.splitlines(keepends=True),
            new_text.splitlines(keepends=True),
            fromfile=f"{SPEC_FILE} (sha256 {old_hash[:12]})",
            tofile=f"{SPEC_FILE} (sha256 {new_hash[:12]})",
        )
    )
    lock["amendments"].append(
        {
            "reason": reason.strip(),
            "time_utc": utc_now(),
            "previous_sha256": old_hash,
            "spec_sha256": new_hash,
            "spec_text": new_text,
            "diff": diff,
            "simrl_version": __version__,
            **git_state(spec),
            **({"acknowledges": acknowledges} if acknowledges else {}),
        }
    )
    io.write_text(study_dir / LOCK_FILE, json.dumps(lock, indent=2) + "\n")
    return lock


def check(study_dir: Path) -> dict[str, Any]:
    """The lock of a registered, unchanged spec; ConfigError naming the hashes otherwise."""
    lock = read_lock(study_dir)
    if lock is None:
        raise ConfigError(
            "study",
            study_dir.name,
            f"is not registered: run `simrl prereg register {study_dir}` before running it",
        )
    from simrl.prereg.lock_checks import FAILED, text_checks

    for c in text_checks(lock):
        if c.status == FAILED:
            raise ConfigError(
                str(study_dir / LOCK_FILE),
                c.name,
                f"the lock contradicts itself ({c.detail}): it was edited after it was written",
            )
    now, registered = sha256_file(study_dir / SPEC_FILE), registered_hash(lock)
    if now != registered:
        which = "last amendment" if lock["amendments"] else "registration"
        raise ConfigError(
            f"{study_dir / SPEC_FILE} sha256",
            now,
            f"differs from the {which}'s sha256 {registered}: the spec changed after it was "
            f'registered; record it with `simrl prereg register {study_dir} --amend "reason"`',
        )
    return lock
