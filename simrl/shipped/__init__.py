"""Where the shipped studies and figure scripts are, and which project a command works in.

The repository keeps them at the top level (experiments/, paper_figs/); a wheel carries
them as package data under simrl/shipped/ (pyproject.toml maps the two folders there), so
`simrl figs`, `simrl reaudit` and `simrl prereg` work from any folder:

- `--root DIR` names the project: a folder holding experiments/ (a checkout, or a
  project of your own laid out like one); outputs go there, as in the checkout.
- Else the current folder, when it holds experiments/ (the checkout's root).
- Else the studies shipped with simrl, read-only: reading them works anywhere; what a
  command writes goes under the current folder (runs/<command>) or to `--out`, never into
  the installed package.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from simrl.errors import ConfigError

_HERE = Path(__file__).resolve().parent
#: a checkout: simrl/ sits beside experiments/ and paper_figs/
_CHECKOUT = _HERE.parents[1]


def _shipped(name: str) -> Path:
    installed = _HERE / name
    return installed if installed.is_dir() else _CHECKOUT / name


def experiments() -> Path:
    """The shipped studies: simrl/shipped/experiments in a wheel, experiments/ in a checkout."""
    return _shipped("experiments")


def paper_figs() -> Path:
    """The registered figure scripts: simrl/shipped/paper_figs or the checkout's paper_figs/."""
    return _shipped("paper_figs")


def is_installed(path: Path) -> bool:
    """True for a path inside the wheel's package data (never written to)."""
    return Path(path).resolve().is_relative_to(_HERE)


@dataclass(frozen=True)
class Project:
    experiments: Path
    """the folder of studies (with reaudits/)"""
    own: bool
    """True when the user chose it (--root or the current folder): outputs may go there"""


def project(root: Path | None = None) -> Project:
    """The studies a command reads: --root's, the current folder's, or the shipped ones."""
    if root is not None:
        if not (Path(root) / "experiments").is_dir():
            raise ConfigError(
                "--root", str(root), "must be a folder holding experiments/ (a simrl checkout)"
            )
        return Project(Path(root) / "experiments", True)
    if Path("experiments").is_dir():
        return Project(Path("experiments"), True)
    return Project(experiments(), False)
