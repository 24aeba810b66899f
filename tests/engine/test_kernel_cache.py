"""A changed kernel source drops numba's whole kernel cache (numba itself only notices a
change in the function's own file, not in the callees it inlined from other modules)."""

from simrl.engine.kernels import drop_stale_cache


def test_cache_is_dropped_when_any_source_changes(tmp_path):
    src, cache = tmp_path / "kernels", tmp_path / "kernels" / "__pycache__"
    src.mkdir()
    (src / "a.py").write_text("x = 1\n")
    (src / "b.py").write_text("y = 2\n")
    assert drop_stale_cache(src, cache)  # first stamp
    (cache / "a.f-1.py311.nbi").write_text("index")
    (cache / "b.g-1.py311.1.nbc").write_text("code")
    assert not drop_stale_cache(src, cache)  # unchanged: the cache stays
    assert len(list(cache.glob("*.nb?"))) == 2
    (src / "b.py").write_text("y = 3\n")  # a callee's module changed
    assert drop_stale_cache(src, cache)
    assert list(cache.glob("*.nb?")) == []
