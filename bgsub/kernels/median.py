"""Compiled median filters of score maps (``postprocess: {median: N}``), the same values as SciPy's.

``scipy.ndimage.median_filter(scores, size=(1, 5, 5), mode="nearest")`` sorts each window; here
each output pixel is the rank-12 element of its 25 values picked by a fixed selection network of
113 compare-exchanges (min/max pairs): Knuth's merge-exchange sorting network (Batcher) for 25
inputs, pruned backwards to the comparators that reach output 12 (:func:`selection_network`; the
unrolled body of :func:`median5_rows` was generated from it). The network has no branches, so the
loop over a row's pixels runs as SIMD lanes (each pixel one lane); the 5 input rows of an output
row are copied once into a buffer padded by 2 pixels at each end (the nearest-edge border), which
stays in L1. Rows of all frames of a block are shared among threads (``numba.prange``).

Other odd sizes (:func:`median_filter`: the grown filters of a larger frame, ``bgsub.postprocess.grown_postprocess``)
keep each column's vertical window sorted as it slides down (one value out, one in: O(size) a pixel); a window is
then ``size`` sorted columns, and its median is found from the previous pixel's, which is near it: the values below
that guess are counted by a binary search in each column, then the answer is stepped to, one rank at a time
(O(size log size) a pixel, plus size per rank stepped). Frames are shared among threads.

A selection returns one of the window's values, so the result is SciPy's bit for bit (scores are
finite and never -0.0; ``tests/test_default_kernels.py``).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange
from numpy.typing import NDArray

__all__ = ["median5", "median5_rows", "median_filter", "selection_network"]


def selection_network(n: int = 25, rank: int = 12) -> list[tuple[int, int]]:
    """Compare-exchange pairs ``(i, j)``, ``i < j``, after which position ``rank`` holds the rank-th smallest.

    Knuth's merge exchange (TAOCP 5.2.2, Algorithm M) for ``n`` inputs, keeping only the comparators
    on which output ``rank`` depends.

    Examples
    --------
    >>> len(selection_network())
    113
    """
    pairs = []
    t = (n - 1).bit_length()
    p = 1 << (t - 1)
    while p > 0:
        q, r, d = 1 << (t - 1), 0, p
        while d > 0:
            pairs += [(i, i + d) for i in range(n - d) if (i & p) == r]
            d, q, r = q - p, q >> 1, p
        p >>= 1
    needed, kept = {rank}, []
    for i, j in reversed(pairs):
        if i in needed or j in needed:
            kept.append((i, j))
            needed |= {i, j}
    return kept[::-1]


@numba.njit(cache=True, parallel=True)
def median5_rows(scores: NDArray, out: NDArray) -> None:
    """``out`` = the 5x5 median (nearest edge) of each map of ``scores (T, H, W)``; float32 score maps, or the byte
    levels of :mod:`bgsub.kernels.levels` (``out`` of the same dtype)."""
    n_frames, height, width = scores.shape
    for row in prange(n_frames * height):
        t = row // height
        y = row % height
        pad = np.empty((5, width + 4), scores.dtype)
        for r in range(5):
            src = min(max(y + r - 2, 0), height - 1)
            for x in range(width):
                pad[r, x + 2] = scores[t, src, x]
            pad[r, 0] = pad[r, 2]
            pad[r, 1] = pad[r, 2]
            pad[r, width + 2] = pad[r, width + 1]
            pad[r, width + 3] = pad[r, width + 1]
        for x in range(width):
            # window value (dy, dx) is v[5 (dx + 2) + dy + 2]; generated from selection_network()
            v0 = pad[0, x + 0]
            v1 = pad[1, x + 0]
            v2 = pad[2, x + 0]
            v3 = pad[3, x + 0]
            v4 = pad[4, x + 0]
            v5 = pad[0, x + 1]
            v6 = pad[1, x + 1]
            v7 = pad[2, x + 1]
            v8 = pad[3, x + 1]
            v9 = pad[4, x + 1]
            v10 = pad[0, x + 2]
            v11 = pad[1, x + 2]
            v12 = pad[2, x + 2]
            v13 = pad[3, x + 2]
            v14 = pad[4, x + 2]
            v15 = pad[0, x + 3]
            v16 = pad[1, x + 3]
            v17 = pad[2, x + 3]
            v18 = pad[3, x + 3]
            v19 = pad[4, x + 3]
            v20 = pad[0, x + 4]
            v21 = pad[1, x + 4]
            v22 = pad[2, x + 4]
            v23 = pad[3, x + 4]
            v24 = pad[4, x + 4]
            v0, v16 = min(v0, v16), max(v0, v16)
            v1, v17 = min(v1, v17), max(v1, v17)
            v2, v18 = min(v2, v18), max(v2, v18)
            v3, v19 = min(v3, v19), max(v3, v19)
            v4, v20 = min(v4, v20), max(v4, v20)
            v5, v21 = min(v5, v21), max(v5, v21)
            v6, v22 = min(v6, v22), max(v6, v22)
            v7, v23 = min(v7, v23), max(v7, v23)
            v8, v24 = min(v8, v24), max(v8, v24)
            v0, v8 = min(v0, v8), max(v0, v8)
            v1, v9 = min(v1, v9), max(v1, v9)
            v2, v10 = min(v2, v10), max(v2, v10)
            v3, v11 = min(v3, v11), max(v3, v11)
            v4, v12 = min(v4, v12), max(v4, v12)
            v5, v13 = min(v5, v13), max(v5, v13)
            v6, v14 = min(v6, v14), max(v6, v14)
            v7, v15 = min(v7, v15), max(v7, v15)
            v16, v24 = min(v16, v24), max(v16, v24)
            v8, v16 = min(v8, v16), max(v8, v16)
            v9, v17 = min(v9, v17), max(v9, v17)
            v10, v18 = min(v10, v18), max(v10, v18)
            v11, v19 = min(v11, v19), max(v11, v19)
            v12, v20 = min(v12, v20), max(v12, v20)
            v13, v21 = min(v13, v21), max(v13, v21)
            v14, v22 = min(v14, v22), max(v14, v22)
            v15, v23 = min(v15, v23), max(v15, v23)
            v0, v4 = min(v0, v4), max(v0, v4)
            v1, v5 = min(v1, v5), max(v1, v5)
            v2, v6 = min(v2, v6), max(v2, v6)
            v3, v7 = min(v3, v7), max(v3, v7)
            v8, v12 = min(v8, v12), max(v8, v12)
            v9, v13 = min(v9, v13), max(v9, v13)
            v10, v14 = min(v10, v14), max(v10, v14)
            v11, v15 = min(v11, v15), max(v11, v15)
            v16, v20 = min(v16, v20), max(v16, v20)
            v17, v21 = min(v17, v21), max(v17, v21)
            v18, v22 = min(v18, v22), max(v18, v22)
            v19, v23 = min(v19, v23), max(v19, v23)
            v4, v16 = min(v4, v16), max(v4, v16)
            v5, v17 = min(v5, v17), max(v5, v17)
            v6, v18 = min(v6, v18), max(v6, v18)
            v7, v19 = min(v7, v19), max(v7, v19)
            v12, v24 = min(v12, v24), max(v12, v24)
            v4, v8 = min(v4, v8), max(v4, v8)
            v5, v9 = min(v5, v9), max(v5, v9)
            v6, v10 = min(v6, v10), max(v6, v10)
            v7, v11 = min(v7, v11), max(v7, v11)
            v12, v16 = min(v12, v16), max(v12, v16)
            v13, v17 = min(v13, v17), max(v13, v17)
            v14, v18 = min(v14, v18), max(v14, v18)
            v15, v19 = min(v15, v19), max(v15, v19)
            v20, v24 = min(v20, v24), max(v20, v24)
            v0, v2 = min(v0, v2), max(v0, v2)
            v1, v3 = min(v1, v3), max(v1, v3)
            v4, v6 = min(v4, v6), max(v4, v6)
            v5, v7 = min(v5, v7), max(v5, v7)
            v8, v10 = min(v8, v10), max(v8, v10)
            v9, v11 = min(v9, v11), max(v9, v11)
            v12, v14 = min(v12, v14), max(v12, v14)
            v13, v15 = min(v13, v15), max(v13, v15)
            v16, v18 = min(v16, v18), max(v16, v18)
            v17, v19 = min(v17, v19), max(v17, v19)
            v20, v22 = min(v20, v22), max(v20, v22)
            v21, v23 = min(v21, v23), max(v21, v23)
            v2, v16 = min(v2, v16), max(v2, v16)
            v3, v17 = min(v3, v17), max(v3, v17)
            v6, v20 = min(v6, v20), max(v6, v20)
            v7, v21 = min(v7, v21), max(v7, v21)
            v10, v24 = min(v10, v24), max(v10, v24)
            v2, v8 = min(v2, v8), max(v2, v8)
            v3, v9 = min(v3, v9), max(v3, v9)
            v6, v12 = min(v6, v12), max(v6, v12)
            v7, v13 = min(v7, v13), max(v7, v13)
            v10, v16 = min(v10, v16), max(v10, v16)
            v11, v17 = min(v11, v17), max(v11, v17)
            v14, v20 = min(v14, v20), max(v14, v20)
            v15, v21 = min(v15, v21), max(v15, v21)
            v18, v24 = min(v18, v24), max(v18, v24)
            v2, v4 = min(v2, v4), max(v2, v4)
            v3, v5 = min(v3, v5), max(v3, v5)
            v6, v8 = min(v6, v8), max(v6, v8)
            v7, v9 = min(v7, v9), max(v7, v9)
            v10, v12 = min(v10, v12), max(v10, v12)
            v11, v13 = min(v11, v13), max(v11, v13)
            v14, v16 = min(v14, v16), max(v14, v16)
            v15, v17 = min(v15, v17), max(v15, v17)
            v18, v20 = min(v18, v20), max(v18, v20)
            v19, v21 = min(v19, v21), max(v19, v21)
            v22, v24 = min(v22, v24), max(v22, v24)
            v0, v1 = min(v0, v1), max(v0, v1)
            v2, v3 = min(v2, v3), max(v2, v3)
            v4, v5 = min(v4, v5), max(v4, v5)
            v6, v7 = min(v6, v7), max(v6, v7)
            v8, v9 = min(v8, v9), max(v8, v9)
            v10, v11 = min(v10, v11), max(v10, v11)
            v12, v13 = min(v12, v13), max(v12, v13)
            v14, v15 = min(v14, v15), max(v14, v15)
            v16, v17 = min(v16, v17), max(v16, v17)
            v18, v19 = min(v18, v19), max(v18, v19)
            v20, v21 = min(v20, v21), max(v20, v21)
            v22, v23 = min(v22, v23), max(v22, v23)
            v1, v16 = min(v1, v16), max(v1, v16)
            v3, v18 = min(v3, v18), max(v3, v18)
            v5, v20 = min(v5, v20), max(v5, v20)
            v7, v22 = min(v7, v22), max(v7, v22)
            v9, v24 = min(v9, v24), max(v9, v24)
            v5, v12 = min(v5, v12), max(v5, v12)
            v7, v14 = min(v7, v14), max(v7, v14)
            v9, v16 = min(v9, v16), max(v9, v16)
            v11, v18 = min(v11, v18), max(v11, v18)
            v9, v12 = min(v9, v12), max(v9, v12)
            v11, v14 = min(v11, v14), max(v11, v14)
            v11, v12 = min(v11, v12), max(v11, v12)
            out[t, y, x] = v12


def median5(scores: NDArray[np.float32]) -> NDArray[np.float32]:
    """5x5 median of each ``(H, W)`` map of ``scores (T, H, W)`` float32, nearest-edge border, as a new array."""
    scores = np.ascontiguousarray(scores, dtype=np.float32)
    out = np.empty_like(scores)
    if scores.size:
        median5_rows(scores, out)
    return out


@numba.njit(cache=True)
def _insert_sorted(column: NDArray[np.float32], leaving: np.float32, entering: np.float32) -> None:
    """Replace one ``leaving`` value of the ascending ``column`` with ``entering``, keeping it sorted."""
    i = 0
    while i < len(column) - 1 and column[i] != leaving:  # bounded: never read past the column
        i += 1
    while i > 0 and column[i - 1] > entering:
        column[i] = column[i - 1]
        i -= 1
    while i < len(column) - 1 and column[i + 1] < entering:
        column[i] = column[i + 1]
        i += 1
    column[i] = entering


@numba.njit(cache=True)
def _window_rank(columns: NDArray[np.float32], first: NDArray[np.int64], rank: int, guess: np.float32,
                 pointer: NDArray[np.int64]) -> np.float32:
    """The ``rank``-th smallest value of the window made of the sorted columns ``columns[first[i]]``, found by counting
    the values below ``guess`` (the previous pixel's median: near this one) and stepping from it."""
    m = len(first)
    size = columns.shape[1]
    below = 0
    for i in range(m):  # pointer[i] = how many of column i are < guess (a binary search)
        c = first[i]
        lo, hi = 0, size
        while lo < hi:
            mid = (lo + hi) >> 1
            if columns[c, mid] < guess:
                lo = mid + 1
            else:
                hi = mid
        pointer[i] = lo
        below += lo
    if below > rank:  # the answer is below the guess: step down through the largest values under it
        value = guess
        for _ in range(below - rank):
            best = -1
            for i in range(m):
                j = pointer[i] - 1
                if j >= 0 and (best < 0 or columns[first[i], j] > value):
                    best, value = i, columns[first[i], j]
            pointer[best] -= 1
        return value
    at_most = below
    for i in range(m):  # then past the values equal to the guess (rarely any)
        c = first[i]
        j = pointer[i]
        while j < size and columns[c, j] == guess:
            j += 1
        at_most += j - pointer[i]
        pointer[i] = j
    if rank < at_most:  # the guess is in the window, at this rank
        return guess
    value = guess  # the answer is above: step up through the smallest values over it
    for _ in range(rank - at_most + 1):
        best = -1
        for i in range(m):
            j = pointer[i]
            if j < size and (best < 0 or columns[first[i], j] < value):
                best, value = i, columns[first[i], j]
        pointer[best] += 1
    return value


@numba.njit(cache=True, parallel=True)
def _median_frames(scores: NDArray[np.float32], size: int, out: NDArray[np.float32]) -> None:
    n_frames, height, width = scores.shape
    half = size // 2
    rank = size * size // 2
    for t in prange(n_frames):
        # the sorted vertical window of every column x (nearest edge: rows repeated), slid down row by row
        columns = np.empty((width, size), np.float32)
        first = np.empty(size, np.int64)
        pointer = np.empty(size, np.int64)
        for x in range(width):
            for dy in range(size):
                columns[x, dy] = scores[t, min(max(dy - half, 0), height - 1), x]
            columns[x].sort()
        for y in range(height):
            if y > 0:
                leaving = scores[t, max(y - 1 - half, 0)]
                entering = scores[t, min(y + half, height - 1)]
                for x in range(width):
                    _insert_sorted(columns[x], leaving[x], entering[x])
            guess = columns[0, half]
            for x in range(width):
                for dx in range(size):
                    first[dx] = min(max(x + dx - half, 0), width - 1)
                guess = _window_rank(columns, first, rank, guess, pointer)
                out[t, y, x] = guess


def median_filter(scores: NDArray[np.float32], size: int) -> NDArray[np.float32]:
    """``size x size`` median (``size`` odd) of each ``(H, W)`` map of ``scores (T, H, W)`` float32, nearest-edge
    border, as a new array: ``scipy.ndimage.median_filter(scores, size=(1, size, size), mode="nearest")``."""
    if size % 2 != 1:
        raise ValueError(f"median size must be odd, got {size}")
    if size == 5:
        return median5(scores)
    scores = np.ascontiguousarray(scores, dtype=np.float32)
    out = np.empty_like(scores)
    if scores.size:
        _median_frames(scores, int(size), out)
    return out
