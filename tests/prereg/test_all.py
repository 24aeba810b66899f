"""`simrl prereg all STUDY`: register (if not yet), run the missing cells and analyze, in
one process."""

from __future__ import annotations

import json

from simrl.prereg.lock import LOCK_FILE
from tests.prereg.test_resume_and_executors import cli


def test_all_registers_runs_and_analyzes_then_resumes(tiny, capsys):
    code, out, err = cli(capsys, "prereg", "all", str(tiny))
    assert code == 0, err
    assert out.startswith("registered tiny:"), out
    assert "16 cells (192 runs): 0 already stored, ran 16 cells" in out
    assert (tiny / "report.md").is_file() and "wrote" in out
    lock = json.loads((tiny / LOCK_FILE).read_text())
    # again: the lock stays as it was, nothing is run, the analysis is written again
    code, out, err = cli(capsys, "prereg", "all", str(tiny))
    assert code == 0, err
    assert "registered" not in out
    assert "16 already stored, ran 0 cells" in out
    assert json.loads((tiny / LOCK_FILE).read_text()) == lock


def test_all_refuses_bad_options_before_registering(tiny, capsys):
    code, _, err = cli(capsys, "prereg", "all", str(tiny), "--workers", "0")
    assert code == 2 and "--workers" in err and len(err.strip().splitlines()) == 1
    assert not (tiny / LOCK_FILE).exists()
