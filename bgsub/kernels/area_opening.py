"""Compiled grey area opening of one score map (:func:`bgsub.postprocess.area_opening`).

Union-find over the pixels in decreasing score order (Meijster and Wilkinson 2002), 8-connectivity:
thresholded at any ``t``, the result keeps the 8-connected components of ``image > t`` with at least
``min_area`` pixels.
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = ["area_open_2d"]


@numba.njit(cache=True, inline="always")
def _find(parent: NDArray, p: int) -> int:
    """Root of ``p``'s set in the union-find forest ``parent`` (int32 or int64), compressing the path."""
    root = p
    while parent[root] != root:
        root = parent[root]
    while parent[p] != root:  # path compression
        nxt = parent[p]
        parent[p] = root
        p = nxt
    return root


@numba.njit(cache=True)
def area_open_2d(image: NDArray[np.float32], min_area: int) -> NDArray[np.float32]:
    height, width = image.shape
    n = height * width
    flat = image.ravel()
    order = np.argsort(-flat, kind="mergesort")  # decreasing; stable so ties are deterministic
    parent = np.empty(n, np.int64)
    area = np.zeros(n, np.int64)
    done = np.zeros(n, np.bool_)
    for i in range(n):
        p = order[i]
        parent[p] = p
        area[p] = 1
        py, px = p // width, p % width
        for dy in range(-1, 2):
            for dx in range(-1, 2):
                qy, qx = py + dy, px + dx
                if (dy == 0 and dx == 0) or qy < 0 or qy >= height or qx < 0 or qx >= width:
                    continue
                q = qy * width + qx
                if not done[q]:
                    continue
                r = _find(parent, q)
                if r == p:
                    continue
                if flat[r] == flat[p] or area[r] < min_area:
                    parent[r] = p
                    area[p] += area[r]
                else:  # r's component is already large enough: p's component counts as large too
                    area[p] = max(area[p], min_area)
        done[p] = True
    out = np.empty(n, np.float32)
    for i in range(n - 1, -1, -1):  # increasing order: a parent is resolved before its children
        p = order[i]
        r = parent[p]
        if r == p:
            out[p] = flat[p]
        else:
            out[p] = out[r]
    return out.reshape(height, width)
