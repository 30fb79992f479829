"""Compiled score levels and their median: the filters of a run with ground truth, on one byte a pixel.

A run that sweeps thresholds asks of each filtered score only whether it is above each of a fixed increasing
set of cuts (the sweep's thresholds, its own among them). A score's *level*, the number of cuts strictly below
it, answers all of those at once (``score > cuts[j]`` exactly when ``level > j``), and the filters (median,
area opening) commute with any non-decreasing map, so the filtered levels are the levels of the filtered
scores (:func:`bgsub.postprocess.postprocess_cut_scores`). With at most 255 cuts a level is a byte, and a
median of any size is a sliding histogram (Huang, Yang and Tang 1979): one histogram a row, a column of the
window out and one in at each step (O(size) a pixel), and the median stepped from the previous pixel's; the 5x5 median
is the selection network of :mod:`bgsub.kernels.median`, on bytes.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange
from numpy.typing import NDArray

from bgsub.kernels.median import median5_rows
from bgsub.kernels.tally import count_below

__all__ = ["score_levels", "median_levels"]


@numba.njit(cache=True, parallel=True)
def _levels(scores: NDArray[np.float32], cuts: NDArray[np.float32], out: NDArray[np.uint8]) -> None:
    for i in prange(scores.size):
        out[i] = count_below(cuts, scores[i])  # the tally's search: the same level for the same score


def score_levels(scores: NDArray, cuts: NDArray[np.float32]) -> NDArray[np.uint8]:
    """The number of ``cuts`` (increasing, at most 255) strictly below each finite score, ``np.searchsorted(cuts,
    scores, "left")`` as uint8 of the same shape."""
    cuts = np.ascontiguousarray(cuts, np.float32)
    if cuts.size > 255:
        raise ValueError(f"at most 255 cuts fit a byte level, got {cuts.size}")
    scores = np.ascontiguousarray(scores, np.float32)
    out = np.empty(scores.shape, np.uint8)
    if scores.size:
        _levels(scores.ravel(), cuts, out.ravel())
    return out


@numba.njit(cache=True, parallel=True)
def _median_frames(levels: NDArray[np.uint8], size: int, out: NDArray[np.uint8]) -> None:
    n_frames, height, width = levels.shape
    half = size // 2
    rank = size * size // 2  # the median has at most ``rank`` of the window's values below it, and more at or below
    for t in prange(n_frames):
        pad = np.empty((size, width + 2 * half), np.uint8)  # the window's rows, edges repeated (nearest)
        hist = np.empty(256, np.int32)
        for y in range(height):
            for r in range(size):
                src = min(max(y + r - half, 0), height - 1)
                for x in range(width):
                    pad[r, x + half] = levels[t, src, x]
                for k in range(half):
                    pad[r, k] = pad[r, half]
                    pad[r, width + half + k] = pad[r, width + half - 1]
            hist[:] = 0
            for r in range(size):
                for c in range(size):
                    hist[pad[r, c]] += 1
            median = 0
            below = 0  # how many of the window's values are < median
            for x in range(width):
                if x > 0:
                    for r in range(size):  # a column out, a column in (no branch: their order is random)
                        leaving = pad[r, x - 1]
                        entering = pad[r, x + 2 * half]
                        hist[leaving] -= 1
                        hist[entering] += 1
                        below += np.int32(entering < median) - np.int32(leaving < median)
                while below > rank:  # too many below: step down
                    median -= 1
                    below -= hist[median]
                while below + hist[median] <= rank:  # the median's rank is above this value: step up
                    below += hist[median]
                    median += 1
                out[t, y, x] = median


def median_levels(levels: NDArray[np.uint8], size: int) -> NDArray[np.uint8]:
    """``size x size`` median (``size`` odd) of each ``(H, W)`` map of ``levels (T, H, W)`` uint8, nearest-edge
    border, as a new array: ``scipy.ndimage.median_filter(levels, size=(1, size, size), mode="nearest")``."""
    if size % 2 != 1:
        raise ValueError(f"median size must be odd, got {size}")
    levels = np.ascontiguousarray(levels, np.uint8)
    out = np.empty_like(levels)
    if levels.size == 0:
        return out
    if size == 5:  # the 5x5 selection network on bytes: a quarter of a millisecond at 320x240
        median5_rows(levels, out)
    else:
        _median_frames(levels, int(size), out)
    return out
