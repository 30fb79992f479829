"""CDnet 2014 evaluation: confusion counts, the seven metrics and the threshold sweep.

Ground-truth labels (CDnet 2014): 255 motion is positive; 0 static and 50 hard
shadow are negative; 85 outside the ROI and 170 unknown are not counted. Only
pixels inside ``ROI.bmp`` count. A mask pixel is foreground when its score is
above the threshold (``scores > threshold``, compared in float32).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bgsub.kernels import resolve_backend
from bgsub.kernels.tally import sweep_histograms

__all__ = [
    "MOTION",
    "SHADOW",
    "STATIC",
    "OUTSIDE_ROI",
    "UNKNOWN",
    "METRIC_NAMES",
    "COUNT_NAMES",
    "counted_pixels",
    "confusion_counts",
    "compute_metrics",
    "ThresholdSweep",
    "sweep_thresholds",
]

STATIC, SHADOW, OUTSIDE_ROI, UNKNOWN, MOTION = 0, 50, 85, 170, 255
COUNT_NAMES = ("tp", "fp", "fn", "tn")
METRIC_NAMES = ("recall", "specificity", "fpr", "fnr", "pwc", "precision", "f_measure")


def counted_pixels(
    labels: NDArray[np.uint8], roi: NDArray[np.bool_] | None = None
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Split ground-truth pixels into counted positives and counted negatives.

    Parameters
    ----------
    labels : ndarray of shape (..., H, W), uint8
        CDnet labels.
    roi : ndarray of shape (H, W), bool, optional
        Spatial ROI; None = every pixel.

    Returns
    -------
    positive, negative : ndarray of bool, like ``labels``
        Pixels that count as ground-truth foreground and background.
    """
    positive = labels == MOTION
    negative = (labels == STATIC) | (labels == SHADOW)
    if roi is not None:
        positive &= roi
        negative &= roi
    return positive, negative


def confusion_counts(
    masks: NDArray[np.bool_], labels: NDArray[np.uint8], roi: NDArray[np.bool_] | None = None
) -> tuple[int, int, int, int]:
    """Count TP, FP, FN, TN of binary masks against CDnet labels.

    Parameters
    ----------
    masks : ndarray of shape (..., H, W), bool
        True = foreground.
    labels : ndarray like ``masks``, uint8
    roi : ndarray of shape (H, W), bool, optional

    Returns
    -------
    tp, fp, fn, tn : int

    Examples
    --------
    >>> labels = np.array([[255, 0, 50, 170, 85]], np.uint8)
    >>> masks = np.array([[True, True, False, True, True]])
    >>> confusion_counts(masks, labels)
    (1, 1, 0, 1)
    """
    masks = np.asarray(masks, bool)
    positive, negative = counted_pixels(labels, roi)
    tp = int(np.count_nonzero(masks & positive))
    fp = int(np.count_nonzero(masks & negative))
    fn = int(np.count_nonzero(positive)) - tp
    tn = int(np.count_nonzero(negative)) - fp
    return tp, fp, fn, tn


def _ratio(num: float, den: float) -> float | None:
    return None if den == 0 else float(num) / float(den)


def compute_metrics(tp: int, fp: int, fn: int, tn: int) -> dict[str, float | None]:
    """The seven CDnet 2014 metrics from confusion counts.

    A metric whose denominator is zero is None (an empty cell in CSV files), never NaN.
    The F-measure is computed as ``2 TP / (2 TP + FP + FN)``.

    Returns
    -------
    dict
        ``recall, specificity, fpr, fnr, pwc, precision, f_measure``.

    Examples
    --------
    >>> m = compute_metrics(8, 2, 2, 88)
    >>> m["recall"], m["precision"], m["f_measure"], m["pwc"]
    (0.8, 0.8, 0.8, 4.0)
    """
    recall = _ratio(tp, tp + fn)
    precision = _ratio(tp, tp + fp)
    # 2TP / (2TP + FP + FN) equals 2PR / (P + R) wherever both are defined, without rounding error,
    # and is 0 (not undefined) when nothing is detected but there was something to detect.
    f_measure = _ratio(2 * tp, 2 * tp + fp + fn)
    pwc = _ratio(100.0 * (fp + fn), tp + fp + fn + tn)
    return {
        "recall": recall,
        "specificity": _ratio(tn, tn + fp),
        "fpr": _ratio(fp, fp + tn),
        "fnr": _ratio(fn, tp + fn),
        "pwc": pwc,
        "precision": precision,
        "f_measure": f_measure,
    }


def sweep_thresholds(start: float, stop: float, num: int, *extra: float) -> NDArray[np.float32]:
    """Sorted unique float32 thresholds: ``linspace(start, stop, num)`` plus ``extra`` ones."""
    values = np.concatenate([np.linspace(start, stop, int(num)), np.asarray(extra, float)])
    return np.unique(values.astype(np.float32))


@dataclass
class ThresholdSweep:
    """Confusion counts at many thresholds from one pass over the scores.

    Scores of counted positive and negative pixels are histogrammed into the
    intervals between consecutive thresholds; cumulative sums from the top then
    give, for each threshold ``t``, how many scores are ``> t``. The result is
    exactly what thresholding every score directly gives.

    Parameters
    ----------
    thresholds : ndarray of shape (n,)
        Increasing thresholds (see :func:`sweep_thresholds`).
    """

    thresholds: NDArray[np.float32]

    def __post_init__(self) -> None:
        self.thresholds = np.asarray(self.thresholds, np.float32)
        if self.thresholds.ndim != 1 or np.any(np.diff(self.thresholds) <= 0):
            raise ValueError("thresholds must be a strictly increasing 1-D array")
        n = len(self.thresholds) + 1
        self.positive_hist = np.zeros(n, np.int64)
        self.negative_hist = np.zeros(n, np.int64)

    def update(
        self, scores: NDArray[np.float32], labels: NDArray[np.uint8], roi: NDArray[np.bool_] | None = None
    ) -> None:
        """Add the counted pixels of ``scores (..., H, W)`` with their ``labels`` (same shape)."""
        # -- compiled path (issue 16): bgsub.kernels.tally counts the same in one pass
        if resolve_backend() == "numba" and np.shape(scores) == np.shape(labels):
            sweep_histograms(scores, labels, roi, self.thresholds, self.positive_hist, self.negative_hist,
                             motion=MOTION, static=STATIC, shadow=SHADOW)
            return
        # -- end of the compiled path
        positive, negative = counted_pixels(labels, roi)
        scores = np.asarray(scores, np.float32)
        n = len(self.thresholds) + 1
        # bin b = number of thresholds strictly below the score, so score > thresholds[j] iff b > j
        self.positive_hist += np.bincount(np.searchsorted(self.thresholds, scores[positive], "left"), minlength=n)
        self.negative_hist += np.bincount(np.searchsorted(self.thresholds, scores[negative], "left"), minlength=n)

    def merge(self, other: ThresholdSweep) -> None:
        """Add the histograms of another sweep over the same thresholds."""
        if not np.array_equal(self.thresholds, other.thresholds):
            raise ValueError("cannot merge sweeps over different thresholds")
        self.positive_hist += other.positive_hist
        self.negative_hist += other.negative_hist

    def counts(self) -> dict[str, NDArray[np.int64]]:
        """TP, FP, FN, TN at every threshold, arrays of shape (n,)."""
        above_pos = np.cumsum(self.positive_hist[::-1])[::-1][1:]
        above_neg = np.cumsum(self.negative_hist[::-1])[::-1][1:]
        n_pos, n_neg = self.positive_hist.sum(), self.negative_hist.sum()
        return {"tp": above_pos, "fp": above_neg, "fn": n_pos - above_pos, "tn": n_neg - above_neg}
