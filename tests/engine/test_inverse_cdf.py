"""The bandit draw (kernels/sampling.inverse_cdf) against numpy's reference rule
(reference.sample_answers: min(searchsorted(cdf, u, side="right"), K - 1)), on CDFs made
to break a binary search: ties and plateaus (zero probabilities), a total below or above
1, NaN tails, and uniforms at, just below and just above every cumulative sum."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from simrl.engine.kernels.sampling import LINEAR_CDF_MAX, inverse_cdf


@njit(cache=True)
def _draws(cdf, K, us, out):
    for i in range(us.shape[0]):
        out[i] = inverse_cdf(cdf, K, us[i])


def _reference(cdf: np.ndarray, us: np.ndarray) -> np.ndarray:
    return np.minimum(np.searchsorted(cdf, us, side="right"), cdf.size - 1)


def _probe_uniforms(cdf: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Every cumulative sum, its neighbours either side, 0, values near 1, and uniforms."""
    finite = cdf[np.isfinite(cdf)]
    near = np.concatenate([finite, np.nextafter(finite, -np.inf), np.nextafter(finite, np.inf)])
    edges = np.array([0.0, np.nextafter(0.0, 1.0), np.nextafter(1.0, 0.0), 1.0 - 2**-53])
    us = np.concatenate([near, edges, rng.random(64)])
    return us[(us >= 0.0) & (us < 1.0)]  # what PCG64's next_double can give


def _cdfs(K: int, rng: np.random.Generator):
    """Probability vectors of K entries that stress the search, as their cumsums."""
    yield "uniform", np.full(K, 1.0 / K)
    yield "dirichlet", rng.dirichlet(np.full(K, 0.3))
    p = rng.dirichlet(np.ones(K))
    p[rng.random(K) < 0.5] = 0.0  # plateaus: runs of equal sums
    yield "zeros", p / max(p.sum(), 1e-300)
    q = np.zeros(K)
    q[rng.integers(K)] = 1.0  # one answer holds all the mass
    yield "one-hot", q
    yield "first", np.eye(1, K, 0).ravel()
    yield "last", np.eye(1, K, K - 1).ravel()
    yield "short", np.full(K, 0.9 / K)  # sums to 0.9: u above it gives K - 1
    yield "long", np.full(K, 1.3 / K)  # sums past 1 before the end
    tiny = np.full(K, 1e-300)
    tiny[0] = 1.0 - 1e-300 * (K - 1)
    yield "tiny", tiny
    nan = rng.dirichlet(np.ones(K))
    nan[rng.integers(K)] = np.nan  # a NaN: every later sum is NaN
    yield "nan", nan
    halves = np.zeros(K)
    halves[[0, K // 2, K - 1]] = [0.25, 0.5, 0.25]
    yield "halves", halves


@pytest.mark.parametrize(
    "K", [1, 2, 3, 5, 16, LINEAR_CDF_MAX, LINEAR_CDF_MAX + 1, 100, 127, 128, 129, 1000, 4096]
)
def test_inverse_cdf_is_numpys_searchsorted_rule(K):
    rng = np.random.default_rng(K)
    for name, p in _cdfs(K, rng):
        cdf = np.cumsum(p)
        us = _probe_uniforms(cdf, rng)
        out = np.empty(us.size, dtype=np.int64)
        _draws(cdf, K, us, out)
        expected = _reference(cdf, us)
        bad = np.flatnonzero(out != expected)
        assert bad.size == 0, (
            f"{name}: u={us[bad[0]]!r} drew {out[bad[0]]}, numpy {expected[bad[0]]}"
        )


def test_the_binary_search_is_exercised_by_large_answers():
    """Above LINEAR_CDF_MAX the search runs: every answer of a uniform CDF is reachable."""
    K = 4 * LINEAR_CDF_MAX
    cdf = np.cumsum(np.full(K, 1.0 / K))
    us = (np.arange(K) + 0.5) / K
    out = np.empty(K, dtype=np.int64)
    _draws(cdf, K, us, out)
    np.testing.assert_array_equal(out, np.arange(K))
