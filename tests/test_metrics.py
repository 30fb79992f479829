"""CDnet metrics against hand-computed counts, and the histogram sweep against direct thresholding."""

from __future__ import annotations

import numpy as np
import pytest

from bgsub.metrics import ThresholdSweep, compute_metrics, confusion_counts, sweep_thresholds


def test_hand_computed_counts_with_every_label_and_roi():
    labels = np.array(
        [
            [255, 255, 0, 0, 50],
            [50, 85, 85, 170, 170],
            [255, 0, 50, 255, 0],
        ],
        np.uint8,
    )
    masks = np.array(
        [
            [1, 0, 1, 0, 1],
            [0, 1, 0, 1, 0],
            [1, 1, 0, 1, 1],
        ],
        bool,
    )
    roi = np.ones_like(masks)
    roi[2, 3:] = False  # the last two pixels of the bottom row are outside the ROI
    # counted pixels: row 0 all five; row 1 only (1,0) (50); row 2 first three (255, 0, 50)
    # positives (255): (0,0) mask 1 -> TP, (0,1) mask 0 -> FN, (2,0) mask 1 -> TP  => TP=2, FN=1
    # negatives (0/50): (0,2) 1 -> FP, (0,3) 0 -> TN, (0,4) 1 -> FP, (1,0) 0 -> TN, (2,1) 1 -> FP, (2,2) 0 -> TN
    assert confusion_counts(masks, labels, roi) == (2, 3, 1, 3)
    # without the ROI, (2,3)=255 with mask 1 is a TP and (2,4)=0 with mask 1 an FP
    assert confusion_counts(masks, labels) == (3, 4, 1, 3)


def test_metrics_closed_forms():
    m = compute_metrics(tp=2, fp=3, fn=1, tn=3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["specificity"] == pytest.approx(3 / 6)
    assert m["fpr"] == pytest.approx(3 / 6)
    assert m["fnr"] == pytest.approx(1 / 3)
    assert m["pwc"] == pytest.approx(100 * 4 / 9)
    assert m["precision"] == pytest.approx(2 / 5)
    p, r = 2 / 5, 2 / 3
    assert m["f_measure"] == pytest.approx(2 * p * r / (p + r))


def test_undefined_metrics_are_none_not_nan():
    m = compute_metrics(0, 0, 0, 10)
    assert m["recall"] is None and m["precision"] is None and m["f_measure"] is None and m["fnr"] is None
    assert m["specificity"] == 1.0 and m["pwc"] == 0.0
    assert compute_metrics(0, 0, 5, 5)["f_measure"] == 0.0  # nothing detected, something to detect


def test_histogram_sweep_equals_direct_thresholding():
    rng = np.random.default_rng(0)
    labels = rng.choice(np.array([0, 50, 85, 170, 255], np.uint8), size=(6, 20, 30))
    roi = rng.random((20, 30)) > 0.2
    scores = rng.gamma(2.0, 10.0, size=labels.shape).astype(np.float32)
    scores[0, 0, :5] = [10.0, 20.0, 30.0, 0.0, 150.0]  # values exactly on thresholds
    thresholds = sweep_thresholds(0, 150, 31, 16.27)
    sweep = ThresholdSweep(thresholds)
    for frame_scores, frame_labels in zip(scores, labels):  # frame by frame, like the pipeline
        sweep.update(frame_scores, frame_labels, roi)
    counts = sweep.counts()
    for i, t in enumerate(thresholds):
        direct = confusion_counts(scores > t, labels, roi)
        assert direct == tuple(int(counts[k][i]) for k in ("tp", "fp", "fn", "tn")), f"threshold {t}"


def test_sweep_counts_total_and_monotone():
    rng = np.random.default_rng(1)
    labels = rng.choice(np.array([0, 255], np.uint8), size=(3, 10, 10))
    sweep = ThresholdSweep(sweep_thresholds(0, 1, 11))
    sweep.update(rng.random(labels.shape).astype(np.float32), labels)
    c = sweep.counts()
    assert np.all(c["tp"] + c["fp"] + c["fn"] + c["tn"] == labels.size)
    assert np.all(np.diff(c["tp"]) <= 0) and np.all(np.diff(c["fp"]) <= 0)


def test_sweep_rejects_unsorted_thresholds():
    with pytest.raises(ValueError):
        ThresholdSweep(np.array([1.0, 0.5], np.float32))
