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


def engines_agree(overrides: dict):
    """Run a config with the true and the random reward on both engines, hold them to
    1e-10 (logits and every metric) and return the numba engine's BatchResult."""
    import numpy as np

    from simrl.config import Config
    from simrl.engine.batch import RunSpec, run_batch

    specs = [
        RunSpec(Config.from_dict({}, {**overrides, "reward.kind": k}), 0)
        for k in ("true", "random")
    ]
    fast = run_batch(specs, engine="fast")
    reference = run_batch(specs, engine="reference")
    np.testing.assert_allclose(fast.logits, reference.logits, rtol=0, atol=1e-10)
    np.testing.assert_allclose(fast.metrics, reference.metrics, rtol=0, atol=1e-10)
    return fast
