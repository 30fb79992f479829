"""The brightness ratio behind ``benchmarks/errors_by_label.py``'s ``FP deep`` column, on hand-made scenes.

``FP deep`` counts shadow false positives darker than the shadow test's band; the ratio it reads must be the
frame's to the true background at the same scene point, so a shaken camera and a global gain are undone.
"""

from __future__ import annotations

import numpy as np
from errors_by_label import brightness_ratio

from bgsub.synth import Scene


def _scene(background: np.ndarray, frame: np.ndarray, **info: np.ndarray) -> Scene:
    frames = np.stack([background, frame]).astype(np.uint8)
    return Scene(frames, np.zeros(frames.shape[:3], np.uint8), background.astype(np.uint8), 1, info)


def test_a_shadow_reads_its_darkening_and_the_lit_ground_one():
    background = np.full((8, 10, 3), (100, 150, 200), np.float64)
    frame = background.copy()
    frame[2:5, 3:7] *= 0.4  # darker than the default's shadow_tau (0.5)
    ratio = brightness_ratio(_scene(background, frame), 2)
    assert np.allclose(ratio[2:5, 3:7], 0.4, atol=0.005)
    assert np.allclose(np.delete(ratio, np.s_[2:5], axis=0), 1.0, atol=0.005)


def test_a_shaken_frame_is_compared_with_the_background_moved_by_its_shake():
    background = np.zeros((12, 16, 3))
    background[:, 8:] = 200.0  # a vertical edge: dark left, bright right
    background[:, :8] = 50.0
    frame = np.roll(background, 2, axis=1)  # the content moved by +2 px along x
    shifts = np.array([[0.0, 0.0], [0.0, 2.0]])
    ratio = brightness_ratio(_scene(background, frame, shifts=shifts), 2)
    inside = np.s_[:, 3:14]  # away from the wrapped column and the shifted border
    assert np.allclose(ratio[inside], 1.0, atol=0.01)
    unmoved = brightness_ratio(_scene(background, frame), 2)
    assert np.allclose(unmoved[:, 8:10], 0.25, atol=0.01)  # read in place, the dark side 2 px past the edge


def test_a_global_gain_is_undone():
    background = np.full((6, 6, 3), 120.0)
    frame = background * 0.8
    frame[1:3, 1:3] *= 0.6  # a shadow under the lowered exposure
    ratio = brightness_ratio(_scene(background, frame, gain=np.array([1.0, 0.8])), 2)
    assert np.allclose(ratio[1:3, 1:3], 0.6, atol=0.01)
    assert np.allclose(ratio[3:, 3:], 1.0, atol=0.01)
