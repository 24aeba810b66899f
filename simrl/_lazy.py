"""Lazy package exports: the package's module becomes a ModuleType subclass whose
__getattr__ imports an export on first use. `from simrl import Config` works as before,
while `import simrl.cli` loads only what a command needs (numba, scipy, pandas and torch
take seconds to import; `simrl --version` and a bad-input error should not wait for them)."""

from __future__ import annotations

import importlib
import sys
import types


class LazyPackage(types.ModuleType):
    """A package whose exports (its `_EXPORTS`: name -> module) are imported on first use,
    then kept in its namespace."""

    def __getattr__(self, name: str):  # only for names not yet in the namespace
        module = self.__dict__.get("_EXPORTS", {}).get(name)
        if module is None:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        self.__dict__[name] = value
        return value

    def __setattr__(self, name: str, value) -> None:
        # the import system binds a submodule it loads to the parent's attribute; where an
        # export has the submodule's name (simrl.simulate), the export keeps the name, as an
        # eager `from simrl.simulate import simulate` in __init__ would leave it
        if isinstance(value, types.ModuleType) and name in self.__dict__.get("_EXPORTS", {}):
            return
        super().__setattr__(name, value)

    def __dir__(self) -> list[str]:
        return sorted({*self.__dict__, *self.__dict__.get("_EXPORTS", {})})


def make_lazy(package: str) -> None:
    """Turn the package (whose __init__ defines _EXPORTS) into a LazyPackage."""
    sys.modules[package].__class__ = LazyPackage
