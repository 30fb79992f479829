"""Compiled threshold-sweep histograms (:meth:`bgsub.metrics.ThresholdSweep.update`), the same counts.

The reference splits the pixels into counted positives and negatives with boolean masks, then
``np.searchsorted(thresholds, scores[mask])`` and ``np.bincount`` per class (~8 array passes and two
gathers). Here one pass per frame reads score, label and ROI flag of each pixel and adds it to its
class's bin, found by a binary search over the (float32) thresholds with the same comparison
(``bin = number of thresholds strictly below the score``; NaN goes to the last bin, as searchsorted
puts it). Integer counts: equal to the reference's.
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = ["count_below", "sweep_histograms"]


@numba.njit(cache=True, inline="always")
def count_below(thresholds: NDArray[np.float32], v: float) -> int:
    """How many of the increasing ``thresholds`` are strictly below ``v`` (a binary search; ``v`` is not NaN)."""
    lo = 0
    hi = thresholds.size
    while lo < hi:
        mid = (lo + hi) >> 1
        if thresholds[mid] < v:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=True)
def _histograms(scores: NDArray[np.float32], labels: NDArray[np.uint8], roi: NDArray[np.bool_], use_roi: bool,
                thresholds: NDArray[np.float32], positive: NDArray[np.int64], negative: NDArray[np.int64],
                motion: int, static: int, shadow: int) -> None:
    n_thr = thresholds.size
    plane = roi.size
    for i in range(scores.size):
        label = labels[i]
        if label == motion:
            hist = positive
        elif label == static or label == shadow:
            hist = negative
        else:
            continue
        if use_roi and not roi[i % plane]:
            continue
        v = scores[i]
        if v != v:
            hist[n_thr] += 1
            continue
        hist[count_below(thresholds, v)] += 1


def sweep_histograms(scores: NDArray, labels: NDArray[np.uint8], roi: NDArray[np.bool_] | None,
                     thresholds: NDArray[np.float32], positive: NDArray[np.int64], negative: NDArray[np.int64],
                     *, motion: int, static: int, shadow: int) -> None:
    """Add the counted pixels of ``scores (..., H, W)`` to ``positive`` / ``negative`` (``len(thresholds) + 1``)."""
    scores = np.ascontiguousarray(scores, np.float32).ravel()
    labels = np.ascontiguousarray(labels, np.uint8).ravel()
    use_roi = roi is not None
    roi_flat = np.ascontiguousarray(roi, bool).ravel() if use_roi else np.ones(1, bool)
    _histograms(scores, labels, roi_flat, use_roi, np.ascontiguousarray(thresholds, np.float32), positive, negative,
                int(motion), int(static), int(shadow))
