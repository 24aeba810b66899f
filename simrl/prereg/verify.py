"""`simrl prereg verify STUDY [--recompute [--sample N]]`: what holds of a whole study.

Checks, each verified / failed / not checkable (with why): the spec validates; the lock's
texts, hashes and amendment chain agree and the spec now is the registered one; the lock
against git history (simrl/prereg/lock_checks.py); the manifest exists when results do;
every cell of the grid is stored and its file is what its manifest entry vouches for
(sha256, config hash, readable, its columns); which code computed the cells; the report
names the registered spec. With --recompute, cells (all, or N spread over the grid) are
recomputed by the code now and compared bitwise with the stored ones.
"""

from __future__ import annotations

from collections.abc import Callable

from simrl.prereg.lock_checks import FAILED, NOT_CHECKABLE, VERIFIED, Check


def verify(study_path, recompute: bool = False, sample: int | None = None,
           log: Callable[[str], None] = print) -> list[Check]:  # fmt: skip
    import json

    from simrl.errors import ConfigError
    from simrl.prereg import lock as lk
    from simrl.prereg.fingerprint import code_fingerprint
    from simrl.prereg.grid import expand
    from simrl.prereg.lock_checks import history_checks, text_checks
    from simrl.prereg.spec import SPEC_FILE, load_study, resolve
    from simrl.prereg.store import UNRECORDED, Store

    out: list[Check] = []

    def add(c: Check) -> None:
        out.append(c)
        log(f"{c.status:>13}  {c.name}: {c.detail}")

    study_dir = resolve(study_path)
    study = load_study(study_dir)
    add(
        Check(
            "spec validates",
            VERIFIED,
            f"{study.cell_count()} cells, {len(study.hypotheses)} hypotheses",
        )
    )
    lock = lk.read_lock(study_dir)
    if lock is None:
        add(Check("lock", FAILED, f"no {lk.LOCK_FILE}: the study is not registered"))
        return out
    for c in text_checks(lock):
        add(c)
    now = lk.sha256_file(study_dir / SPEC_FILE)
    reg = lk.registered_hash(lock)
    add(Check("spec now is the registered spec", VERIFIED if now == reg else FAILED,
              f"sha256 {now[:12]}, registered {reg[:12]}"))  # fmt: skip
    for c in history_checks(study_dir, lock, lk.LOCK_FILE, SPEC_FILE):
        add(c)
    store = Store(study_dir)
    cells = expand(study)
    files = store.cell_files()
    if not store.has_manifest():
        status = FAILED if files else NOT_CHECKABLE
        add(
            Check(
                "manifest", status, f"none; {len(files)} cell files" if files else "no results yet"
            )
        )
        return out
    manifest = store.manifest()
    add(Check("manifest", VERIFIED, f"format {manifest.get('format', 1)}, "
              f"{len(manifest['cells'])} cell entries"))  # fmt: skip
    bad = store.check_cells(cells)
    stored = [c for c in cells if store.has(c.key)]
    for key, why in bad.items():
        add(Check(f"cell {key}", FAILED, why))
    add(Check("cells stored and verified", VERIFIED if not bad and len(stored) == len(cells) else FAILED,
              f"{len(stored) - len(bad)} of {len(cells)} cells verified (sha256, config hash, "
              f"readable, columns)"))  # fmt: skip
    code = code_fingerprint(study.backend)
    codes = [manifest["cells"].get(c.key, {}).get("code", UNRECORDED) for c in stored]
    same = sum(x == code for x in codes)
    unrecorded = sum(x == UNRECORDED for x in codes)
    if same == len(codes) and codes:
        add(
            Check(
                "cells computed by the code now", VERIFIED, f"all {same}, fingerprint {code[:12]}"
            )
        )
    else:
        # other code is a fact of provenance, not a fault: the fingerprint is over file
        # bytes (a comment changes it); whether the numbers still hold is --recompute's
        add(Check("cells computed by the code now", NOT_CHECKABLE,
                  f"{same} by the code now ({code[:12]}), {unrecorded} unrecorded (computed before "
                  f"fingerprints were recorded), {len(codes) - same - unrecorded} by other code; "
                  "`--recompute` compares their numbers"))  # fmt: skip
    vpath = study_dir / "verdicts.json"
    if vpath.is_file():
        try:
            v = json.loads(vpath.read_text())
            ok = v.get("spec_sha256") == reg and set(v.get("hypotheses", {})) == {
                h.id for h in study.hypotheses
            }
            add(Check("report is of the registered spec", VERIFIED if ok else FAILED,
                      f"verdicts.json spec sha256 {str(v.get('spec_sha256'))[:12]}, "
                      f"{len(v.get('hypotheses', {}))} hypotheses"))  # fmt: skip
        except (ValueError, UnicodeDecodeError) as e:
            add(Check("report", FAILED, f"verdicts.json unreadable ({type(e).__name__})"))
    else:
        add(Check("report", NOT_CHECKABLE, "not analysed yet (no verdicts.json)"))
    if recompute:
        if sample is not None and sample < 1:
            raise ConfigError("--sample", sample, "must be an integer >= 1")
        good = [c for c in stored if c.key not in bad]
        if sample is not None and sample < len(good):
            step = len(good) / sample
            good = [good[int(i * step)] for i in range(sample)]
        for c in recompute_cells(study, good, store):
            add(c)
    return out


def recompute_cells(study, cells, store) -> list[Check]:
    """Recompute cells with the code now (in this process) and compare bitwise."""
    from simrl.prereg.executors import run_unit
    from simrl.prereg.grid import units
    from simrl.prereg.runner import same_table, table_difference

    out = []
    for unit in units(study, cells, 1):
        frames = run_unit(unit)
        for key, df in frames.items():
            stored = store.read(key)
            same = same_table(df, stored)
            why = (
                "bitwise identical"
                if same
                else "differs from the stored cell: " + table_difference(df, stored)
            )
            out.append(Check(f"recomputed cell {key}", VERIFIED if same else FAILED, why))
    return out


def summary(checks: list[Check]) -> str:
    n = {s: sum(c.status == s for c in checks) for s in (VERIFIED, FAILED, NOT_CHECKABLE)}
    return f"{n[VERIFIED]} verified, {n[FAILED]} failed, {n[NOT_CHECKABLE]} not checkable"
