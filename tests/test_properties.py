"""Properties that hold for any input (hypothesis): confusion counts, the sweep, the metrics, the GMM."""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bgsub.metrics import (
    METRIC_NAMES,
    MOTION,
    OUTSIDE_ROI,
    SHADOW,
    STATIC,
    UNKNOWN,
    ThresholdSweep,
    compute_metrics,
    confusion_counts,
)
from bgsub.mixture import ConvergenceWarning

LABELS = st.sampled_from([STATIC, SHADOW, OUTSIDE_ROI, UNKNOWN, MOTION])


@st.composite
def labelled_scores(draw):
    """Scores ``(T, H, W)`` float32, CDnet labels like them and an optional ROI ``(H, W)``."""
    t, h, w = draw(st.integers(1, 3)), draw(st.integers(1, 6)), draw(st.integers(1, 6))
    scores = draw(arrays(np.float32, (t, h, w), elements=st.floats(0, 500, width=32)))
    labels = draw(arrays(np.uint8, (t, h, w), elements=LABELS))
    roi = draw(st.none() | arrays(np.bool_, (h, w)))
    return scores, labels, roi


@settings(max_examples=60, deadline=None)
@given(labelled_scores(), st.floats(0, 500, width=32))
def test_counts_add_up_to_the_counted_pixels(data, threshold):
    scores, labels, roi = data
    masks = scores > np.float32(threshold)
    tp, fp, fn, tn = confusion_counts(masks, labels, roi)
    inside = np.ones(labels.shape, bool) if roi is None else np.broadcast_to(roi, labels.shape)
    counted = inside & np.isin(labels, [STATIC, SHADOW, MOTION])  # 85 and 170 are never counted
    assert min(tp, fp, fn, tn) >= 0
    assert tp + fp + fn + tn == int(counted.sum())
    # independent per-pixel loop
    expect = [0, 0, 0, 0]
    for m, lab, ok in zip(masks.ravel(), labels.ravel(), counted.ravel()):
        if ok:
            expect[(0 if m else 2) if lab == MOTION else (1 if m else 3)] += 1
    assert [tp, fp, fn, tn] == expect


@settings(max_examples=60, deadline=None)
@given(labelled_scores(), st.lists(st.floats(0, 500, width=32), min_size=1, max_size=12, unique=True))
def test_sweep_is_monotone_and_exact(data, thresholds):
    scores, labels, roi = data
    sweep = ThresholdSweep(np.sort(np.asarray(thresholds, np.float32)))
    sweep.update(scores, labels, roi)
    counts = sweep.counts()
    # raising the threshold never adds detections
    assert np.all(np.diff(counts["tp"]) <= 0) and np.all(np.diff(counts["fp"]) <= 0)
    assert np.all(np.diff(counts["fn"]) >= 0) and np.all(np.diff(counts["tn"]) >= 0)
    totals = counts["tp"] + counts["fp"] + counts["fn"] + counts["tn"]
    assert len(set(totals.tolist())) == 1
    for i, t in enumerate(sweep.thresholds):  # each row equals thresholding directly
        direct = confusion_counts(scores > t, labels, roi)
        assert direct == tuple(int(counts[k][i]) for k in ("tp", "fp", "fn", "tn"))


@settings(max_examples=200, deadline=None)
@given(*(st.integers(0, 10**9) for _ in range(4)))
def test_metrics_are_never_nan(tp, fp, fn, tn):
    metrics = compute_metrics(tp, fp, fn, tn)
    assert set(metrics) == set(METRIC_NAMES)
    for name, value in metrics.items():
        if value is None:
            continue
        assert np.isfinite(value)
        assert 0 <= value <= (100 if name == "pwc" else 1), (name, value)


# ---------------------------------------------------------------- GMM (when bgsub.mixture provides it)


def _mixture_class():
    try:
        module = importlib.import_module("bgsub.mixture")
    except ImportError:
        module = None
    cls = getattr(module, "PixelGaussianMixture", None)
    if cls is None:
        pytest.skip("bgsub.mixture.PixelGaussianMixture is not available yet")
    return cls


@st.composite
def pixel_frames(draw):
    """Frames ``(T, H, W, C)`` on the 0-255 scale, often degenerate (constant pixels, extremes, few values)."""
    t, h, w = draw(st.integers(1, 6)), draw(st.integers(1, 2)), draw(st.integers(1, 3))
    c = draw(st.sampled_from([1, 3]))
    values = st.sampled_from([0.0, 255.0, 128.0]) | st.floats(0, 255, width=32)
    frames = draw(arrays(np.float32, (t, h, w, c), elements=values))
    if draw(st.booleans()):
        frames = np.rint(frames).astype(np.uint8)
    return frames


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_gmm_is_a_valid_mixture_on_any_finite_input(covariance_type):
    cls = _mixture_class()

    @settings(max_examples=8, deadline=None)
    @given(pixel_frames(), st.integers(1, 3))
    def check(frames, k):
        with warnings.catch_warnings():  # a valid mixture is asked for, not convergence within 10 iterations
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = cls(k, covariance_type=covariance_type, reg_covar=1.0, max_iter=10, random_state=0).fit(frames)
        _, h, w, c = frames.shape
        weights = np.asarray(model.weights_, np.float64)
        assert weights.shape == (h, w, k)
        assert np.all(np.isfinite(weights)) and np.all(weights >= 0)
        np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
        assert np.all(np.isfinite(model.means_))
        cov = np.asarray(model.covariances_, np.float64)
        assert np.all(np.isfinite(cov))
        if covariance_type == "full":
            assert cov.shape == (h, w, k, c, c)
            np.testing.assert_allclose(cov, np.swapaxes(cov, -1, -2), atol=1e-3)
            assert np.all(np.linalg.eigvalsh(cov) > 0)
        else:
            assert np.all(cov > 0)
        assert np.all(np.isfinite(model.score_samples(frames)))

    check()
