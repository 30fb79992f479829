"""Synthetic scenes: deterministic, labelled as documented, and each scene doing what it says."""

from __future__ import annotations

import numpy as np
import pytest

from bgsub.synth import SCENES, make_scene

SMALL = {"height": 30, "width": 40, "n_train": 20, "n_test": 20}


@pytest.mark.parametrize("scene", SCENES)
def test_deterministic_and_labelled(scene):
    a = make_scene(scene, seed=5, **SMALL)
    b = make_scene(scene, seed=5, **SMALL)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.frames.shape == (40, 30, 40, 3) and a.frames.dtype == np.uint8
    assert np.all(a.labels[:20] == 85)  # training frames are outside the temporal ROI
    assert set(np.unique(a.labels[20:])) <= {0, 50, 170, 255}
    assert not np.array_equal(make_scene(scene, seed=6, **SMALL).frames, a.frames)


def test_static_background_is_truth_plus_noise():
    s = make_scene("static", seed=0, noise_sigma=3.0, n_objects=0, **SMALL)
    residual = s.frames.astype(float) - s.background
    assert abs(residual.mean()) < 0.2 and residual.std() == pytest.approx(3.0, rel=0.1)
    assert np.all(s.labels[20:] == 0)


def test_dynamic_scene_has_multimodal_background_pixels():
    s = make_scene("dynamic", seed=0, n_objects=0, **SMALL)
    # a dynamic pixel switches between a few distinct colours: its colours spread far beyond sensor noise
    spread = s.frames.astype(float).std(axis=0).max(axis=-1)
    assert np.mean(spread > 20) > 0.05
    assert np.all(s.labels[20:] == 0)  # all of it is background


def test_illumination_darkens_gradually():
    s = make_scene("illumination", seed=0, n_objects=0, **SMALL)
    brightness = s.frames.reshape(40, -1).mean(axis=1)
    assert brightness[-1] < 0.75 * brightness[19]
    assert np.all(np.diff(brightness[20:]) < 2.0)  # no jumps


def test_shadows_are_labelled_50_and_darker():
    s = make_scene("shadows", seed=0, **SMALL)
    shadow = s.labels == 50
    assert shadow.any()
    t = np.nonzero(shadow.any(axis=(1, 2)))[0][0]
    ratio = s.frames[t][shadow[t]].astype(float).mean() / s.background[shadow[t]].astype(float).mean()
    assert 0.45 < ratio < 0.7


def test_parked_object_becomes_unknown_then_background():
    s = make_scene("parked", seed=0, n_objects=0, absorb_frames=5, **SMALL)
    test_labels = s.labels[20:]
    moving = (test_labels == 255).any(axis=(1, 2))
    assert moving.any() and not moving[-1]  # it moves, then it is no longer foreground
    last = s.frames[-1].astype(float)
    assert np.abs(last - s.background).max() > 50  # yet it is still there: background now


def test_departed_object_uncovers_background():
    s = make_scene("departed", seed=0, n_objects=0, **SMALL)
    first_train, last = s.frames[0].astype(float), s.frames[-1].astype(float)
    uncovered = np.abs(first_train - last).max(axis=-1) > 40
    assert uncovered.any()
    assert np.all(s.labels[-1][uncovered] == 0)  # the uncovered road is background


def test_foliage_sways_within_two_pixels_and_has_dark_grey_objects():
    s = make_scene("foliage", seed=0, n_objects=6, **SMALL)
    leaves = np.zeros(s.labels.shape[1:], bool)
    leaves[: 30 // 3 + 4, 40 // 8 : 40 - 40 // 8] = True
    moving = (s.labels == 255) | (s.labels == 170) | (s.labels == 50)
    frames = s.frames.astype(float)
    # leaf pixels change far beyond sensor noise between frames (they sway) ...
    still = ~moving[:-1] & ~moving[1:]
    change = np.abs(np.diff(frames, axis=0)).max(axis=-1)
    assert np.mean(change[:, leaves][still[:, leaves]] > 30) > 0.2
    assert np.mean(change[:, ~leaves][still[:, ~leaves]] > 30) < 0.05
    # ... yet every frame's leaves are the first frame's leaves shifted by at most 2 pixels (up to noise)
    for t in (5, 25, 35):
        inner = leaves.copy()
        inner[:2], inner[:, :2 + 40 // 8], inner[:, 40 - 40 // 8 - 2:] = False, False, False
        inner &= ~moving[t] & ~moving[0]
        errors = [np.abs(np.roll(frames[0], (dy, dx), axis=(0, 1))[inner] - frames[t][inner]).mean()
                  for dy in range(-4, 5) for dx in range(-4, 5)]
        assert min(errors) < 12
    # half the objects are dark grey: equal channels
    grey = [np.ptp(s.frames[t][s.labels[t] == 255].astype(float).mean(axis=0)) < 12
            for t in range(20, 40) if (s.labels[t] == 255).sum() > 20]
    assert any(grey)
