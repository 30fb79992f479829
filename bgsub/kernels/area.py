"""Compiled grey area opening of score maps (``postprocess: {min_area: n}``), the reference's values.

:func:`bgsub.postprocess.area_opening` (the reference) visits a frame's pixels in decreasing score
order (a stable ``argsort(-scores, kind="mergesort")``) and merges 8-connected components with
union-find (Meijster and Wilkinson 2002). This kernel runs the same union-find in the same pixel
order, so its output is the reference's bit for bit, with two changes in how it gets there:

- the order comes from a stable LSD radix sort of the scores' float32 bits (4 passes of 8 bits,
  a pass skipped when all keys share its byte) instead of a merge sort; ties keep increasing pixel
  order, as the stable merge sort does (-0.0 is read as 0.0, as a comparison sees it);
- the union-find arrays are 32-bit and live in a frame padded by one pixel of never-visited border
  (parent -1 = not visited yet), so the 8 neighbours need no bounds tests and the three arrays read
  at random (values, parents, areas: 0.9 MB at 240x320) stay in a core's L2 cache. This and the sort
  took a 240x320 frame from ~30 to ~8 ms on one thread.

The frames of a block are shared among threads (``numba.prange``), one frame per task.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange
from numpy.typing import NDArray

from bgsub.kernels.area_opening import _find

__all__ = ["area_open", "area_open_levels"]


@numba.njit(cache=True)
def _decreasing_order(image: NDArray[np.float32], order: NDArray[np.int32], tmp: NDArray[np.int32],
                      keys: NDArray[np.uint32], tmp_keys: NDArray[np.uint32]) -> None:
    """``order`` = the pixels of ``image (H, W)`` as indices into the frame padded by 1 pixel, in the order of
    ``argsort(-image.ravel(), kind="mergesort")`` (stable, decreasing), by LSD radix sort."""
    height, width = image.shape
    n = height * width
    bits = image.ravel().view(np.uint32)
    pw = width + 2
    i = 0
    for y in range(height):
        for x in range(width):
            b = bits[i]
            if b == np.uint32(0x80000000):  # -0.0 sorts with 0.0
                b = np.uint32(0)
            # increasing-order key of the float, then complemented: increasing key = decreasing score
            if b & np.uint32(0x80000000):
                k = ~b
            else:
                k = b | np.uint32(0x80000000)
            keys[i] = ~k
            order[i] = (y + 1) * pw + x + 1
            i += 1
    count = np.empty(257, np.int64)
    src_o, dst_o, src_k, dst_k = order, tmp, keys, tmp_keys
    for shift in range(0, 32, 8):
        count[:] = 0
        for i in range(n):
            count[((src_k[i] >> np.uint32(shift)) & np.uint32(255)) + 1] += 1
        if count.max() == n:  # every key has the same byte here: the pass would not move anything
            continue
        for d in range(256):
            count[d + 1] += count[d]
        for i in range(n):
            d = (src_k[i] >> np.uint32(shift)) & np.uint32(255)
            j = count[d]
            count[d] = j + 1
            dst_o[j] = src_o[i]
            dst_k[j] = src_k[i]
        src_o, dst_o = dst_o, src_o
        src_k, dst_k = dst_k, src_k
    if src_o is not order:
        for i in range(n):  # a loop: the slice assignment's shape-mismatch error alone took ~3 s to compile
            order[i] = src_o[i]


@numba.njit(cache=True)
def _open_in_order(value: NDArray[np.float32], order: NDArray[np.int32], min_area: int, pw: int) -> None:
    """The area opening of ``value`` (a frame padded by 1 pixel, row width ``pw``), in place, merging its pixels in
    ``order`` (padded indices, decreasing value, ties in increasing pixel order)."""
    # 32-bit so the three randomly read arrays stay in L2; parent -1 = not visited yet (the border never is)
    parent = np.full(value.size, -1, np.int32)
    area = np.empty(value.size, np.int32)
    offsets = np.array([-pw - 1, -pw, -pw + 1, -1, 1, pw - 1, pw, pw + 1], np.int64)
    for i in range(order.size):
        p = np.int64(order[i])
        parent[p] = p
        area[p] = 1
        vp = value[p]
        for j in range(8):
            q = p + offsets[j]
            if parent[q] < 0:
                continue
            r = _find(parent, q)
            if r == p:
                continue
            if value[r] == vp or area[r] < min_area:
                parent[r] = p
                area[p] += area[r]
            elif area[p] < min_area:  # r's component is already large enough: p's counts as large too
                area[p] = min_area
    for i in range(order.size - 1, -1, -1):  # increasing order: a parent is resolved before its children
        p = order[i]
        r = parent[p]
        if r != p:
            value[p] = value[r]


@numba.njit(cache=True)
def _area_open_frame(image: NDArray[np.float32], min_area: int, out: NDArray[np.float32]) -> None:
    height, width = image.shape
    n = height * width
    pw = width + 2
    order = np.empty(n, np.int32)
    _decreasing_order(image, order, np.empty(n, np.int32), np.empty(n, np.uint32), np.empty(n, np.uint32))
    value = np.zeros((height + 2) * pw, np.float32)
    for y in range(height):
        for x in range(width):
            value[(y + 1) * pw + x + 1] = image[y, x]
    _open_in_order(value, order, min_area, pw)
    for y in range(height):
        for x in range(width):
            out[y, x] = value[(y + 1) * pw + x + 1]


@numba.njit(cache=True, parallel=True)
def _area_open_frames(scores: NDArray[np.float32], min_area: int, out: NDArray[np.float32]) -> None:
    for t in prange(scores.shape[0]):
        _area_open_frame(scores[t], min_area, out[t])


def area_open(scores: NDArray[np.float32], min_area: int) -> NDArray[np.float32]:
    """Grey area opening (8-connectivity) of each map of ``scores (T, H, W)`` float32, as a new array."""
    scores = np.ascontiguousarray(scores, dtype=np.float32)
    out = np.empty_like(scores)
    if scores.size:
        _area_open_frames(scores, int(min_area), out)
    return out


@numba.njit(cache=True)
def _area_open_level_frame(levels: NDArray[np.uint8], min_area: int, out: NDArray[np.uint8]) -> None:
    height, width = levels.shape
    pw = width + 2
    count = np.zeros(257, np.int64)
    for y in range(height):
        for x in range(width):
            count[255 - levels[y, x] + 1] += 1
    for d in range(256):
        count[d + 1] += count[d]
    order = np.empty(height * width, np.int32)  # one stable counting sort: decreasing level, then pixel order
    value = np.zeros((height + 2) * pw, np.float32)
    for y in range(height):
        for x in range(width):
            p = (y + 1) * pw + x + 1
            d = 255 - levels[y, x]
            order[count[d]] = p
            count[d] += 1
            value[p] = levels[y, x]
    _open_in_order(value, order, min_area, pw)
    for y in range(height):
        for x in range(width):
            out[y, x] = np.uint8(value[(y + 1) * pw + x + 1])


@numba.njit(cache=True, parallel=True)
def _area_open_level_frames(levels: NDArray[np.uint8], min_area: int, out: NDArray[np.uint8]) -> None:
    for t in prange(levels.shape[0]):
        _area_open_level_frame(levels[t], min_area, out[t])


def area_open_levels(levels: NDArray[np.uint8], min_area: int) -> NDArray[np.uint8]:
    """Grey area opening (8-connectivity) of each map of ``levels (T, H, W)`` uint8 (:mod:`bgsub.kernels.levels`),
    as a new array: :func:`area_open` of the levels as float32, sorted by one counting pass instead of a radix sort."""
    levels = np.ascontiguousarray(levels, dtype=np.uint8)
    out = np.empty_like(levels)
    if levels.size:
        _area_open_level_frames(levels, int(min_area), out)
    return out
