"""A user's algorithm module as the tests add one: a file written at test time and
imported under its own name, which registers what it defines."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def plugin(folder: Path, name: str, text: str, unregister: Callable[[], None]) -> Iterator[None]:
    """Write `text` to folder/name.py, import it as module `name` (its registrations run),
    and on exit call `unregister` and forget the module."""
    path = folder / f"{name}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    try:
        yield
    finally:
        unregister()
        sys.modules.pop(name)
