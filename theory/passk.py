"""pass@k: exact from per-prompt success probabilities, and Chen et al.'s unbiased estimate.

Exact: a prompt answered correctly with probability p has
  pass@k = P(at least one of k independent samples is correct) = 1 - (1 - p)^k,
computed as -expm1(k log1p(-p)) so that tiny p keeps its relative precision
(NOTES.md, "pass@k").
Estimate: with c correct among n samples, Chen et al. 2021 (arXiv 2107.03374, Eq. 1)
  pass@k_hat = 1 - C(n - c, k) / C(n, k),
unbiased for 1 - (1 - p)^k when c ~ Binomial(n, p). The ratio is taken as the product
  C(n - c, k) / C(n, k) = prod_{j=0}^{min(c, k)-1} (1 - max(c, k) / (n - j))
(NOTES.md, "pass@k"; with c terms it is their numpy snippet, reindexed).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

_MAX_GRID = 1 << 22  # product-grid entries held at once: bounds memory for large n


def pass_at_k_exact(p_correct: ArrayLike, k: ArrayLike) -> np.ndarray | float:
    """1 - (1 - p)^k, broadcasting p_correct (...) against k (...).

    p_correct: per-prompt probabilities of a correct answer, in [0, 1].
    k: number of samples, >= 1 (int or array; non-integer k is allowed by the formula).
    """
    p = np.asarray(p_correct, dtype=np.float64)
    kk = np.asarray(k, dtype=np.float64)
    if not np.all(np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError(f"p_correct must lie in [0, 1]; got values in [{p.min()}, {p.max()}]")
    if not np.all(np.isfinite(kk)) or np.any(kk < 1):
        raise ValueError(f"k must be a finite number >= 1; got min k = {kk.min()}")
    with np.errstate(divide="ignore"):  # p = 1: log1p(-1) = -inf, and expm1(-inf) = -1
        return -np.expm1(kk * np.log1p(-p))


def pass_at_k_unbiased(n: ArrayLike, c: ArrayLike, k: ArrayLike) -> np.ndarray | float:
    """Chen et al. 2021 (arXiv 2107.03374, Eq. 1): 1 - C(n - c, k) / C(n, k).

    n: samples drawn per prompt (...), c: how many were correct (...), k: the k of pass@k;
    all integer, broadcast together. 0 <= c <= n and 1 <= k <= n, else ValueError.
    Returns 1.0 where n - c < k (every k-subset holds a correct sample). The product is
    summed in log space, log1p / expm1, so a tiny estimate keeps its relative precision.
    """
    n_, c_, k_ = (_as_int(x, name) for x, name in ((n, "n"), (c, "c"), (k, "k")))
    n_, c_, k_ = np.broadcast_arrays(n_, c_, k_)
    if np.any(k_ < 1):
        raise ValueError(f"k must be >= 1; got k = {k_.min()}")
    if np.any(k_ > n_):
        i = np.flatnonzero(k_ > n_)[0]
        raise ValueError(f"k = {k_.flat[i]} > n = {n_.flat[i]}: pass@k from n samples needs k <= n")
    if np.any((c_ < 0) | (c_ > n_)):
        i = np.flatnonzero((c_ < 0) | (c_ > n_))[0]
        raise ValueError(f"c must satisfy 0 <= c <= n; got c = {c_.flat[i]}, n = {n_.flat[i]}")

    shape = n_.shape
    n_, c_, k_ = n_.ravel(), c_.ravel(), k_.ravel()  # (m,)
    out = np.ones(n_.shape, dtype=np.float64)  # n - c < k: estimate 1
    todo = np.flatnonzero(n_ - c_ >= k_)
    lo, hi = np.minimum(c_, k_), np.maximum(c_, k_)  # terms, and the numerator of each
    width = int(lo[todo].max()) if todo.size else 0
    step = max(1, _MAX_GRID // max(width, 1))
    for start in range(0, todo.size, step):
        rows = todo[start : start + step]  # (m',)
        j = np.arange(width)  # (w,)
        used = j < lo[rows, None]  # (m', w); n - c >= k makes each used factor lie in (0, 1)
        den = np.where(used, n_[rows, None] - j, 1)  # (m', w)
        ratio = np.where(used, hi[rows, None] / den, 0.0)  # (m', w)
        log_ratio = np.log1p(-ratio).sum(axis=1)  # (m',) log C(n - c, k) / C(n, k)
        out[rows] = 0.0 - np.expm1(log_ratio)  # 0.0 - : c = 0 gives +0.0, not -0.0
    return out.reshape(shape)[()]  # a scalar for scalar inputs


def _as_int(x: ArrayLike, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype.kind in "iu":
        return a.astype(np.int64)
    if a.dtype.kind == "f" and np.all(np.isfinite(a)) and np.all(a == np.round(a)):
        return a.astype(np.int64)
    raise ValueError(f"{name} must be integer-valued; got {a!r}")
