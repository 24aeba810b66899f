"""The wheel's layout (pyproject.toml): every package of simrl/ is listed, theory/ installs
as simrl.theory (never a top-level `theory`), the shipped studies and figure scripts are
package data, and a checkout finds them all in place (simrl/_theory_path.py,
simrl/shipped/). The wheel itself is built and used outside a checkout by
tests/test_wheel.py (slow)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from simrl import shipped
from simrl.errors import ConfigError
from simrl.prereg.spec import resolve, resolve_writable

ROOT = Path(__file__).resolve().parents[1]
SETUP = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_of_simrl_is_listed():
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "simrl").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    mapped = set(SETUP["package-dir"])
    assert found <= set(SETUP["packages"]), found - set(SETUP["packages"])
    assert set(SETUP["packages"]) - found == mapped  # the rest are the mapped folders


def test_theory_installs_under_simrl_only():
    assert SETUP["package-dir"]["simrl.theory"] == "theory"
    assert "theory" not in SETUP["packages"]
    assert not any(p.startswith("theory") for p in SETUP["packages"])


def test_a_checkout_imports_simrl_theory_from_the_top_level_folder():
    code = (
        "import sys, simrl.theory; e = sys.modules['simrl.theory.entropy']; "
        "print(simrl.theory.__file__, e.__file__, 'theory' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd="/", capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout.split()  # fmt: skip
    assert out == [
        str(ROOT / "theory" / "__init__.py"),
        str(ROOT / "theory" / "entropy.py"),
        "False",  # the project never imports a top-level `theory`
    ]


def test_shipped_folders_are_the_checkouts_here():
    assert shipped.experiments() == ROOT / "experiments"
    assert shipped.paper_figs() == ROOT / "paper_figs"
    assert not shipped.is_installed(ROOT / "experiments")


def test_a_study_name_outside_a_project_reads_the_shipped_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve("decomposition") == ROOT / "experiments" / "decomposition"
    with pytest.raises(ConfigError, match=r"shipped study .*cp -r"):
        resolve_writable("decomposition")
    mine = tmp_path / "proj" / "experiments" / "decomposition"
    mine.mkdir(parents=True)
    (mine / "prereg.toml").write_text("")
    assert resolve_writable("decomposition", tmp_path / "proj") == mine
    monkeypatch.chdir(tmp_path / "proj")  # the current project's own copy wins
    assert resolve_writable("decomposition") == Path("experiments") / "decomposition"


def test_root_must_hold_experiments(tmp_path):
    with pytest.raises(ConfigError, match="--root"):
        shipped.project(tmp_path)
    assert shipped.project(ROOT).own
