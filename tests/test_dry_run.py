"""`simrl run --dry-run`: memory, a timed estimate, nothing written."""

from __future__ import annotations

from pathlib import Path

from simrl.cli import main

QUICKSTART = Path(__file__).parents[1] / "simrl" / "examples" / "quickstart.toml"


def test_run_dry_run_estimates_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "run", str(QUICKSTART), "--engine", "reference", "--dry-run",
            "--set", "run.steps=4", "--set", "run.seeds=2", "--out", str(out),
        ]
    )  # fmt: skip
    text = capsys.readouterr().out
    assert code == 0
    assert "memory: estimated peak" in text
    assert "2 runs x 4 steps on engine 'reference'; estimated" in text
    assert "compiling" not in text  # the reference engine compiles nothing
    assert not out.exists()
