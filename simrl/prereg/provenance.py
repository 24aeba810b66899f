"""The report's last two sections: deviations from the registration, and provenance, in
which every claim of the lock is stated as checked (simrl/prereg/lock_checks.py), never
as given."""

from __future__ import annotations

import datetime as dt
import platform

import pandas as pd

from simrl._version import __version__
from simrl.prereg.analysis import Analysis


def deviations(a: Analysis) -> list[str]:
    L = ["## Deviations from the registration", ""]
    if not a.lock["amendments"]:
        return [*L, "None: the spec analysed is the one registered.", ""]
    for i, am in enumerate(a.lock["amendments"], 1):
        L += [
            f"{i}. {am['time_utc']}: {am['reason']} (sha256 {am['previous_sha256'][:12]} -> {am['spec_sha256'][:12]})",
            "",
            "```diff",
            am["diff"].rstrip(),
            "```",
            "",
        ]
    return L


def _code_row(a: Analysis) -> str:
    """How many stored cells the code now computed (its fingerprint), how many were not
    fingerprinted when computed, how many other code computed."""
    from simrl.prereg.fingerprint import code_fingerprint
    from simrl.prereg.store import UNRECORDED

    code = code_fingerprint(a.study.backend)
    codes = [e.get("code", UNRECORDED) for e in a.manifest.get("cells", {}).values()]
    same, unrecorded = sum(c == code for c in codes), sum(c == UNRECORDED for c in codes)
    return (
        f"{same} of {len(codes)} (fingerprint {code[:12]}); {unrecorded} computed before "
        f"fingerprints were recorded; {len(codes) - same - unrecorded} by other code"
    )


def provenance(a: Analysis) -> list[str]:
    import numpy
    import scipy
    import statsmodels

    from simrl.prereg.lock import LOCK_FILE
    from simrl.prereg.lock_checks import history_checks, text_checks
    from simrl.prereg.report import table
    from simrl.prereg.spec import SPEC_FILE

    lock, man = a.lock, a.manifest
    first = man.get("first_result_utc")
    if lock.get("registered_after_results"):
        before = "**no**: the lock was re-created after results existed (see Deviations)"
    elif not first:
        before = "n/a (no result has a recorded time)"
    else:
        stated = "yes" if lock["registered_utc"] < first else "**no**"
        before = f"{stated} by the times the lock and manifest state (checked against git below)"
    checks = [*text_checks(lock), *history_checks(a.study.path, lock, LOCK_FILE, SPEC_FILE)]
    rows = [
        ["spec sha256 (registered)", lock["spec_sha256"]],
        [
            "spec sha256 (analysed)",
            lock["amendments"][-1]["spec_sha256"] if lock["amendments"] else lock["spec_sha256"],
        ],
        ["registered (UTC)", lock["registered_utc"]],
        ["git commit at registration", lock["git_commit"]],
        [
            "spec committed unchanged at registration (as the lock states it)",
            lock.get("git_state", "yes" if lock.get("spec_committed") else "no"),
        ],
        *([f"check: {c.name}", f"{c.status}: {c.detail}"] for c in checks),
        [
            "simrl at registration / results / analysis",
            f"{lock['simrl_version']} / {man.get('simrl_version')} / {__version__}",
        ],
        ["first / last result (UTC)", f"{first} / {man.get('last_result_utc')}"],
        ["registered before the first result", before],
        ["cells stored", f"{man.get('cells_stored')} of {man.get('cells_total')}"],
        ["cells by the code now", _code_row(a)],
        *([f"manifest migration ({m['utc']})", m["note"]] for m in man.get("migrations", [])),
        *(
            [
                f"run {i} ({r['finished_utc']})",
                f"{r['cells']} cells in {r['wall_s']} s, executor {r['executor']} x {r['workers']}, "
                f"commit {r['git_commit'][:12]}, simrl/: "
                + r.get(
                    "simrl_source_state",
                    "committed unchanged"
                    if r["simrl_source_committed"]
                    else "**not committed unchanged**",
                ),
            ]
            for i, r in enumerate(man.get("runs", []), 1)
        ),
        ["analysed (UTC)", dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")],
        [
            "python / numpy / scipy / statsmodels / pandas",
            f"{platform.python_version()} / {numpy.__version__} / {scipy.__version__} / {statsmodels.__version__} / {pd.__version__}",
        ],
    ]
    return ["## Provenance", "", table(pd.DataFrame(rows, columns=["item", "value"])), ""]
