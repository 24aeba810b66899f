"""A changed source drops numba's cache of the group of compiled code built from it, and
only that group's (numba itself only notices a change in the function's own file, not in
the callees it inlined from other modules, nor in a loss's helpers), wherever numba keeps
the cache: the source's __pycache__ or NUMBA_CACHE_DIR."""

import pytest
from numba.core import config

from simrl.engine.kernels import drop_stale_group, numba_cache_dir


@pytest.mark.parametrize("user_dir", [False, True], ids=["pycache", "NUMBA_CACHE_DIR"])
def test_a_group_is_dropped_when_its_sources_change_and_only_it(tmp_path, monkeypatch, user_dir):
    monkeypatch.setattr(config, "CACHE_DIR", str(tmp_path / "cache") if user_dir else "")
    kernels, losses = tmp_path / "src" / "kernels", tmp_path / "src" / "losses"
    for folder in (kernels, losses):
        folder.mkdir(parents=True)
    (kernels / "a.py").write_text("x = 1\n")
    (losses / "b.py").write_text("y = 2\n")
    (losses / "helpers.py").write_text("h = 0\n")
    where = numba_cache_dir(kernels / "a.py")
    assert (tmp_path / "cache" in where.parents) if user_dir else (where.parent == kernels)

    def drop() -> tuple[bool, bool]:  # kernels inline the helpers; losses call them
        k = drop_stale_group("kernels", [kernels, losses / "helpers.py"], [kernels])
        return k, drop_stale_group("losses", [losses], [losses])

    def caches():
        return sorted(p.name for p in tmp_path.rglob("*.nb?"))

    def plant():
        (numba_cache_dir(kernels / "a.py") / "a.f-1.py311.nbi").write_text("index")
        (numba_cache_dir(losses / "b.py") / "b.g-1.py311.1.nbc").write_text("code")

    assert drop() == (True, True)  # first stamps
    plant()
    assert drop() == (False, False)  # unchanged: the caches stay
    assert caches() == ["a.f-1.py311.nbi", "b.g-1.py311.1.nbc"]
    (losses / "b.py").write_text("y = 3\n")  # one loss changed: the losses only
    assert drop() == (False, True)
    assert caches() == ["a.f-1.py311.nbi"]
    plant()
    (losses / "helpers.py").write_text("h = 1\n")  # a shared helper: both
    assert drop() == (True, True)
    assert caches() == []
    plant()
    (kernels / "c.py").write_text("z = 1\n")  # a new kernel module: the kernels only
    assert drop() == (True, False)
    assert caches() == ["b.g-1.py311.1.nbc"]
