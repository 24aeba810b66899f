"""The fused loops of issue 20's W1 restructure give bitwise the values of the separate
passes they replaced: the softmax refresh with its entropy in one loop per state
(softmax.refresh_rows_into) against the refresh without it followed by `entropies`
(row_entropy's own pass), the accumulate loop's flag counts (update.accumulate) against
losses.clip_tally, and the gather loop's ppo_kl sums against metrics.minibatch_ppo_kl."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from simrl.engine.kernels.losses import clip_tally
from simrl.engine.kernels.softmax import entropies, refresh_rows, refresh_rows_into
from simrl.engine.kernels.update import accumulate


def logits(seed: int, S: int, K: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 3.0, (S, K))
    z[0] = 0.0  # uniform
    z[1, :] = -800.0  # one-hot: every other pi underflows to 0
    z[1, K // 2] = 0.0
    z[2, K - 1] = 710.0  # a span beyond exp's range
    return z


@pytest.mark.parametrize("K", [1, 2, 3, 4, 5, 7, 8, 16, 17, 64, 100])
@pytest.mark.parametrize("subset", [False, True])
def test_the_fused_refresh_is_the_separate_passes_bitwise(K, subset):
    S = 6
    z = logits(K, S, K)
    rows = np.array([4, 1, 2] if subset else list(range(S)), dtype=np.int64)
    n = rows.shape[0]
    fused = [np.full((S, K), 7.0), np.full((S, K), 7.0), np.full(S, 7.0)]
    refresh_rows_into(z, *fused, rows, n, np.bool_(True), np.empty(n * (K + 1)))
    apart = [np.full((S, K), 7.0), np.full((S, K), 7.0), np.full(S, 7.0)]
    refresh_rows(z, *apart, rows, n, np.bool_(False))  # log pi and pi only
    entropies(apart[1], apart[0], apart[2], rows, n)  # then H in its own pass
    for a, b in zip(fused, apart, strict=True):
        assert np.array_equal(a.view(np.int64), b.view(np.int64))
    untouched = np.setdiff1d(np.arange(S), rows)
    assert np.all(fused[0][untouched] == 7.0)  # only the rows asked for are written


@njit(cache=True)
def _accumulate_counts(bprompt, bans, n_groups, G, w_seq, tcount, td, flags):
    S = 8
    K = 5
    g = np.zeros((S, K))
    work = np.zeros(n_groups * G)
    csum, wsum = np.zeros(S), np.zeros(S)
    return accumulate(
        bprompt, bans, 0, n_groups, G, w_seq, tcount, td, g, work, csum, wsum, flags, True
    )


def test_the_accumulate_loop_counts_the_flags_as_clip_tally():
    rng = np.random.default_rng(3)
    n_groups, G = 6, 4
    N = n_groups * G
    bprompt = rng.integers(0, 8, n_groups)
    bans = rng.integers(0, 5, (n_groups + 1, G))
    flags = (rng.random((N, 4)) < 0.4).astype(np.int8)
    tcount = np.ones(N)
    counts = _accumulate_counts(bprompt, bans, n_groups, G, 0.1, tcount, rng.normal(size=N), flags)
    tally = np.zeros(7)
    clip_tally(N, False, tcount, flags, tally)
    assert tally[0] == N
    assert list(tally[1:5]) == [float(c) for c in counts]
    weighted = np.zeros(7)
    clip_tally(N, True, tcount, flags, weighted)  # counts of 1.0: the same sums
    assert np.array_equal(weighted, tally)
    assert sum(counts) > 0
