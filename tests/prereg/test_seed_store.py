"""Seed checkpoints of a bridge cell (simrl/prereg/seed_store.py): a cell killed after some
of its seeds continues at the next seed, and the stored cell is bitwise the one run in one
go; a seed file that does not check is recomputed, with one line saying why."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simrl.prereg.lock import results_exist
from simrl.prereg.seed_store import PARTIAL, SeedStore

ROWS = [
    {"seed": 1, "step": 0, "acc": np.float64(0.25), "n": np.int64(3), "ok": np.bool_(True)},
    {"seed": 1, "step": 2, "acc": float("nan"), "n": 7, "x32": np.float32(0.1), "inf": -math.inf},
]
RUN = (ROWS, [{"probe": 0, "dH": 1e-300}], -1, {(1, 0): [{"completion": "7", "correct": False}]})


def same(a, b) -> bool:
    """Equal values of equal types, NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (float, np.floating)) and np.isnan(a):
        return bool(np.isnan(b))
    return bool(a == b)


def test_a_seed_reads_back_with_every_type_and_bit(tmp_path):
    store = SeedStore(tmp_path, "cellkey", "code1")
    store.save(1, RUN)
    loaded = []
    back = SeedStore(tmp_path, "cellkey", "code1", on_load=loaded.append).load(1)
    assert back is not None and loaded == [1]
    assert same(list(back), list(RUN))
    assert store.load(0) is None  # never saved


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[:-3] + b"9]}"), "sha256 differs"),
        (lambda p: p.write_bytes(b"garbage\n{}"), "not a seed checkpoint"),
        (lambda p: p.write_bytes(p.read_bytes()[:-10]), "sha256 differs"),
    ],
)
def test_an_altered_seed_file_is_recomputed_with_one_line(tmp_path, capsys, change, why):
    store = SeedStore(tmp_path, "cellkey", "code1")
    store.save(0, RUN)
    change(store.path(0))
    assert store.load(0) is None
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and why in err[0] and "seed 0 is recomputed" in err[0], err


@pytest.mark.parametrize(
    ("key", "code", "seed", "why"),
    [
        ("other", "code1", 0, "key 'cellkey'"),
        ("cellkey", "code2", 0, "code 'code1'"),
        ("cellkey", "code1", 1, "seed 0"),
    ],
)
def test_a_seed_of_another_cell_code_or_seed_is_not_used(tmp_path, capsys, key, code, seed, why):
    SeedStore(tmp_path, "cellkey", "code1").save(0, RUN)
    src = SeedStore(tmp_path, "cellkey", "code1").path(0)
    store = SeedStore(tmp_path, key, code)
    store.dir.mkdir(parents=True, exist_ok=True)
    store.path(seed).write_bytes(src.read_bytes())
    assert store.load(seed) is None
    assert why in capsys.readouterr().err


def test_finished_seeds_count_as_results_for_the_lock(tmp_path):
    study = tmp_path / "s"
    assert not results_exist(study)
    SeedStore(study / "results" / PARTIAL, "cellkey", "c").save(0, RUN)
    assert results_exist(study)  # amending the spec now must say that data exist


def test_a_killed_bridge_cell_resumes_at_its_next_seed_bitwise(
    tmp_path, monkeypatch, tmp_path_factory
):
    pytest.importorskip("torch", reason="the bridge needs torch: pip install torch==2.13.0")
    pytest.importorskip("transformers", reason="the bridge needs transformers")
    import simrl.bridge.run as bridge_run
    from simrl.prereg.lock import register
    from simrl.prereg.runner import dry_run, run_study
    from tests.prereg.test_bridge_backend import bridge_study, cell_bytes

    monkeypatch.setenv("SIMRL_CACHE", str(tmp_path_factory.getbasetemp() / "simrl-cache"))
    ref = bridge_study(tmp_path / "ref")
    register(ref)
    run_study(ref)
    whole = cell_bytes(ref)

    path = bridge_study(tmp_path / "killed")
    register(path)
    real_save = SeedStore.save

    def save_then_die(self, r, run):
        real_save(self, r, run)
        raise KeyboardInterrupt  # a kill right after the first seed's checkpoint

    monkeypatch.setattr(SeedStore, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_study(path)
    partial = path / "results" / PARTIAL
    assert [p.name for p in partial.glob("*/seed*.json")] == ["seed0.json"]
    assert not cell_bytes(path)
    d = dry_run(path, probe=False)  # the rerun's size counts the checkpointed seed as done
    assert (d.missing_cells, d.checkpointed, d.missing_runs, d.run_steps) == (2, 1, 3, 6)

    monkeypatch.setattr(SeedStore, "save", real_save)
    ran = []
    real_run_seed = bridge_run.run_seed

    def counting(ctx, r, *a, **k):
        ran.append(r)
        return real_run_seed(ctx, r, *a, **k)

    monkeypatch.setattr(bridge_run, "run_seed", counting)
    rep = run_study(path)
    assert rep.ran_cells == 2 and sorted(ran) == [0, 1, 1]  # 3 of 4 seeds run again
    assert cell_bytes(path) == whole
    assert not partial.exists()  # the checkpoints of stored cells are gone
