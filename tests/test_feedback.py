"""SuBSENSE's per-pixel feedback (bgsub.feedback) on small hand-made distance and mask sequences."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from bgsub import feedback as fb
from bgsub.feedback import FeedbackState, normalised_distance


def _run(state: FeedbackState, distances: list[np.ndarray], raws: list[np.ndarray], finals=None) -> None:
    for t, (d, raw) in enumerate(zip(distances, raws)):
        state.update(d, raw, None if finals is None else finals[t])


def test_a_blinking_pixel_raises_its_own_threshold() -> None:
    h, w, n = 9, 9, 120
    rng = np.random.default_rng(0)
    state = FeedbackState((h, w))
    r_blinker = []
    for t in range(n):
        d = rng.uniform(0.0, 0.03, (h, w)).astype(np.float32)  # still background: well under the threshold
        raw = np.zeros((h, w), bool)
        raw[4, 4] = t % 2 == 0  # a pixel of rippling water: foreground every other frame
        d[raw] = 1.0
        final = ndimage.median_filter(raw, 3)  # the post-processing removes the isolated pixel
        state.update(d, raw, final)
        r_blinker.append(float(state.threshold_factor[4, 4]))
    r = state.threshold_factor
    assert r[4, 4] > 2.0 and r_blinker[-1] > r_blinker[10] > r_blinker[1]
    assert state.variation[4, 4] > 10.0
    still = np.ones((h, w), bool)
    still[4, 4] = False
    # a still pixel's R stays at or below its own target (1 + 2 D_min)^2, at most 1.06^2 here, never grows
    assert r[still].max() <= (1 + 2 * 0.03) ** 2 + 1e-6 and r[still].min() >= 1.0
    assert np.all(state.variation[still] == pytest.approx(fb.V_DECR))
    assert r.dtype == np.float32 and r.shape == (h, w)
    # the post-processing keeps removing the blinker: SuBSENSE's unstable region, there only
    assert state.unstable[4, 4] and not state.unstable[still].any()


def test_still_pixels_stay_at_the_floor() -> None:
    state = FeedbackState((4, 5))
    zeros = np.zeros((4, 5), np.float32)
    for _ in range(60):
        state.update(zeros, zeros.astype(bool))
    assert np.all(state.threshold_factor == 1.0)
    assert np.all(state.update_period == fb.T_LOWER) and np.all(state.learning_rate == np.float32(0.5))


def test_persistent_foreground_slows_its_update() -> None:
    h, w = 6, 6
    state = FeedbackState((h, w))
    still = np.full((h, w), 0.02, np.float32)
    for _ in range(100):  # background first: v decays from its initial 10 to its floor, T to T_LOWER
        state.update(still, np.zeros((h, w), bool))
    assert np.all(state.update_period == fb.T_LOWER)
    periods = []
    for _ in range(100):
        raw = np.zeros((h, w), bool)
        raw[1:4, 1:4] = True  # an object stops here for 100 frames
        state.update(np.where(raw, 1.0, still), raw)
        periods.append(float(state.update_period[2, 2]))
    assert np.all(np.diff(periods) >= 0) and periods[5] > periods[1]
    assert periods[-1] == fb.T_UPPER and state.learning_rate[2, 2] == np.float32(1 / fb.T_UPPER)
    assert state.update_period[5, 5] == fb.T_LOWER  # background away from the object keeps updating fast


def test_constant_and_degenerate_input_give_no_nan() -> None:
    state = FeedbackState((3, 3))
    for value in [0.0, 0.0, 1.0, np.nan, 0.5, 0.0]:
        d = np.full((3, 3), value, np.float32)
        state.update(d, d > 0.5)
    for array in [state.threshold_factor, state.score_threshold_factor, state.update_period, state.learning_rate,
                  state.variation, *state.mean_min_distance]:
        assert array.dtype == np.float32 and array.shape == (3, 3) and np.isfinite(array).all()
    assert state.n_frames_ == 6


def test_score_threshold_factor_is_r_squared() -> None:
    state = FeedbackState((1, 1))
    for t in range(30):
        raw = np.array([[t % 2 == 0]])
        state.update(np.where(raw, 1.0, 0.0), raw, np.zeros((1, 1), bool))
    r = state.threshold_factor
    assert r[0, 0] > 1.0
    np.testing.assert_allclose(state.score_threshold_factor, r * r, rtol=1e-6)


def test_normalised_distance() -> None:
    scores = np.array([[0.0, 7.81 / 4, 7.81, 7.82, 1e6]])
    d = normalised_distance(scores, 7.81)
    np.testing.assert_allclose(d, [[0.0, 0.05, 0.1, 1.0, 1.0]], atol=1e-6)
    # an explicit raw decision (here with a feedback-raised threshold) decides which pixels count as foreground
    d = normalised_distance(scores, 7.81, foreground=np.array([[0, 0, 0, 0, 1]], bool))
    np.testing.assert_allclose(d[0, :4], [0.0, 0.05, 0.1, 0.1 * np.sqrt(7.82 / 7.81)], atol=1e-6)
    assert d.dtype == np.float32


def _scalar_reference(distances: np.ndarray, raws: np.ndarray) -> tuple[float, float, float]:
    """SuBSENSE's per-pixel rules written as the C++ loop body (one pixel; final mask = none)."""
    r, v, t_period = 1.0, fb.V_INIT, fb.T_LOWER
    dmin_lt = dmin_st = raw_lt = raw_st = final_lt = final_st = 0.0
    blinks = last_blink = last_raw = last_final = False
    for n, (d, raw) in enumerate(zip(distances, raws), start=1):
        f_lt, f_st = 1.0 / min(n, 100), 1.0 / min(n, 25)
        unstable = r > 3.0 or raw_lt - final_lt > 0.1 or raw_st - final_st > 0.1
        dmin_lt = dmin_lt * (1 - f_lt) + d * f_lt
        dmin_st = dmin_st * (1 - f_st) + d * f_st
        raw_lt = raw_lt * (1 - f_lt) + raw * f_lt
        raw_st = raw_st * (1 - f_st) + raw * f_st
        hi, lo = max(dmin_lt, dmin_st, 1e-6), min(dmin_lt, dmin_st)
        if last_final or (lo < 0.1 and raw):
            if t_period < fb.T_UPPER:
                t_period += 0.5 / (hi * v)
        elif t_period > fb.T_LOWER:
            t_period -= 0.25 * v / hi
        t_period = min(max(t_period, fb.T_LOWER), fb.T_UPPER)
        if hi > 0.1 and blinks:
            v += 1.0
        elif v > 0.1:
            v -= 0.1 / 4 if last_final else 0.05 if unstable else 0.1
            v = max(v, 0.1)
        if r < (1 + 2 * lo) ** 2:
            r += 0.01 * (v - 0.1)
        else:
            r = max(r - 0.01 / v, 1.0)
        blink_now = raw != last_raw
        blinks, last_blink, last_raw, last_final = blink_now or last_blink, blink_now, raw, False
        final_lt, final_st = final_lt * (1 - f_lt), final_st * (1 - f_st)
    return r, v, t_period


def test_vectorised_update_equals_the_per_pixel_rules() -> None:
    rng = np.random.default_rng(3)
    n, h, w = 150, 3, 4
    # pixels with different dynamics: mostly still, some rippling, some under objects for a while
    p_fg = rng.uniform(0, 0.6, (h, w))
    raws = rng.uniform(size=(n, h, w)) < p_fg
    distances = np.where(raws, 1.0, rng.uniform(0, 0.1, (n, h, w))).astype(np.float32)
    state = FeedbackState((h, w))
    _run(state, list(distances), list(raws), [np.zeros((h, w), bool)] * n)
    for y in range(h):
        for x in range(w):
            r, v, t_period = _scalar_reference(distances[:, y, x].astype(np.float64), raws[:, y, x])
            assert state.threshold_factor[y, x] == pytest.approx(r, rel=1e-5)
            assert state.variation[y, x] == pytest.approx(v, rel=1e-5, abs=1e-6)
            assert state.update_period[y, x] == pytest.approx(t_period, rel=1e-5)


def test_bad_shapes_are_errors() -> None:
    with pytest.raises(ValueError, match="must all be"):
        FeedbackState((2, 2)).update(np.zeros((2, 3)), np.zeros((2, 2), bool))
    with pytest.raises(ValueError, match="t_lower"):
        FeedbackState((2, 2), t_lower=10, t_upper=5)


def test_closing_the_loop_quiets_rippling_water_and_keeps_a_mover() -> None:
    """A one-Gaussian model whose variance (4^2) misses a ripple of amplitude 20 on the left half.

    Without feedback the water is foreground almost everywhere; with the per-pixel threshold
    ``threshold * R(x)**2`` it falls quiet, and a bright object crossing the still right half
    afterwards is found as well as without feedback.
    """
    rng = np.random.default_rng(0)
    h, w, threshold = 32, 48, 3.84  # chi-square 0.95 quantile, 1 degree of freedom
    bg = ndimage.gaussian_filter(rng.uniform(0, 255, (h, w)), 1.5)
    bg = 60 + 120 * (bg - bg.min()) / (bg.max() - bg.min())
    phase, freq = rng.uniform(0, 2 * np.pi, (h, w)), rng.uniform(0.3, 0.9, (h, w))
    water = np.zeros((h, w), bool)
    water[:, :24] = True
    results = {}
    for use_feedback in (False, True):
        state = FeedbackState((h, w))
        noise = np.random.default_rng(1)
        false_pos, recall = [], []
        for t in range(400):
            frame = bg + noise.normal(0, 2, (h, w)) + np.where(water, 20 * np.sin(phase + freq * t), 0)
            obj = np.zeros((h, w), bool)
            if t >= 300:
                obj[10:18, 24 + (t - 300) % 20:28 + (t - 300) % 20] = True
                frame[obj] = 250
            scores = (frame - bg) ** 2 / 16.0
            raw = scores > threshold * (state.score_threshold_factor if use_feedback else 1.0)
            final = ndimage.median_filter(raw, 3)
            state.update(normalised_distance(scores, threshold, foreground=raw), raw, final)
            if 200 <= t < 300:
                false_pos.append(final[water].mean())
            elif t >= 300:
                recall.append(final[obj].mean())
        results[use_feedback] = np.mean(false_pos), np.mean(recall)
    assert results[False][0] > 0.8 and results[True][0] < 0.05
    assert results[True][1] > 0.85 and results[True][1] >= results[False][1] - 0.02
