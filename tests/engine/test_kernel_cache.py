"""A changed kernel or algorithm source drops numba's cache of both (numba itself only
notices a change in the function's own file, not in the callees it inlined from other
modules, nor in a loss's helpers)."""

from simrl.engine.kernels import drop_stale_cache


def test_cache_is_dropped_when_any_source_changes(tmp_path):
    kernels, algorithms = tmp_path / "kernels", tmp_path / "algorithms" / "losses"
    for folder in (kernels, algorithms):
        (folder / "__pycache__").mkdir(parents=True)
    (kernels / "a.py").write_text("x = 1\n")
    (algorithms / "b.py").write_text("y = 2\n")
    stamp = kernels / "__pycache__" / "kernels.sha256"
    sources = [kernels, algorithms]
    assert drop_stale_cache(sources, stamp)  # first stamp
    (kernels / "__pycache__" / "a.f-1.py311.nbi").write_text("index")
    (algorithms / "__pycache__" / "b.g-1.py311.1.nbc").write_text("code")
    assert not drop_stale_cache(sources, stamp)  # unchanged: the caches stay
    assert len(list(tmp_path.rglob("*.nb?"))) == 2
    (algorithms / "b.py").write_text("y = 3\n")  # a loss module changed
    assert drop_stale_cache(sources, stamp)
    assert list(tmp_path.rglob("*.nb?")) == []
    (algorithms / "c.py").write_text("z = 1\n")  # a new loss module
    assert drop_stale_cache(sources, stamp)
    (tmp_path / "algorithms" / "policy.py").write_text("w = 1\n")  # not a numba source
    assert not drop_stale_cache([kernels, algorithms], stamp)
