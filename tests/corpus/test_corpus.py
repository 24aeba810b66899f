"""Every bad input of the corpus (tests/corpus/<kind>/<case>/case.json, written by
make_corpus.py) gives one line on stderr naming what is wrong, the registered exit code
(2 bad input, 3 run-time fault), no traceback and no partial output. In-process through
simrl.cli.main: the same code a user's `simrl ...` runs, without an interpreter per case."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from simrl.examples_path import EXAMPLES

HERE = Path(__file__).parent
CASES = sorted(HERE.glob("*/*/case.json"))


def test_the_corpus_is_large():
    assert len(CASES) >= 150


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{p.parent.parent.name}/{p.parent.name}" for p in CASES]
)
def test_a_bad_input_is_one_line_and_leaves_nothing(case, tmp_path, capsys, monkeypatch):
    from simrl.cli import main

    spec = json.loads(case.read_text())
    work = tmp_path / "case"
    shutil.copytree(case.parent, work)
    for name, data in spec.get("files", {}).items():
        (work / name).write_bytes(bytes.fromhex(data))
    monkeypatch.chdir(tmp_path)
    before = sorted(str(p.relative_to(work)) for p in work.rglob("*"))
    args = [a.format(case=work, examples=EXAMPLES) for a in spec["args"]]
    try:
        code = main(args)
    except SystemExit as e:  # argparse's usage errors
        code = e.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == spec["exit"], err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert spec["match"] in lines[0], err
    after = sorted(str(p.relative_to(work)) for p in work.rglob("*"))
    assert after == before, "partial output left behind"
    assert not (tmp_path / "runs").exists() and not (tmp_path / "PWNED").exists()
