"""Array copies as loops, and a stable argsort, for the step kernels.

numba compiles `dst[:, :] = src` (an array assigned into a slice) with a shape check
whose error message formats both shapes as strings; the string formatting it pulls in
cost about 4 CPU seconds of the bandit kernel's cold compile (docs/performance.md,
"Compile time"). These loops copy the same values (a copy is exact) and check nothing:
their callers pass arrays of one shape.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def copy1(dst, src):
    """dst[i] = src[i] for every i of src (1-d)."""
    for i in range(src.shape[0]):
        dst[i] = src[i]


@njit(cache=True)
def copy2(dst, src):
    """dst[i, k] = src[i, k] for every entry of src (2-d)."""
    for i in range(src.shape[0]):
        for k in range(src.shape[1]):
            dst[i, k] = src[i, k]


@njit(cache=True)
def stable_argsort(keys, out, work):
    """out[:n] = the indices 0..n-1 of keys (n = keys.shape[0]) in the order of a stable
    sort by key: numpy's np.argsort(keys, kind="mergesort") for keys without NaN (a
    stable order is unique). A bottom-up merge sort over work (n,); it replaces numba's
    np.argsort, whose merge sort cost about 2.4 CPU seconds of every cold compile of the
    step kernels (docs/performance.md, "Compile time")."""
    n = keys.shape[0]
    for i in range(n):
        out[i] = i
    src, dst = out, work
    in_out = True  # src is out
    width = 1
    while width < n:
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            i, j, k = lo, mid, lo
            while i < mid and j < hi:
                if keys[src[j]] < keys[src[i]]:  # strictly less: ties keep their order
                    dst[k] = src[j]
                    j += 1
                else:
                    dst[k] = src[i]
                    i += 1
                k += 1
            while i < mid:
                dst[k] = src[i]
                i += 1
                k += 1
            while j < hi:
                dst[k] = src[j]
                j += 1
                k += 1
        src, dst = dst, src
        in_out = not in_out
        width *= 2
    if not in_out:
        for i in range(n):
            out[i] = src[i]
