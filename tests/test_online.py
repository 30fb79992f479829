"""Tests of the adaptive per-pixel GMM (:mod:`bgsub.online`).

The independent reference is OpenCV's ``BackgroundSubtractorMOG2`` (same
algorithm, C++), plus closed forms derived by hand from the update rules.
"""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest

from bgsub.online import NO_MODEL_SCORE, AdaptiveGaussianMixture
from bgsub.online_method import OnlineGMMMethod

BG_COLOUR = np.array([120.0, 90.0, 60.0])


def synthetic_video(seed: int = 0, n_frames: int = 100, h: int = 60, w: int = 80, c: int = 3) -> np.ndarray:
    """Static noisy background, two moving blocks and a region shadowed on frames 30-69, uint8."""
    rng = np.random.default_rng(seed)
    background = rng.uniform(40, 200, size=(h, w, c))
    frames = np.empty((n_frames, h, w, c), dtype=np.uint8)
    for t in range(n_frames):
        f = background + rng.normal(0, 3, size=background.shape)
        x = (2 * t) % (w - 10)
        f[10:20, x : x + 10] = [200, 30, 30][:c]
        y = t % (h - 8)
        f[y : y + 8, 50:58] = [20, 220, 90][:c]
        if 30 <= t < 70:
            f[35:50, 20:40] *= 0.6
        frames[t] = np.clip(np.rint(f), 0, 255)
    return frames


def flat_frames(n_frames: int, h: int = 20, w: int = 24, sigma: float = 2.0, seed: int = 1) -> np.ndarray:
    """Frames of a uniform background colour plus Gaussian noise, float64 on 0-255."""
    rng = np.random.default_rng(seed)
    return BG_COLOUR + rng.normal(0, sigma, size=(n_frames, h, w, 3))


# ---------------------------------------------------------------------------------------- OpenCV agreement
@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("detect_shadows", [True, False])
def test_masks_equal_opencv_mog2(channels: int, detect_shadows: bool) -> None:
    cv2 = pytest.importorskip("cv2", reason="OpenCV (cv2) is not installed: no MOG2 reference")
    frames = synthetic_video(c=channels)
    reference = cv2.createBackgroundSubtractorMOG2(500, 16, detect_shadows)
    model = AdaptiveGaussianMixture(history=500, var_threshold=16, detect_shadows=detect_shadows)
    # Measured: every pixel of every frame equal (0, 127 shadow, 255), for C = 1 and 3, shadows on and off;
    # and the background images too. (Highway's counts: tests/test_peers.py.)
    for t, frame in enumerate(frames):
        expected = reference.apply(frame if channels == 3 else frame[..., 0])
        np.testing.assert_array_equal(model.apply(frame), expected, err_msg=f"frame {t}")
    ours = model.background_image()
    theirs = reference.getBackgroundImage().reshape(ours.shape)
    np.testing.assert_array_equal(ours, theirs)


def test_masks_equal_opencv_mog2_with_fixed_rate_and_few_components() -> None:
    cv2 = pytest.importorskip("cv2", reason="OpenCV (cv2) is not installed: no MOG2 reference")
    frames = synthetic_video(seed=3, n_frames=80, h=40, w=50)
    reference = cv2.createBackgroundSubtractorMOG2(50, 25, True)
    reference.setNMixtures(3)
    reference.setVarThresholdGen(6.0)
    model = AdaptiveGaussianMixture(history=50, var_threshold=25, n_mixtures=3, var_threshold_gen=6.0)
    for t, frame in enumerate(frames):  # measured: every pixel of every frame equal
        np.testing.assert_array_equal(model.apply(frame, 0.05), reference.apply(frame, learningRate=0.05),
                                      err_msg=f"frame {t}")


# ---------------------------------------------------------------------------------------- scores
def test_scores_reproduce_apply_decision() -> None:
    frames = synthetic_video(seed=5, n_frames=60)
    by_mask = AdaptiveGaussianMixture()
    by_score = AdaptiveGaussianMixture()
    for frame in frames:
        mask = by_mask.apply(frame)
        scores, shadow = by_score.apply_scores(frame)
        assert scores.dtype == np.float32 and scores.shape == mask.shape
        np.testing.assert_array_equal(scores > np.float32(16), mask != 0)
        np.testing.assert_array_equal(shadow, mask == 127)
        assert not np.isnan(scores).any()


def test_score_is_squared_mahalanobis_distance_to_the_background_component() -> None:
    model = AdaptiveGaussianMixture(detect_shadows=False)
    frame = np.full((2, 3, 3), 100, dtype=np.uint8)
    scores, _ = model.apply_scores(frame)
    assert (scores == NO_MODEL_SCORE).all()  # no model yet: foreground, as MOG2's first frame
    # One component of mean 100 and variance var_init = 15: after the first frame it is the model.
    probe = frame.astype(np.float64)
    probe[0, 0] += [3.0, 4.0, 0.0]  # squared distance 25
    scores, _ = model.apply_scores(probe, learning_rate=0.0)
    assert scores[0, 0] == pytest.approx(25.0 / 15.0, rel=1e-6)
    assert scores[1, 1] == 0.0


# ---------------------------------------------------------------------------------------- absorption
def _frames_until_background(model: AdaptiveGaussianMixture, frame: np.ndarray, rate: float, region) -> int:
    """Feed ``frame`` until the region is background; return how many frames it was foreground."""
    for n in range(1, 200):
        if not (model.apply(frame, rate)[region] != 0).any():
            return n - 1
    raise AssertionError("never absorbed")


def frames_until_old_weight_below(target: float, rate: float, ct: float = 0.05) -> int:
    """Frames of a new colour until the old component's weight drops below ``target`` (closed form).

    Derived by hand from the update: the first frame of the new colour adds a component of weight
    ``a`` and scales the old one to ``w_1 = 1 - a``. Afterwards every frame decays the old weight to
    ``(1 - a) w - a ct`` and the matched one to ``(1 - a) w - a ct + a``; the total is ``1 - 2 a ct``
    and renormalising gives ``w_n = (1 - a) / (1 - 2 a ct) w_(n-1) - a ct / (1 - 2 a ct)``, i.e.
    ``w_n = w* + (w_1 - w*) r^(n-1)`` with ``r = (1 - a) / (1 - 2 a ct)``, ``w* = -ct / (1 - 2 ct)``.
    """
    r = (1 - rate) / (1 - 2 * rate * ct)
    w_star = -ct / (1 - 2 * ct)
    return 1 + math.ceil(math.log((target - w_star) / (1 - rate - w_star)) / math.log(r))


def test_object_that_stops_becomes_background_after_expected_frames() -> None:
    rate = 0.01
    model = AdaptiveGaussianMixture(detect_shadows=False)
    background = np.full((8, 8, 3), 100, dtype=np.uint8)
    for _ in range(30):
        model.apply(background, rate)
    parked = background.copy()
    parked[2:6, 2:6] = (200, 40, 160)
    region = (slice(2, 6), slice(2, 6))
    # The parked object's component counts as background once the old background component in
    # front of it weighs less than background_ratio = 0.9: frame 11 for a = 0.01 (10 without the
    # complexity prior, ln(0.9) / ln(0.99) = 10.5), so 10 foreground frames.
    expected = frames_until_old_weight_below(0.9, rate) - 1
    foreground_frames = _frames_until_background(model, parked, rate, region)
    assert abs(foreground_frames - expected) <= 1, (foreground_frames, expected)
    assert (model.apply(background, rate) == 0).all()  # the old background is still a background mode


def test_revealed_background_is_absorbed() -> None:
    rate = 0.02
    model = AdaptiveGaussianMixture(detect_shadows=False)
    with_object = np.full((8, 8, 3), 100, dtype=np.uint8)
    with_object[1:5, 1:5] = (30, 200, 30)
    for _ in range(200):
        model.apply(with_object, rate)
    revealed = np.full((8, 8, 3), 100, dtype=np.uint8)
    region = (slice(1, 5), slice(1, 5))
    assert (model.apply(revealed, rate)[region] == 255).all()
    expected = frames_until_old_weight_below(0.9, rate) - 1  # 5 foreground frames for a = 0.02
    foreground_frames = 1 + _frames_until_background(model, revealed, rate, region)
    assert abs(foreground_frames - expected) <= 1, (foreground_frames, expected)
    # The background image averages the components until their weights exceed background_ratio:
    # it shows the revealed colour alone once the old component weighs < 0.1 (frame 106).
    n_image = frames_until_old_weight_below(0.1, rate)
    seen = 1 + foreground_frames
    for _ in range(n_image - 2 - seen):
        model.apply(revealed, rate)
    assert (model.background_image()[region] != 100).all()
    for _ in range(3):
        model.apply(revealed, rate)
    np.testing.assert_array_equal(model.background_image(), revealed)


# ---------------------------------------------------------------------------------------- illumination
def test_gradual_illumination_change_is_followed() -> None:
    rng = np.random.default_rng(2)
    n_train, n_test = 60, 200
    levels = np.concatenate([np.zeros(n_train), np.linspace(0, 25, n_test)])  # +0.125 per frame
    frames = BG_COLOUR + levels[:, None, None, None] + rng.normal(0, 2, size=(n_train + n_test, 16, 16, 3))
    adaptive = AdaptiveGaussianMixture(history=100, detect_shadows=False)
    frozen = AdaptiveGaussianMixture(history=100, detect_shadows=False)
    for frame in frames[:n_train]:
        adaptive.apply(frame)
        frozen.apply(frame)
    fp_adaptive, fp_frozen = [], []
    for frame in frames[n_train:]:
        fp_adaptive.append(np.mean(adaptive.apply(frame) != 0))
        fp_frozen.append(np.mean(frozen.apply(frame, learning_rate=0.0) != 0))
    assert np.mean(fp_adaptive[-20:]) < 0.01
    assert np.mean(fp_frozen[-20:]) > 0.9


# ---------------------------------------------------------------------------------------- shadows
def test_shadow_detection() -> None:
    model = AdaptiveGaussianMixture()
    train = flat_frames(60)
    for frame in train:
        model.apply(frame)
    test = flat_frames(1, seed=9)[0]
    test[2:8, 2:8] *= 0.6  # a shadow: same chromaticity, darker
    test[10:16, 2:8] *= 0.4  # too dark for shadow_threshold = 0.5
    test[2:8, 12:18] = (60, 140, 200)  # another colour
    mask = model.apply(test)
    assert np.mean(mask[2:8, 2:8] == 127) >= 0.95
    assert (mask[10:16, 2:8] == 255).all()
    assert (mask[2:8, 12:18] == 255).all()
    assert np.mean(mask[:, 20:] == 0) >= 0.99
    no_shadows = AdaptiveGaussianMixture(detect_shadows=False)
    for frame in train:
        no_shadows.apply(frame)
    assert (no_shadows.apply(test)[2:8, 2:8] == 255).all()


# ---------------------------------------------------------------------------------------- warm start
def _batch_arrays(h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A two-component batch model: background colour (weight 0.95, variance 9) and a rare other one."""
    weights = np.broadcast_to([0.05, 0.95], (h, w, 2)).copy()  # deliberately unsorted
    means = np.broadcast_to(np.stack([[10.0, 200.0, 10.0], BG_COLOUR]), (h, w, 2, 3)).copy()
    variances = np.broadcast_to([20.0, 9.0], (h, w, 2)).copy()
    return weights, means, variances


def test_warm_start_classifies_the_first_frame() -> None:
    h, w = 20, 24
    weights, means, variances = _batch_arrays(h, w)
    model = AdaptiveGaussianMixture.from_batch(weights, means, variances, n_frames=100, detect_shadows=False)
    assert model.learning_rate_for_next_frame() == pytest.approx(1 / 202)
    np.testing.assert_array_equal(model.background_image(), np.broadcast_to(BG_COLOUR, (h, w, 3)))
    frame = flat_frames(1, h, w)[0]
    frame[5:10, 5:10] = (250, 250, 250)
    mask = model.apply(frame)
    assert (mask[5:10, 5:10] == 255).all()
    mask[5:10, 5:10] = 0
    assert mask.mean() == 0  # no warm-up false positives


def test_warm_start_full_covariance_uses_trace() -> None:
    h, w = 4, 5
    weights, means, variances = _batch_arrays(h, w)
    full = variances[..., None, None] * np.eye(3)
    full[..., 0, 1] = full[..., 1, 0] = 1.0  # off-diagonal terms are ignored
    a = AdaptiveGaussianMixture.from_batch(weights, means, variances).get_state()
    b = AdaptiveGaussianMixture.from_batch(weights, means, full).get_state()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    np.testing.assert_allclose(a["weights"][:2, 0, 0], [0.95, 0.05])
    np.testing.assert_allclose(a["variances"][:2, 0, 0], [9.0, 20.0])
    assert int(a["n_frames"]) == 500


# ---------------------------------------------------------------------------------------- edge cases
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize(
    "make",
    [
        lambda shape: np.zeros(shape, dtype=np.uint8),
        lambda shape: np.full(shape, 255, dtype=np.uint8),
        lambda shape: np.full(shape, 255.0, dtype=np.float32),
        lambda shape: np.random.default_rng(0).uniform(0, 255, shape),
    ],
    ids=["black", "saturated", "float-saturated", "float-noise"],
)
def test_no_nan_in_state(channels: int, make) -> None:
    model = AdaptiveGaussianMixture()
    for t in range(40):
        frame = make((6, 7, channels))
        if t == 20:
            frame = 255 - frame  # a sudden change creates new components
        mask = model.apply(frame)
        assert mask.shape == (6, 7) and mask.dtype == np.uint8
    state = model.get_state()
    for key, value in state.items():
        assert np.isfinite(value).all(), key
    assert model.background_image().shape == (6, 7, channels)
    w = state["weights"]
    in_use = np.arange(5)[:, None, None] < state["n_modes"]
    np.testing.assert_allclose(np.where(in_use, w, 0).sum(axis=0), 1.0, atol=1e-5)
    assert (np.diff(np.where(in_use, w, -1), axis=0) <= 0).all()  # sorted by weight


def test_two_dimensional_frames_are_one_channel() -> None:
    model = AdaptiveGaussianMixture()
    assert model.apply(np.full((3, 4), 7, dtype=np.uint8)).shape == (3, 4)
    assert model.background_image().shape == (3, 4, 1)


# ---------------------------------------------------------------------------------------- state
def test_state_round_trip_continues_identically() -> None:
    frames = synthetic_video(seed=7, n_frames=50, h=30, w=40)
    model = AdaptiveGaussianMixture()
    for frame in frames[:30]:
        model.apply(frame)
    buffer = io.BytesIO()
    np.savez(buffer, **model.get_state())
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as saved:
        restored = AdaptiveGaussianMixture(**model.get_params()).set_state(dict(saved))
    for frame in frames[30:]:
        s1, sh1 = model.apply_scores(frame)
        s2, sh2 = restored.apply_scores(frame)
        np.testing.assert_array_equal(s1, s2)
        np.testing.assert_array_equal(sh1, sh2)


@pytest.mark.parametrize("n_mixtures", [1, 3])
def test_state_is_copied_in_and_out(n_mixtures: int) -> None:
    # the state is stored pixel-major; with K = 1 a transposed view would be contiguous and could alias
    frames = synthetic_video(seed=8, n_frames=5, h=6, w=7)
    model = AdaptiveGaussianMixture(n_mixtures=n_mixtures)
    model.apply(frames[0])
    state = model.get_state()
    saved = {key: value.copy() for key, value in state.items()}
    restored = AdaptiveGaussianMixture(n_mixtures=n_mixtures).set_state(state)
    model.apply(frames[1])
    restored.apply(frames[1])
    for key, value in saved.items():
        np.testing.assert_array_equal(state[key], value, err_msg=key)
    assert model.weights_.shape == (n_mixtures, 6 * 7) and model.means_.shape == (n_mixtures, 3, 6 * 7)
    np.testing.assert_array_equal(restored.means_, model.means_)


# ---------------------------------------------------------------------------------------- pipeline method
def test_method_cold_start_equals_apply() -> None:
    frames = synthetic_video(seed=11, n_frames=40, h=30, w=40)
    method = OnlineGMMMethod()
    assert method.kind == "online_gmm" and method.adaptive and method.default_threshold == 16
    json.dumps(method.get_params())
    method.fit(frames[:25])
    scores, shadows = method.foreground_scores(frames[25:], return_shadows=True)
    assert scores.shape == (15, 30, 40) and scores.dtype == np.float32
    np.testing.assert_array_equal(method.last_shadows_, shadows)
    reference = AdaptiveGaussianMixture()
    masks = [reference.apply(f) for f in frames][25:]
    np.testing.assert_array_equal(scores > 16, np.array(masks) != 0)
    np.testing.assert_array_equal(shadows, np.array(masks) == 127)
    np.testing.assert_array_equal(method.background_image(), reference.background_image())
    state = method.get_state()
    again = OnlineGMMMethod().set_state(state)
    np.testing.assert_array_equal(again.background_image(), method.background_image())


def test_method_warm_start_fits_batch_model() -> None:
    pytest.importorskip("bgsub.gmm", reason="bgsub.gmm (batch GMM) is not available")
    frames = np.clip(np.rint(flat_frames(30, 10, 12)), 0, 255).astype(np.uint8)
    method = OnlineGMMMethod(warm_start=True, warm_start_replay=False, n_mixtures=2, detect_shadows=False)
    method.fit(frames)
    assert method.model_.n_frames_ == 30  # the learning rate goes on as after 30 frames
    test = frames[:1].copy()
    test[0, 2:5, 2:5] = (250, 10, 250)
    scores = method.foreground_scores(test)
    assert (scores[0, 2:5, 2:5] > 16).all()
    assert np.mean(scores[0, 5:, 5:] > 16) < 0.02
