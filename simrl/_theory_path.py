"""`simrl.theory`: the closed forms, kept in the repository's top-level theory/ folder.

A wheel installs theory/ as the subpackage simrl/theory/ (pyproject.toml maps it with
`package-dir`), so nothing named `theory` lands at the top of site-packages. A checkout
run without installing (PYTHONPATH=<repo>) has no simrl/theory/: this finder then loads
`simrl.theory` from the theory/ folder beside the package, under that name, and its
submodules (`simrl.theory.entropy`, ...) load from there through the package's __path__.
One name in both layouts, so one copy of each module. `import theory` from a checkout
still works (the folder is on the path) but loads a second, separate copy: the project
imports `simrl.theory` only.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

NAME = "simrl.theory"
_PACKAGE = Path(__file__).resolve().parent


class _CheckoutTheory:
    """A meta-path finder for exactly `simrl.theory`, when the package has no theory/."""

    source = _PACKAGE.parent / "theory"

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != NAME:
            return None
        return importlib.util.spec_from_file_location(
            NAME, cls.source / "__init__.py", submodule_search_locations=[str(cls.source)]
        )


def install() -> None:
    """Put the finder first on sys.meta_path when simrl/ sits in a checkout (no
    simrl/theory/, a theory/ beside it); an installed wheel needs nothing."""
    if (_PACKAGE / "theory" / "__init__.py").is_file():
        return
    if not (_CheckoutTheory.source / "__init__.py").is_file():
        return
    if not any(f is _CheckoutTheory for f in sys.meta_path):
        sys.meta_path.insert(0, _CheckoutTheory)
