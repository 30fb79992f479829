"""The moving-background options of ``gmm`` (align, feedback, ghost_frames, lbsp) on small hand-made scenes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from bgsub import gmm
from bgsub.alignment import shift_frame
from bgsub.gmm import GMMMethod
from bgsub.lbsp import texture_distance
from tests.conftest import textured_car, textured_road

H, W = 48, 64
THRESHOLD = 7.81
#: A one-component model with MOG2-like variance bounds: fits in well under a second.
SMALL = {"n_components": 1, "covariance_type": "full", "reg_covar": 4.0, "var_min": 16.0, "var_max": 75.0}


def _road(seed: int = 0) -> np.ndarray:
    return textured_road(H, W, seed, smoothing=1.5)


def _frames(images: list[np.ndarray], rng: np.random.Generator, noise: float = 2.0) -> np.ndarray:
    return np.clip(np.rint(np.stack(images) + rng.normal(0, noise, (len(images), H, W, 3))), 0, 255).astype(np.uint8)


def test_options_are_off_by_default_and_validated() -> None:
    method = GMMMethod()
    assert (method.align, method.feedback, method.ghost_frames, method.lbsp) == (False, False, None, False)
    with pytest.raises(ValueError, match="ghost_frames"):
        GMMMethod(ghost_frames=0)
    with pytest.raises(ValueError, match="align"):
        GMMMethod(align="yes")


def test_a_shifted_frame_is_aligned_back_and_scores_as_background() -> None:
    rng = np.random.default_rng(3)
    road = _road()
    train = _frames([road] * 30, rng)
    shifted = _frames([shift_frame(road, (1.6, -2.3))], rng)
    plain = GMMMethod(**SMALL).fit(train).foreground_scores(shifted)[0]
    # the training frames shake by up to 2.5 px, so the search reaches the test frame's shake
    shaken = _frames([shift_frame(road, tuple(s)) for s in rng.uniform(-2.5, 2.5, (30, 2))], rng)
    aligned_method = GMMMethod(**SMALL, align=True).fit(shaken)
    aligned = aligned_method.foreground_scores(shifted)[0]
    inner = (slice(4, -4), slice(4, -4))
    assert (plain[inner] > THRESHOLD).mean() > 0.3  # the shake flags every edge ...
    assert (aligned[inner] > THRESHOLD).mean() < 0.05  # ... aligned back: background (0.95 level)
    assert np.isfinite(aligned).all()


def test_an_aligned_frame_is_scored_on_its_own_pixels() -> None:
    """The ground truth of a shaken frame is drawn on that frame: the foreground must be where the car is in
    it, not where the car would be had the camera been at rest (3 px away)."""
    rng = np.random.default_rng(9)
    road, car = _road(), textured_car()
    shakes = rng.uniform(-2.5, 2.5, (30, 2))
    method = GMMMethod(**SMALL, align=True).fit(_frames([shift_frame(road, tuple(s)) for s in shakes], rng))
    scene = road.copy()
    scene[17:31, 25:39] = car
    shift = (0.0, 3.0)
    frame = _frames([shift_frame(scene, shift)], rng)  # road and car moved 3 px right: the car covers x 28-41
    mask = method.foreground_scores(frame)[0] > THRESHOLD
    truth = np.zeros((H, W), bool)
    truth[17:31, 28:42] = True
    core = ndimage.binary_erosion(truth)
    # beyond the 1 px band that interpolation blends (CDnet leaves it unlabelled), and off the image's edges,
    # which a shift uncovers
    outside = ~ndimage.binary_dilation(truth)
    outside[:4], outside[-4:], outside[:, :4], outside[:, -4:] = False, False, False, False
    assert mask[core].mean() > 0.95  # the car, on its pixels in the frame ...
    assert mask[outside].sum() < 0.05 * mask[truth].sum()  # ... and not beside them: moved back 3 px, the
    # 14 px car would cover 2 columns beyond the band (28 pixels, 14 % of it)


def test_training_frames_are_aligned_before_fitting() -> None:
    rng = np.random.default_rng(4)
    road = _road()
    shakes = rng.uniform(-2, 2, (30, 2))
    train = _frames([shift_frame(road, tuple(s)) for s in shakes], rng)
    test = _frames([road], rng)
    fitted = GMMMethod(**SMALL, align=True).fit(train)
    blurred = GMMMethod(**SMALL).fit(train)
    inner = (slice(4, -4), slice(4, -4))
    # the aligned model is sharp: it keeps the road's contrast, not the road smeared over 4 px
    sharp = fitted.background_image()[inner].astype(float).std()
    smeared = blurred.background_image()[inner].astype(float).std()
    assert sharp > 0.9 * road[inner].std() > smeared
    assert (fitted.foreground_scores(test)[0][inner] > THRESHOLD).mean() < 0.02


def test_a_blinking_pixel_raises_its_own_threshold() -> None:
    rng = np.random.default_rng(5)
    road = _road()
    method = GMMMethod(**SMALL, feedback=True, learning_rate=0.01).fit(_frames([road] * 30, rng))
    images = []
    for t in range(120):
        image = road.copy()
        if t % 2 == 0:
            image[20, 30] += 40.0  # one pixel flips between background and foreground every frame
        images.append(image)
    frames = _frames(images, rng)
    early = method.foreground_scores(frames[:10])
    assert early[0, 20, 30] > THRESHOLD  # at first the blink is foreground
    method.foreground_scores(frames[10:])
    factor = method._feedback.score_threshold_factor
    assert factor[20, 30] > 2.0  # its own threshold went up ...
    still = np.ones((H, W), bool)
    still[14:27, 24:37] = False
    # ... the still road's stays near (1 + 2 D_min)^2 with D_min about 0.05 (SuBSENSE's resting value)
    assert np.median(factor[still]) < 1.3
    assert np.isfinite(factor).all()


def test_feedback_scores_are_divided_by_the_threshold_factor() -> None:
    rng = np.random.default_rng(6)
    road = _road()
    train = _frames([road] * 20, rng)
    test = _frames([road] * 3, rng)
    plain = GMMMethod(**SMALL, learning_rate=0.01).fit(train)
    fed = GMMMethod(**SMALL, learning_rate=0.01, feedback=True).fit(train)
    # R starts at 1 and the rate at learning_rate: on a still scene the first frame is unchanged
    np.testing.assert_allclose(fed.foreground_scores(test[:1]), plain.foreground_scores(test[:1]), rtol=1e-5)


def test_a_stopped_object_stays_foreground_while_a_ghost_is_absorbed() -> None:
    rng = np.random.default_rng(7)
    road, car = _road(), textured_car()
    parked = road.copy()
    parked[5:19, 5:19] = car  # this car is in every training frame, then leaves: a ghost
    method = GMMMethod(**SMALL, learning_rate=0.01, ghost_frames=10).fit(_frames([parked] * 30, rng))
    plain = GMMMethod(**SMALL, learning_rate=0.01).fit(_frames([parked] * 30, rng))
    images = []
    for t in range(60):
        scene = road.copy()
        x0 = min(20 + t, 40)  # another car drives in and stops at x = 40 after 20 frames
        scene[28:42, x0:x0 + 14] = car
        images.append(scene)
    frames = _frames(images, rng)
    scores = np.concatenate([method.foreground_scores(frames[i:i + 20]) for i in range(0, 60, 20)])
    kept = np.concatenate([plain.foreground_scores(frames[i:i + 20]) for i in range(0, 60, 20)])
    ghost, stopped = (slice(5, 19), slice(5, 19)), (slice(28, 42), slice(40, 54))
    assert (kept[-1][ghost] > THRESHOLD).mean() > 0.9  # without the option the ghost stays
    assert (scores[-1][ghost] > THRESHOLD).mean() < 0.05  # with it, the revealed road is background
    assert (scores[-1][stopped] > THRESHOLD).mean() > 0.9  # the stopped car stays foreground
    assert np.isfinite(scores).all()


def test_a_ghost_is_absorbed_ghost_stable_frames_plus_ghost_frames_after_it_appears() -> None:
    rng = np.random.default_rng(9)
    road, car = _road(), textured_car()
    parked = road.copy()
    parked[5:19, 5:19] = car  # in every training frame, gone from the first test frame
    train, test = _frames([parked] * 30, rng), _frames([road] * 30, rng)
    ghost = (slice(5, 19), slice(5, 19))
    absorbed_at: dict[int, int] = {}
    for stable in (2, 6):
        method = GMMMethod(**SMALL, learning_rate=0.01, ghost_frames=3, ghost_stable_frames=stable).fit(train)
        scores = method.foreground_scores(test)
        gone = [(frame[ghost] > THRESHOLD).mean() < 0.05 for frame in scores]
        absorbed_at[stable] = gone.index(True)
        assert all(gone[absorbed_at[stable]:]) and (scores[0][ghost] > THRESHOLD).mean() > 0.9
    # the frame it appears in is frame 0; absorbed ghost_stable_frames + ghost_frames - 1 frames later
    assert absorbed_at == {2: 2 + 3 - 1, 6: 6 + 3 - 1}
    assert GMMMethod().ghost_stable_frames == 10
    with pytest.raises(ValueError, match="ghost_stable_frames"):
        GMMMethod(ghost_stable_frames=0)


def test_the_alignment_bound_is_fitted_state() -> None:
    rng = np.random.default_rng(8)
    road = _road()
    train = _frames([shift_frame(road, (s, -s)) for s in np.linspace(-2, 2, 20)], rng)
    fitted = GMMMethod(**SMALL, align=True).fit(train)
    assert 2.5 < fitted.align_shift_bound_ < 4.0  # a 4 px shake (about the median: 2) plus the 1 px margin
    restored = GMMMethod(**SMALL, align=True).set_state(fitted.get_state())
    assert restored.align_shift_bound_ == fitted.align_shift_bound_
    test = _frames([shift_frame(road, (1.0, 0.5))], rng)
    np.testing.assert_allclose(restored.foreground_scores(test), fitted.foreground_scores(test), rtol=1e-5)


@pytest.mark.parametrize("fraction", [gmm.ALIGN_MAX_SHIFT_FRACTION, 0.0])
def test_a_larger_frame_is_aligned_as_far_as_it_shakes(monkeypatch: pytest.MonkeyPatch, fraction: float) -> None:
    """A shake in pixels grows with the frame: a 200 x 240 camera shaking by up to 12 px is aligned back, as its
    search reaches a fifteenth of the shorter side (13.3 px); with the 8 px of small frames (``fraction`` 0) it
    is not, and the shake flags the edges."""
    monkeypatch.setattr(gmm, "ALIGN_MAX_SHIFT_FRACTION", fraction)
    rng = np.random.default_rng(12)
    grey = ndimage.gaussian_filter(rng.normal(0, 1, (200, 240)), 2.0)
    grey = 110 + 25 * grey / grey.std()
    road = np.stack([grey, 0.95 * grey, 0.85 * grey], axis=-1)

    def frames(shifts: np.ndarray) -> np.ndarray:
        images = np.stack([shift_frame(road, tuple(shift)) for shift in shifts])
        return np.clip(np.rint(images + rng.normal(0, 2.0, images.shape)), 0, 255).astype(np.uint8)

    method = GMMMethod(**SMALL, align=True).fit(frames(rng.uniform(-12, 12, (30, 2))))
    scores = method.foreground_scores(frames(np.array([[11.5, -11.0]])))[0]
    inner = (slice(14, -14), slice(14, -14))
    flagged = (scores[inner] > THRESHOLD).mean()
    if fraction:
        assert method.camera_motion_ > 8.0 and method.align_shift_bound_ > 10.0
        assert flagged < 0.05
    else:
        assert method.align_shift_bound_ == 8.0
        assert flagged > 0.15, flagged  # 0.25: moved back by 8 px at most, the rest beyond the 3 px neighbourhood


def test_a_still_camera_is_not_aligned() -> None:
    """Below ALIGN_MIN_SHAKE the training frames' shake is within a 3x3 neighbourhood's reach: nothing is moved,
    and the scores are those of the model without the option."""
    rng = np.random.default_rng(10)
    road = _road()
    train = _frames([shift_frame(road, tuple(s)) for s in rng.uniform(-0.4, 0.4, (30, 2))], rng)
    test = _frames([road, shift_frame(road, (0.3, -0.2))], rng)
    aligned = GMMMethod(**SMALL, align=True).fit(train)
    plain = GMMMethod(**SMALL).fit(train)
    assert aligned.align_shift_bound_ is None
    np.testing.assert_array_equal(aligned.foreground_scores(test), plain.foreground_scores(test))


def _dotted(road: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``road`` with a 20 x 20 patch brightened by 100 except on a grid of every third pixel, and that grid's
    inner pixels: their own colour is the road's, every one of their 16 LBSP neighbours changed."""
    image = road.copy()
    patch = (slice(14, 34), slice(20, 40))
    image[patch] += 100.0
    kept = np.zeros((H, W), bool)
    kept[17:31:3, 23:37:3] = True
    image[kept] = road[kept]
    return image, kept


def test_lbsp_flags_a_texture_change_where_the_colour_matches() -> None:
    rng = np.random.default_rng(9)
    road = _road()
    train = _frames([road] * 20, rng)
    image, kept = _dotted(road)
    test = _frames([image], rng)
    plain = GMMMethod(**SMALL).fit(train)
    textured = GMMMethod(**SMALL, lbsp=True).fit(train)
    colour = plain.foreground_scores(test)[0]
    scores = textured.foreground_scores(test)[0]
    assert (colour[kept] <= THRESHOLD).all()  # by colour alone the kept pixels are road ...
    assert (scores[kept] > THRESHOLD).all()  # ... by texture they are not
    # the score is the larger of the colour score and T * distance / 15 (SuBSENSE's threshold for 3 channels)
    background = plain.model_.means_[:, :, 0, :]  # one component: the background image, unrounded
    texture = THRESHOLD * texture_distance(test[0].astype(np.float32), background) / 15.0
    np.testing.assert_allclose(scores, np.maximum(colour, texture), rtol=1e-5)
    road_only = np.ones((H, W), bool)
    road_only[12:36, 18:42] = False  # the patch and the 2 px its descriptors reach
    assert (scores[road_only] > THRESHOLD).mean() < 0.01  # the still road keeps its texture


def test_lbsp_leaves_the_spatial_gates_moving_pixels_alone() -> None:
    rng = np.random.default_rng(10)
    road = _road()
    image, kept = _dotted(road)
    test = _frames([image], rng)
    method = GMMMethod(**SMALL, spatial_radius=1, spatial_gate=0.2, lbsp=True).fit(_frames([road] * 20, rng))
    moving = np.zeros((H, W), bool)
    moving[:, :29] = True  # as if the left part of the frame had needed its neighbours in training
    method.dynamics_ = {"rescued": np.where(moving, 0.5, 0.0).astype(np.float32),
                        "score_quantile": np.zeros((H, W), np.float32)}
    scores = method.foreground_scores(test)[0]
    assert (scores[kept & moving] <= THRESHOLD).all()  # gated: colour (and neighbours) alone
    assert (scores[kept & ~moving] > THRESHOLD).all()  # still: colour or texture


def test_the_neighbourhood_grows_with_the_camera_shake_measured_on_the_training_frames() -> None:
    rng = np.random.default_rng(9)
    road = _road()
    shake = [(dy, dx) for dy in (-2, -1, 0, 1, 2) for dx in (-2, -1, 0, 1, 2)] + [(0, 0)] * 5  # up to 2 px
    shaken = _frames([shift_frame(road, s) for s in shake], rng)
    settings = SMALL | {"spatial_radius": 1, "spatial_gate": 0.2}
    sized = GMMMethod(**settings, max_spatial_radius=3).fit(shaken)
    assert sized.spatial_radius_ == 2  # the 95th percentile of the shifts, 2 px, within the bound 3
    assert GMMMethod(**settings, max_spatial_radius=3).fit(_frames([road] * 30, rng)).spatial_radius_ == 1
    assert GMMMethod(**settings, max_spatial_radius=1).fit(shaken).spatial_radius_ == 1  # the bound holds
    assert GMMMethod(**settings | {"spatial_radius": 0}, max_spatial_radius=3).fit(shaken).spatial_radius_ == 0
    fixed = GMMMethod(**settings).fit(shaken)
    assert fixed.spatial_radius_ == 1 and fixed.camera_motion_ is None  # not asked to measure
    assert sized.camera_motion_ == pytest.approx(2.0, abs=0.1)
    test = _frames([shift_frame(road, (2.0, -2.0))], rng)
    inner = (slice(4, -4), slice(4, -4))
    flagged_fixed = (fixed.foreground_scores(test)[0][inner] > THRESHOLD).mean()
    flagged_sized = (sized.foreground_scores(test)[0][inner] > THRESHOLD).mean()
    assert flagged_fixed > 0.25 and flagged_sized < 0.5 * flagged_fixed  # a 2 px shake: a 5x5 neighbourhood
    restored = GMMMethod(**settings, max_spatial_radius=3).set_state(sized.get_state())
    assert restored.spatial_radius_ == 2 and restored.camera_motion_ == sized.camera_motion_
    np.testing.assert_array_equal(restored.foreground_scores(test), sized.foreground_scores(test))
    with pytest.raises(ValueError, match="max_spatial_radius"):
        GMMMethod(spatial_radius=2, max_spatial_radius=1)
