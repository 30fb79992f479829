"""Stopped objects and ghosts (bgsub.persistence) on small hand-made scenes with a textured road."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from bgsub.kernels.ghost import count_stable
from bgsub.persistence import GhostDetector, _ghost_blobs, boundary_step
from tests.conftest import textured_car, textured_road

H, W = 48, 64
THRESHOLD = 30.0  # colour distance of the stand-in model's decision


def _road(seed: int = 0) -> np.ndarray:
    return textured_road(H, W, seed, smoothing=1.0)


def _noisy(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip(image + rng.normal(0, 3, image.shape), 0, 255)


def _mask(frame: np.ndarray, background: np.ndarray) -> np.ndarray:
    """The stand-in model's decision with a 3 x 3 median, as the post-processing would give."""
    raw = np.linalg.norm(frame - background, axis=-1) > THRESHOLD
    return ndimage.median_filter(raw, 3)


def test_a_stopped_object_stays_foreground() -> None:
    rng = np.random.default_rng(2)
    road, car = _road(), textured_car()
    background = road.copy()
    det = GhostDetector((H, W), ghost_frames=30)
    y0, stop_x = 17, 30
    fg_area = []
    for t in range(130):
        x0 = min(2 + t, stop_x)  # drives in from the left for 28 frames, then stays for about 100
        scene = road.copy()
        scene[y0:y0 + 14, x0:x0 + 14] = car
        frame = _noisy(scene, rng)
        mask = _mask(frame, background)
        absorb = det.update(frame, background, mask)
        assert not absorb.any(), f"frame {t}: {absorb.sum()} pixels of a stopped object absorbed"
        background[absorb] = frame[absorb]
        if x0 == stop_x:
            fg_area.append(mask[y0:y0 + 14, stop_x:stop_x + 14].mean())
    assert len(fg_area) > 95 and min(fg_area) > 0.9


@pytest.mark.parametrize("stable_frames", [1, 10])
def test_a_ghost_is_absorbed_whole_after_stable_frames_plus_ghost_frames(stable_frames: int) -> None:
    rng = np.random.default_rng(3)
    road, car = _road(seed=4), textured_car(seed=5)
    background = road.copy()
    background[10:24, 20:34] = car  # the model learnt a parked car that has now left
    ghost_frames = 25
    det = GhostDetector((H, W), ghost_frames=ghost_frames, stable_frames=stable_frames)
    due = stable_frames + ghost_frames - 1  # the first frame has no previous one: it is never stable
    remaining = []
    for _t in range(due + 10):
        frame = _noisy(road, rng)
        mask = _mask(frame, background)
        absorb = det.update(frame, background, mask)
        background[absorb] = frame[absorb]  # the caller writes the frame into the model there
        remaining.append(int(_mask(frame, background).sum()))
    assert remaining[0] > 150  # the ghost is foreground at first
    assert remaining[due - 1] > 150  # and is not absorbed early
    assert remaining[due] == 0  # then all at once, not pixel by pixel
    assert max(remaining[due:]) == 0


def test_movers_passing_a_ghost_do_not_hold_it_back() -> None:
    """Plain vehicles stream past the ghost's lower edge at 3 px per frame: each pixel of theirs keeps its
    colour for 7 frames. With ``stable_frames=1`` their interiors join the ghost's blob and lend it their
    boundary; with 10 they never count as stopped."""
    road, car = _road(seed=14), textured_car(seed=15)
    background = road.copy()
    background[10:24, 20:34] = car  # a ghost
    absorbed_at = {}
    for stable_frames in (1, 10):
        rng = np.random.default_rng(16)
        model = background.copy()
        det = GhostDetector((H, W), ghost_frames=10, stable_frames=stable_frames)
        for t in range(60):
            scene = road.copy()
            on = (np.arange(W) - 3 * t) % 32 < 22  # 22 px long, 10 px apart
            scene[24:36, on] = (40.0, 60.0, 200.0)
            frame = _noisy(scene, rng)
            absorb = det.update(frame, model, _mask(frame, model))
            model[absorb] = frame[absorb]
            if _mask(frame, model)[10:24, 20:34].mean() < 0.1:  # a few pixels stay where the movers touch it
                absorbed_at[stable_frames] = t
                break
    assert absorbed_at[10] == 10 + 10 - 1
    assert absorbed_at.get(1, 99) > 30


def test_a_ghost_beside_a_stopped_object_leaves_the_object_alone() -> None:
    rng = np.random.default_rng(6)
    road, car = _road(seed=7), textured_car(seed=8)
    background = road.copy()
    background[5:19, 5:19] = car  # a ghost at the top left
    scene = road.copy()
    scene[25:39, 40:54] = textured_car(seed=9)  # a stopped object at the bottom right
    det = GhostDetector((H, W), ghost_frames=20)
    for _t in range(40):
        frame = _noisy(scene, rng)
        absorb = det.update(frame, background, _mask(frame, background))
        background[absorb] = frame[absorb]
    mask = _mask(frame, background)
    assert not mask[5:19, 5:19].any() and mask[25:39, 40:54].mean() > 0.9


def test_moving_objects_are_never_candidates() -> None:
    rng = np.random.default_rng(10)
    road = _road(seed=11)
    det = GhostDetector((H, W), ghost_frames=2)
    for t in range(30):
        scene = road.copy()
        scene[15:29, 2 + t:16 + t] = textured_car()  # moves 1 px per frame: its edges change every frame
        frame = _noisy(scene, rng)
        assert not det.update(frame, road, _mask(frame, road)).any()


@pytest.mark.parametrize("mask_value", [False, True])
def test_empty_or_full_masks_and_flat_images(mask_value: bool) -> None:
    det = GhostDetector((8, 10), ghost_frames=2)
    flat = np.full((8, 10, 3), 100.0)
    for _ in range(4):
        absorb = det.update(flat, flat, np.full((8, 10), mask_value))
        # a mask with no boundary cannot be judged, so nothing is absorbed
        assert absorb.dtype == bool and not absorb.any()
    assert np.all(boundary_step(flat, np.full((8, 10), mask_value)) == 0)


def test_boundary_step_ignores_texture_and_sees_colour_steps() -> None:
    rng = np.random.default_rng(12)
    texture = 100 + rng.choice([-30.0, 30.0], (20, 20))
    mask = np.zeros((20, 20), bool)
    mask[5:15, 5:15] = True
    flat_step = boundary_step(texture, mask)
    stepped = texture + 60 * mask
    assert flat_step[mask].max() < 25 and boundary_step(stepped, mask)[mask & (flat_step > 0)].min() > 35


def test_cropped_candidates_equal_the_whole_frame_test() -> None:
    rng = np.random.default_rng(13)
    det = GhostDetector((H, W), ghost_frames=5)
    for seed in range(6):
        road = _road(seed=seed)
        background = road.copy()
        frame = road.copy()
        background[5:15, 8:20] = textured_car(size=10, seed=seed)[:, :10].repeat(2, axis=1)[:, :12]  # a ghost
        y, x = rng.integers(18, 34), rng.integers(20, 50)
        frame[y:y + 12, x:x + 12] = textured_car(size=12, seed=seed + 20)  # an object
        frame = _noisy(frame, rng)
        mask = _mask(frame, background)
        stopped = mask & (rng.uniform(size=mask.shape) < 0.97)
        expected = _ghost_blobs(frame, background, mask, stopped, window=det.window, edge_ratio=det.edge_ratio,
                                min_step=det.min_step)
        np.testing.assert_array_equal(det.ghost_candidates(frame, background, mask, stopped), expected)
        assert expected[5:15, 8:20].mean() > 0.8 and not expected[y:y + 12, x:x + 12].any()


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="do not match"):
        GhostDetector((4, 4)).update(np.zeros((4, 5, 3)), np.zeros((4, 5, 3)), np.zeros((4, 5), bool))


@pytest.mark.parametrize("seed", range(4))
def test_compiled_ghost_test_equals_the_reference(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    """Random blobs on random images, both backends: the same candidates (bgsub.kernels.ghost)."""
    rng = np.random.default_rng(seed)
    mask = ndimage.binary_opening(rng.uniform(size=(H, W)) < 0.45)
    stopped = mask & (rng.uniform(size=mask.shape) < 0.9)
    frame, background = rng.uniform(0, 255, (H, W, 3)), rng.uniform(0, 255, (H, W, 3))
    left = np.zeros((H, W), bool)
    left[:, : W // 2] = True
    background[mask & left] *= 0.3  # blobs on the left have a step in the background image: ghosts
    results = {}
    for backend in ("numpy", "numba"):
        monkeypatch.setenv("BGSUB_BACKEND", backend)
        det = GhostDetector((H, W))
        results[backend] = det.ghost_candidates(frame, background, mask, stopped)
    assert 0 < results["numpy"].sum() < stopped.sum()  # both outcomes occur
    np.testing.assert_array_equal(results["numba"], results["numpy"])


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_compiled_stability_counts_equal_the_reference(monkeypatch: pytest.MonkeyPatch, dtype: type) -> None:
    """A sequence whose pixels drift by fractional steps around the tolerance, both backends: the same
    stable counts, frame after frame, and the same absorbed ghost (bgsub.kernels.ghost.count_stable)."""
    rng = np.random.default_rng(5)
    road, car = _road(), textured_car()
    background = road.copy()
    background[10:24, 20:34] = car  # a ghost ...
    # ... and, per 8 x 8 tile, a change per frame near the tolerance (15): some tiles stable, some not
    level = np.kron(rng.uniform(10, 20, (H // 8, W // 8)), np.ones((8, 8)))[..., None]
    frames = [road + level * (t % 2) + rng.uniform(-1.5, 1.5, road.shape) for t in range(30)]
    frames = [np.clip(f, 0, 255).astype(dtype) for f in frames]
    counts, absorbed = {}, {}
    for backend in ("numpy", "numba"):
        monkeypatch.setenv("BGSUB_BACKEND", backend)
        det = GhostDetector((H, W), ghost_frames=5, stable_frames=3)
        counts[backend], absorbed[backend] = [], []
        for frame in frames:
            absorbed[backend].append(det.update(frame, background, _mask(frame.astype(np.float64), background)))
            counts[backend].append(det.stable_count_.copy())
    assert 0 < np.mean(counts["numpy"][-1] > 0) < 1  # both outcomes occur
    assert any(a.any() for a in absorbed["numpy"])
    np.testing.assert_array_equal(np.array(counts["numba"]), np.array(counts["numpy"]))
    np.testing.assert_array_equal(np.array(absorbed["numba"]), np.array(absorbed["numpy"]))


def test_compiled_stability_mean_is_scipys_to_the_last_bit() -> None:
    """With the tolerance set to scipy's 3 x 3 mean at a pixel, that pixel is stable (the mean is not one
    unit in the last place above it) and a tolerance one unit below makes it unstable."""
    rng = np.random.default_rng(6)
    frame, last = rng.uniform(0, 60, (H, W, 3)), rng.uniform(0, 60, (H, W, 3))
    mean = ndimage.uniform_filter(np.abs(frame - last).max(axis=-1), 3, mode="nearest")
    for y, x in zip(rng.integers(0, H, 60), rng.integers(0, W, 60)):
        for tolerance, stable in ((mean[y, x], True), (np.nextafter(mean[y, x], -np.inf), False)):
            count = np.zeros((H, W), np.int32)
            count_stable(frame, last, count, np.ones((H, W), bool), tolerance=tolerance, stable_frames=1)
            assert count[y, x] == stable, (y, x, tolerance)
