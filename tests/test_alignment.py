"""Camera-shake compensation (bgsub.alignment) on small hand-made textured images."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from bgsub.alignment import align_frames, camera_motion, estimate_shift, shift_frame


def _texture(h: int = 64, w: int = 80, seed: int = 0) -> np.ndarray:
    """A smooth random RGB texture on the 0-255 scale, ``(H, W, 3)`` float64."""
    rng = np.random.default_rng(seed)
    grey = ndimage.gaussian_filter(rng.uniform(0, 255, (h, w)), 1.5)
    grey = 40 + 170 * (grey - grey.min()) / (grey.max() - grey.min())
    return np.stack([grey, 0.8 * grey + 20, 0.6 * grey + 40], axis=-1)


def _moved(image: np.ndarray, shift: tuple[float, float]) -> np.ndarray:
    return ndimage.shift(image, (*shift, 0), order=3, mode="nearest")


@pytest.mark.parametrize("shift", [(1.5, -2.25), (3.0, 2.0), (-0.4, 0.7), (-2.6, -1.1)])
def test_known_shift_is_estimated_and_undone(shift: tuple[float, float]) -> None:
    ref = _texture()
    frame = _moved(ref, shift)
    dy, dx = estimate_shift(frame, ref)
    assert abs(dy - shift[0]) < 0.1 and abs(dx - shift[1]) < 0.1
    aligned, shifts = align_frames(frame[None], ref, max_shift=5)
    assert np.allclose(shifts[0], (dy, dx))
    inner = (slice(6, -6), slice(6, -6))
    # bilinear re-interpolation of a cubic-spline shift: a few grey levels at most, away from the border
    err = np.abs(aligned[0][inner] - ref[inner])
    assert err.mean() < 1.5 and err.max() < 10
    unaligned = np.abs(frame[inner] - ref[inner]).mean()
    assert err.mean() < unaligned / 4


def test_a_shift_that_takes_the_frame_away_from_the_reference_is_not_applied(monkeypatch) -> None:
    """A still frame whose correlation peak something else moved (the estimate is forced here) is left as it is;
    a shaken frame given the same estimate is moved back."""
    import bgsub.alignment as alignment

    ref = _texture()
    monkeypatch.setattr(alignment, "_estimate", lambda *args: (2.0, -1.5))
    still, shaken = ref.copy(), _moved(ref, (2.0, -1.5))
    aligned, shifts = align_frames(np.stack([still, shaken]), ref, max_shift=3)
    assert shifts.tolist() == [[0.0, 0.0], [2.0, -1.5]]
    np.testing.assert_array_equal(aligned[0], still)
    inner = (slice(5, -5), slice(5, -5))
    assert np.abs(aligned[1][inner] - ref[inner]).mean() < 1.5
    forced, forced_shifts = align_frames(still[None], ref, max_shift=3, only_if_closer=False)
    assert forced_shifts.tolist() == [[2.0, -1.5]] and np.abs(forced[0][inner] - ref[inner]).mean() > 10


def test_a_local_motion_over_half_the_frame_does_not_move_it(monkeypatch) -> None:
    """Leaves swaying 2 px over the top 55 % of a still camera's frame: most pixels would come closer if the
    frame moved, but the bottom blocks would go farther, so it is left as it is (the estimate is forced)."""
    import bgsub.alignment as alignment

    ref = _texture(72, 80)
    frame = ref.copy()
    top = int(0.55 * len(ref))
    frame[:top] = _moved(ref, (0.0, 2.0))[:top]
    monkeypatch.setattr(alignment, "_estimate", lambda *args: (0.0, 2.0))
    aligned, shifts = align_frames(frame[None], ref, max_shift=3)
    assert shifts.tolist() == [[0.0, 0.0]]
    np.testing.assert_array_equal(aligned[0], frame)
    # the median over the whole frame would have moved it: more of its pixels come closer than go farther
    moved = _moved(frame, (0.0, -2.0))
    inner = (slice(4, -4), slice(4, -4))
    assert np.median(np.abs(moved - ref)[inner]) < np.median(np.abs(frame - ref)[inner])


def test_a_crown_over_most_of_the_frame_is_left_with_max_farther(monkeypatch) -> None:
    """Leaves swaying 2 px over the top 75 % of a still camera's frame win the vote of the blocks that come closer
    (12 of 16), so the vote alone moves the frame; the 4 still blocks at the bottom would come clearly farther, and
    ``max_farther=2`` leaves the frame as it is. A shaken frame, with a still object over a quarter of it, is still
    moved back with the same bound."""
    import bgsub.alignment as alignment

    ref = _texture(72, 80)
    frame = ref.copy()
    frame[:54] = _moved(ref, (0.0, 2.0))[:54]
    monkeypatch.setattr(alignment, "_estimate", lambda *args: (0.0, 2.0))
    _, shifts = align_frames(frame[None], ref, max_shift=3)
    assert shifts.tolist() == [[0.0, 2.0]]
    aligned, shifts = align_frames(frame[None], ref, max_shift=3, max_farther=2)
    assert shifts.tolist() == [[0.0, 0.0]]
    np.testing.assert_array_equal(aligned[0], frame)
    shaken = _moved(ref, (0.0, 2.0))
    shaken[54:, :20] = 128.0  # an object the camera shook with it: its block neither comes closer nor goes farther
    _, shifts = align_frames(shaken[None], ref, max_shift=3, max_farther=2)
    assert shifts.tolist() == [[0.0, 2.0]]


def test_uint8_frames_keep_dtype_and_the_border_shows_the_reference() -> None:
    ref = np.rint(_texture()).astype(np.uint8)
    frames = np.stack([np.rint(_moved(ref.astype(float), s)).astype(np.uint8) for s in [(0, 0), (2, -3), (-1.5, 1)]])
    aligned, shifts = align_frames(frames, ref, max_shift=4)
    assert aligned.dtype == np.uint8 and aligned.shape == frames.shape
    np.testing.assert_allclose(shifts, [(0, 0), (2, -3), (-1.5, 1)], atol=0.1)
    # frame 1 moved down by 2 and left by 3: after moving it back, its last 2 rows and first 3 columns are uncovered
    assert np.array_equal(aligned[1][-2:], ref[-2:]) and np.array_equal(aligned[1][:, :3], ref[:, :3])
    edge, _ = align_frames(frames, ref, max_shift=4, fill="edge")
    assert np.array_equal(edge[1][-2:], np.repeat(edge[1][-3:-2], 2, axis=0))


def test_a_moving_object_does_not_move_the_background_shift() -> None:
    ref = _texture(seed=3)
    frame = _moved(ref, (-1.75, 2.5))
    # a bright textured object covering about 15 % of the frame, which is not in the reference
    rng = np.random.default_rng(7)
    frame[10:35, 20:50] = rng.uniform(150, 255, (25, 30, 3))
    dy, dx = estimate_shift(frame, ref, max_shift=6)
    assert abs(dy + 1.75) < 0.1 and abs(dx - 2.5) < 0.1


def test_identical_frames_give_zero_shift() -> None:
    ref = _texture(seed=5)
    assert estimate_shift(ref, ref) == pytest.approx((0.0, 0.0), abs=1e-6)
    aligned, shifts = align_frames(np.stack([ref, ref]), ref)
    assert np.array_equal(aligned, np.stack([ref, ref])) and not shifts.any()


def test_constant_frame_gives_zero_shift_and_no_nan() -> None:
    flat = np.full((32, 40, 3), 120, np.uint8)
    assert estimate_shift(flat, flat) == (0.0, 0.0)
    assert estimate_shift(flat, np.rint(_texture(32, 40)).astype(np.uint8)) == (0.0, 0.0)
    aligned, shifts = align_frames(flat[None], flat)
    assert np.array_equal(aligned[0], flat) and np.isfinite(shifts).all()


def test_shift_larger_than_max_shift_is_not_searched() -> None:
    ref = _texture(seed=2)
    frame = _moved(ref, (0.0, 6.0))
    dy, dx = estimate_shift(frame, ref, max_shift=3)
    assert abs(dy) <= 3.5 and abs(dx) <= 3.5
    assert estimate_shift(frame, ref, max_shift=8) == pytest.approx((0.0, 6.0), abs=0.1)


def test_grey_frames_and_shift_frame_round_trip() -> None:
    ref = _texture()[..., 0]
    frame = shift_frame(ref, (2.0, -1.0))
    np.testing.assert_allclose(frame[2:, :-1], ref[:-2, 1:], atol=1e-3)
    assert estimate_shift(frame, ref) == pytest.approx((2.0, -1.0), abs=0.05)


@pytest.mark.parametrize("shift", [(0.0, 0.0), (2.0, -1.0), (0.37, -2.81), (-5.5, 0.25), (70.2, -90.6)])
def test_shift_frame_gives_scipys_bilinear_shift(shift: tuple[float, float]) -> None:
    """The slice-based bilinear shift equals scipy's order-1 shift with the edges extended, on every
    pixel, for RGB uint8 (after rounding), RGB float and grey, whole and sub-pixel shifts, and a shift
    larger than the image."""
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (30, 41, 3)).astype(np.uint8)
    expected = ndimage.shift(rgb.astype(np.float32), (*shift, 0), order=1, mode="nearest", prefilter=False)
    np.testing.assert_array_equal(shift_frame(rgb, shift), np.clip(np.rint(expected), 0, 255).astype(np.uint8))
    np.testing.assert_allclose(shift_frame(rgb.astype(np.float32), shift), expected, rtol=0, atol=1e-4)
    grey = rgb[..., 0].astype(np.float64)
    np.testing.assert_allclose(shift_frame(grey, shift),
                               ndimage.shift(grey, shift, order=1, mode="nearest", prefilter=False), rtol=0, atol=1e-4)


def test_noisy_grey_uint8_frames_are_aligned() -> None:
    rng = np.random.default_rng(11)
    ref = _texture(seed=6)[..., 0]
    truth = [(0.3, -1.7), (-2.2, 0.9), (1.0, 1.0)]
    frames = np.stack([np.clip(np.rint(ndimage.shift(ref, s, order=1, mode="nearest") + rng.normal(0, 3, ref.shape)),
                               0, 255) for s in truth]).astype(np.uint8)
    aligned, shifts = align_frames(frames, np.rint(ref).astype(np.uint8), max_shift=4)
    assert aligned.shape == frames.shape and aligned.dtype == np.uint8
    np.testing.assert_allclose(shifts, truth, atol=0.1)


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="differ"):
        estimate_shift(np.zeros((8, 8)), np.zeros((8, 9)))
    with pytest.raises(ValueError, match="do not match"):
        align_frames(np.zeros((2, 8, 8, 3)), np.zeros((8, 8)))


def test_camera_motion_is_a_quantile_of_the_shifts_from_the_median_shift() -> None:
    scene = ndimage.gaussian_filter(np.random.default_rng(4).uniform(0, 255, (64, 64)), 2)
    offsets = [(1.0, 1.0)] * 6 + [(1.0, 2.5), (-0.5, 1.0), (1.0, 1.0), (1.0, 1.0)]  # the camera rests at (1, 1)
    frames = np.stack([ndimage.shift(scene, s, mode="nearest") for s in offsets])
    assert camera_motion(frames, quantile=1.0) == pytest.approx(1.5, abs=0.1)  # from the rest, not from 0
    assert camera_motion(frames, quantile=0.5) == pytest.approx(0.0, abs=0.05)
    assert camera_motion(frames[:0]) == 0.0
    assert camera_motion(np.full((4, 16, 16, 3), 90, np.uint8)) == 0.0  # no texture: no shift, no NaN
    with pytest.raises(ValueError, match="quantile"):
        camera_motion(frames, quantile=1.5)


@pytest.mark.parametrize("n_threads", [2, 4])
def test_frames_aligned_side_by_side_equal_the_serial_ones(monkeypatch: pytest.MonkeyPatch, n_threads: int) -> None:
    from bgsub import alignment

    rng = np.random.default_rng(3)
    reference = _texture()
    frames = np.stack([_moved(reference, tuple(rng.uniform(-2, 2, 2))) for _ in range(7)]).astype(np.float32)
    frames[2, 10:30, 20:40] = 250.0  # a mover: its frame takes the outlier passes
    results = {}
    for threads in (1, n_threads):
        monkeypatch.setattr(alignment, "num_threads", lambda threads=threads: threads)
        aligned, shifts = align_frames(frames, reference, max_farther=2)
        results[threads] = (aligned, shifts, camera_motion(frames))
    (aligned1, shifts1, motion1), (aligned_n, shifts_n, motion_n) = results[1], results[n_threads]
    assert np.abs(shifts1).max() > 0.5  # the frames were moved, so the moves were compared
    np.testing.assert_array_equal(shifts_n, shifts1)
    np.testing.assert_array_equal(aligned_n, aligned1)
    assert motion_n == motion1
