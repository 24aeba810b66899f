"""The pieces that replaced numba constructs costly to compile (docs/performance.md,
"Compile time"): the split of a block's runs over threads (engine/threads.py) and the
kernels' stable argsort (kernels/copying.py)."""

from itertools import pairwise

import numpy as np
import pytest

from simrl.engine.threads import over_threads, split


@pytest.mark.parametrize("size,n", [(1, 1), (1, 4), (7, 2), (8, 2), (10, 3), (64, 16), (5, 8)])
def test_split_covers_the_runs_in_order(size, n):
    parts = split(slice(3, 3 + size), n)
    assert len(parts) == min(n, size)
    assert parts[0].start == 3 and parts[-1].stop == 3 + size
    for a, b in pairwise(parts):
        assert a.stop == b.start
    lengths = [p.stop - p.start for p in parts]
    assert max(lengths) - min(lengths) <= 1 and min(lengths) >= 1


def test_over_threads_calls_every_part_and_reraises(monkeypatch):
    import numba

    monkeypatch.setattr(numba, "get_num_threads", lambda: 3)
    seen = []
    over_threads(lambda part: seen.append((part.start, part.stop)), slice(0, 7))
    assert sorted(seen) == [(0, 3), (3, 5), (5, 7)]

    def fail(part):
        if part.start == 3:
            raise ValueError("part 3")

    with pytest.raises(ValueError, match="part 3"):
        over_threads(fail, slice(0, 7))


def test_stable_argsort_is_numpys_mergesort():
    from simrl.engine.kernels.copying import stable_argsort

    rng = np.random.default_rng(0)
    for n in (0, 1, 2, 3, 5, 8, 31, 100):
        for keys in (rng.random(n), rng.integers(0, 3, n).astype(float)):  # ties too
            out = np.empty(n, dtype=np.int64)
            stable_argsort(keys, out, np.empty(n, dtype=np.int64))
            np.testing.assert_array_equal(out, np.argsort(keys, kind="mergesort"))


@pytest.mark.parametrize("toml", ["quickstart.toml", "sequence.toml"])
def test_runs_split_over_threads_match_one_thread_bitwise(monkeypatch, toml):
    """Every number of a batch is the same whether its runs share one thread or are split
    over three (engine/threads.py; the runs of a kernel call share nothing)."""
    from pathlib import Path

    import numba

    from simrl.config import Config
    from simrl.engine.batch import RunSpec, run_batch
    from simrl.examples_path import example

    cfg = Config.from_toml(example(Path(toml)), {"run.steps": 12, "run.seeds": 5})
    specs = [RunSpec(cfg, i) for i in range(cfg.run.seeds)]
    one = run_batch(specs, engine="fast")
    monkeypatch.setattr(numba, "get_num_threads", lambda: 3)
    three = run_batch(specs, engine="fast")
    np.testing.assert_array_equal(one.metrics, three.metrics)
    np.testing.assert_array_equal(one.logits, three.logits)
    np.testing.assert_array_equal(one.failed_step, three.failed_step)
