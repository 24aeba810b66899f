"""Checking what a lock claims, instead of printing it as given.

Each check is `Check(name, status, detail)` with status "verified", "failed" or "not
checkable" (and why). The lock's own consistency is always checkable: its stored spec
text must hash to its spec_sha256, and each amendment's text to its hash, chained by
previous_sha256. Its time and commit are checked against the repository's history where
the study is in a git repository: the lock file's first commit must hold a spec that
hashes to the registered hash, must come before the first commit of any result, and the
commit the lock names must be an ancestor of it, committed no later than the registration
time the lock states. What no local check can rule out (a history rewritten before it
was shared) is written in docs/integrity.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VERIFIED, FAILED, NOT_CHECKABLE = "verified", "failed", "not checkable"


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def text_checks(lock: dict[str, Any]) -> list[Check]:
    """The lock's stored texts agree with its hashes, and amendments chain."""
    out = []
    text = lock.get("spec_text")
    if not isinstance(text, str):
        out.append(Check("lock spec text vs hash", FAILED, "the lock holds no spec text"))
        return out
    ok = _sha(text) == lock.get("spec_sha256")
    out.append(
        Check(
            "lock spec text vs hash",
            VERIFIED if ok else FAILED,
            f"sha256 of the stored text {_sha(text)[:12]}, lock says {str(lock.get('spec_sha256'))[:12]}",
        )
    )
    prev = lock.get("spec_sha256")
    for i, am in enumerate(lock.get("amendments", []), 1):
        t = am.get("spec_text", "")
        good = (
            isinstance(t, str)
            and _sha(t) == am.get("spec_sha256")
            and am.get("previous_sha256") == prev
        )
        out.append(
            Check(
                f"amendment {i} text, hash and chain",
                VERIFIED if good else FAILED,
                f"{str(am.get('previous_sha256'))[:12]} -> {str(am.get('spec_sha256'))[:12]}: "
                + ("text hashes to it, chained" if good else "text, hash or chain disagree"),
            )
        )
        prev = am.get("spec_sha256")
    return out


def _git(cwd: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _first_commit(cwd: Path, path: str) -> tuple[str, str] | None:
    """(commit, ISO commit time) of the oldest commit that added `path` (following no renames)."""
    log = _git(cwd, "log", "--diff-filter=A", "--format=%H %cI", "--", path)
    if not log:
        return None
    commit, when = log.splitlines()[-1].split()
    return commit, when


def _utc(iso: str) -> dt.datetime:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(dt.UTC)


def history_checks(
    study_dir: Path, lock: dict[str, Any], lock_file: str, spec_file: str
) -> list[Check]:
    """The lock's commit and time against git history (not checkable outside git)."""
    cwd = study_dir.resolve()
    top = _git(cwd, "rev-parse", "--show-toplevel")
    if top is None:
        why = "the study is not in a git repository (or git is not installed)"
        return [Check("lock vs git history", NOT_CHECKABLE, why)]
    out = []
    first = _first_commit(cwd, lock_file)
    if first is None:
        return [Check("lock committed", NOT_CHECKABLE, "the lock file has never been committed")]
    commit, when = first
    out.append(Check("lock committed", VERIFIED, f"first in commit {commit[:12]} at {when}"))
    blob = subprocess.run(
        ["git", "show", f"{commit}:./{spec_file}"], cwd=cwd, capture_output=True, timeout=30
    )
    if blob.returncode != 0:
        out.append(Check("spec in the lock's first commit", FAILED, "that commit holds no spec"))
    else:
        ok = lock.get("spec_sha256") == hashlib.sha256(blob.stdout).hexdigest()
        out.append(
            Check(
                "spec in the lock's first commit hashes to the lock's hash",
                VERIFIED if ok else FAILED,
                f"commit {commit[:12]}",
            )
        )
    reg = lock.get("registered_utc")
    try:
        stated = _utc(reg).replace(microsecond=0)  # git's commit times are whole seconds
        ok = stated <= _utc(when)
        out.append(
            Check(
                "registration time before the lock's first commit",
                VERIFIED if ok else FAILED,
                f"registered {reg}, committed {when}",
            )
        )
    except (TypeError, ValueError):
        out.append(Check("registration time", FAILED, f"not a time: {reg!r}"))
    named = lock.get("git_commit")
    if not isinstance(named, str) or named == "unknown":
        out.append(Check("commit named by the lock", NOT_CHECKABLE, "the lock names no commit"))
    else:
        anc = subprocess.run(
            ["git", "merge-base", "--is-ancestor", named, commit], cwd=cwd, capture_output=True
        ).returncode
        named_time = _git(cwd, "show", "-s", "--format=%cI", named)
        ok = (
            anc == 0
            and named_time is not None
            and _utc(named_time) <= _utc(reg).replace(microsecond=0)
        )
        out.append(
            Check(
                "commit named by the lock precedes the registration",
                VERIFIED if ok else FAILED,
                f"{named[:12]} ({named_time or 'not in this repository'}) is "
                + ("" if anc == 0 else "not ")
                + f"an ancestor of {commit[:12]}",
            )
        )
    result = None
    for rel in ("results/manifest.json", "results/cells"):
        got = _first_commit(cwd, rel)
        if got and (result is None or got[1] < result[1]):
            result = got
    if result is None:
        out.append(
            Check("lock committed before the first result", NOT_CHECKABLE, "no result committed")
        )
    else:
        before = _git(cwd, "merge-base", "--is-ancestor", commit, result[0]) is not None
        ok = before and commit != result[0]
        out.append(
            Check(
                "lock committed before the first result",
                VERIFIED if ok else FAILED,
                f"lock {commit[:12]} ({when}), first result {result[0][:12]} ({result[1]})",
            )
        )
    return out
