"""Compiled masks of filtered score maps at one threshold, without filtering the scores.

The score filters of :mod:`bgsub.postprocess` (median, area opening) commute with thresholding, so at
a single threshold ``t`` the mask ``filter(scores) > t`` is the binary filter of ``scores > t``:

- median over a ``size x size`` window, nearest edge: more than half of the window's pixels are above
  ``t`` (a box count, separable, so its cost does not grow with the window);
- area opening, 8-connectivity: the pixels of the 8-connected components of the mask with at least
  ``min_area`` pixels (one raster pass of union-find over the foreground pixels only).

This is what a caller that wants masks and no threshold sweep (a plain video, the command line)
runs: the grey filters sort and merge every pixel of every frame, the binary ones touch the
foreground. :func:`bgsub.postprocess.postprocess_masks` is the entry point and
``tests/test_default_kernels.py`` holds it equal to ``postprocess_scores(scores) > t``.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange
from numpy.typing import NDArray

from bgsub.kernels.area_opening import _find

__all__ = ["filtered_masks"]


@numba.njit(cache=True)
def _median_mask(mask: NDArray[np.uint8], size: int, out: NDArray[np.uint8]) -> None:
    """``out`` = 1 where more than half of the ``size x size`` window (edges repeated) of ``mask`` is 1."""
    height, width = mask.shape
    half = size // 2
    majority = size * size // 2
    # this row's vertical window counts (running: the entering row in, the leaving row out), with
    # ``half`` copies of the edge columns on each side
    column = np.empty(width + 2 * half, np.int32)
    for y in range(height):
        if y == 0:
            for x in range(width):
                count = (half + 1) * np.int32(mask[0, x])
                for dy in range(1, half + 1):
                    count += mask[min(dy, height - 1), x]
                column[x + half] = count
        else:
            entering = mask[min(y + half, height - 1)]
            leaving = mask[max(y - half - 1, 0)]
            for x in range(width):
                column[x + half] += np.int32(entering[x]) - np.int32(leaving[x])
        for k in range(half):
            column[k] = column[half]
            column[width + half + k] = column[width + half - 1]
        count = 0
        for k in range(size):
            count += column[k]
        for x in range(width):
            if x > 0:
                count += column[x + 2 * half] - column[x - 1]
            out[y, x] = 1 if count > majority else 0


@numba.njit(cache=True)
def _union(parent: NDArray[np.int32], p: int, q: int) -> None:
    a = _find(parent, p)
    b = _find(parent, q)
    if a != b:
        parent[max(a, b)] = min(a, b)


@numba.njit(cache=True)
def _area_mask(mask: NDArray[np.uint8], min_area: int, out: NDArray[np.uint8]) -> None:
    """``out`` = the pixels of ``mask``'s 8-connected components with at least ``min_area`` pixels."""
    height, width = mask.shape
    pw = width + 2
    parent = np.full((height + 2) * pw, -1, np.int32)  # padded: the border is never foreground
    for y in range(height):
        for x in range(width):
            if not mask[y, x]:
                continue
            p = (y + 1) * pw + x + 1
            # the neighbours already visited in raster order. North touches the other three, and each of
            # them was joined to it when visited, so it alone decides; without it, west and north-west
            # touch each other and only north-east may be another set (a decision tree: Wu et al., 2005)
            north, west, north_west, north_east = p - pw, p - 1, p - pw - 1, p - pw + 1
            if parent[north] >= 0:
                parent[p] = north
            elif parent[west] >= 0:
                parent[p] = west
                if parent[north_east] >= 0:
                    _union(parent, west, north_east)
            elif parent[north_west] >= 0:
                parent[p] = north_west
                if parent[north_east] >= 0:
                    _union(parent, north_west, north_east)
            elif parent[north_east] >= 0:
                parent[p] = north_east
            else:
                parent[p] = p
    # a mask that fills the frame stays, however small the frame: the grey opening cannot level a frame
    # below its own minimum, so thresholded under that minimum it is all foreground
    keep = min(min_area, height * width)
    area = np.zeros((height + 2) * pw, np.int32)
    for y in range(height):
        for x in range(width):
            p = (y + 1) * pw + x + 1
            if parent[p] >= 0:
                root = _find(parent, p)
                parent[p] = root
                area[root] += 1
    for y in range(height):
        for x in range(width):
            p = (y + 1) * pw + x + 1
            out[y, x] = 1 if parent[p] >= 0 and area[parent[p]] >= keep else 0


@numba.njit(cache=True, parallel=True)
def _filter_masks(masks: NDArray[np.uint8], median: int, min_area: int, out: NDArray[np.uint8]) -> None:
    for t in prange(masks.shape[0]):
        mask = masks[t]
        if median > 1:
            filtered = np.empty_like(mask)
            _median_mask(mask, median, filtered)
            mask = filtered
        if min_area > 1:
            _area_mask(mask, min_area, out[t])
        else:
            out[t] = mask


def filtered_masks(scores: NDArray[np.float32], threshold: float, median: int = 0,
                   min_area: int = 0) -> NDArray[np.bool_]:
    """Masks of ``scores (T, H, W)`` at ``threshold`` after a ``median`` window and an area opening.

    Parameters
    ----------
    scores : ndarray of shape (T, H, W), float32
    threshold : float
        Foreground is ``scores > threshold``, the comparison the unfiltered path makes.
    median : int
        Odd window width of the median (0 or 1 = off).
    min_area : int
        Smallest kept 8-connected component, pixels (0 or 1 = off).

    Returns
    -------
    ndarray of shape (T, H, W), bool
        Equal to ``postprocess_scores(scores, {"median": median, "min_area": min_area}) > threshold``.
    """
    masks = np.ascontiguousarray(np.asarray(scores, dtype=np.float32) > threshold).view(np.uint8)
    out = np.empty_like(masks)
    if masks.size:
        _filter_masks(masks, int(median), int(min_area), out)
    return out.view(np.bool_)
