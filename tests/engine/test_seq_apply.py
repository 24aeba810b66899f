"""The sequence step's fused update (kernels/seq_apply.py) against the passes it replaces:
update.save_rows + softmax.refresh_rows per update, then seq_step.moved_rows at the step's
end. The moved rows' metrics, the caches and the finiteness flag must be bitwise equal,
whether a saved row is refreshed by the step's last update (the fused pass) or only by
an earlier one (moved_sums' own pass), with and without H in the refreshes, and with a
row that overflows."""

from __future__ import annotations

import numpy as np
import pytest

from simrl.engine.kernels.seq_apply import moved_sums, refresh_fused, seq_fuse, seq_save_rows
from simrl.engine.kernels.seq_step import moved_rows
from simrl.engine.kernels.softmax import refresh_all, refresh_rows
from simrl.engine.kernels.update import save_rows
from simrl.engine.kernels.workspace import Policy, Saves, StepStart

M, V = 37, 6


def _state(seed: int):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(M, V)) * 3.0
    z[:, V - 1] = -1e30  # a padded entry (probability 0), as rows narrower than V hold
    logp, prob, ent = np.empty((M, V)), np.empty((M, V)), np.empty(M)
    refresh_all(z, logp, prob, ent)
    base = np.empty((M, V))
    refresh_all(rng.normal(size=(M, V)), base, np.empty((M, V)), np.empty(M))
    updates = []
    for n in (20, 11):  # two updates: rows of the first only, of both, of the second only
        rows = rng.choice(M, size=n, replace=False).astype(np.int64)
        updates.append((rows, rng.normal(size=(n, V)) * 0.3))
    return z, logp, prob, ent, base, updates


def _saves():
    old = StepStart(*(np.zeros((M, V)) for _ in range(3)), np.zeros(M), np.zeros((M, V)))
    return Saves(old, np.zeros(M, np.bool_), np.zeros(M, np.int64), np.zeros(1, np.int64))


def _policy(z, logp, prob, ent):
    return Policy(z, z.copy(), z[:0], z[:0], np.zeros(1, np.int64), logp, prob, ent, logp, prob)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("with_ent", [False, True])
@pytest.mark.parametrize("overflow", [False, True])
def test_fused_update_equals_the_separate_passes(seed, with_ent, overflow):
    z, logp, prob, ent, base, updates = _state(seed)
    if overflow:  # a logit of the last update's first row leaves the float range
        updates[1][1][0, 0] = np.inf
    ref = _run(z.copy(), logp.copy(), prob.copy(), ent.copy(), base, updates, with_ent, False)
    new = _run(z.copy(), logp.copy(), prob.copy(), ent.copy(), base, updates, with_ent, True)
    assert ref[0] == new[0] == (not overflow)
    names = ("dh", "kl_row", "z", "logp", "prob", "ent", "saved")
    for name, a, b in zip(names, ref[1:8], new[1:8], strict=True):
        np.testing.assert_array_equal(a, b, err_msg=name)
    fuse = new[8]
    n = new[7].shape[0]
    # some saved rows were refreshed only by the first update (moved_sums' own pass)
    assert n > updates[1][0].shape[0]
    assert not fuse.done.any() and fuse.top[0] == 0  # left ready for the next step


def _run(z, logp, prob, ent, base, updates, with_ent, fused):
    saves = _saves()
    fuse = seq_fuse(M, V, 1, 1, 1, 1)  # (the walks' and answers' buffers unused here)
    kl_row = np.zeros(M)
    dh = np.zeros(3)
    pol = _policy(z, logp, prob, ent)
    for i, (rows, delta) in enumerate(updates):
        n = rows.shape[0]
        if fused:
            seq_save_rows(z, logp, prob, ent, rows, n, False, saves, fuse.slot_of)
        else:
            save_rows(z, logp, prob, ent, rows, n, False, saves)
        z[rows] += delta
        if fused:
            last = np.bool_(i == len(updates) - 1)
            refresh_fused(pol, rows, n, np.bool_(with_ent), fuse, last, saves.old, base, kl_row)
        else:
            refresh_rows(z, logp, prob, ent, rows, n, np.bool_(with_ent))
    n = saves.n_saved[0]
    args = (pol, saves.old, base, saves.saved_rows, n, not with_ent, dh, kl_row)
    ok = moved_sums(*args, fuse) if fused else moved_rows(*args)
    return ok, dh, kl_row, z, logp, prob, ent, saves.saved_rows[:n].copy(), fuse
