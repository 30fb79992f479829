"""LBSP texture descriptors (bgsub.lbsp) on small hand-made images."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from bgsub.lbsp import PATTERN, descriptor_threshold, hamming_distance, lbsp_descriptors, texture_distance


def _loop_descriptors(image: np.ndarray, reference: np.ndarray, rel: float) -> np.ndarray:
    """The plain per-pixel definition (one channel, edge-repeated borders)."""
    h, w = image.shape
    out = np.zeros((h, w), np.uint16)
    for y in range(h):
        for x in range(w):
            c = float(reference[y, x])
            code = 0
            for bit, (dy, dx) in enumerate(PATTERN):
                ny, nx = min(max(y + dy, 0), h - 1), min(max(x + dx, 0), w - 1)
                code |= int(abs(float(image[ny, nx]) - c) > rel * c) << bit
            out[y, x] = code
    return out


def test_pattern_is_the_5x5_double_cross() -> None:
    assert len(set(PATTERN)) == 16 and (0, 0) not in PATTERN
    assert all(max(abs(dy), abs(dx)) <= 2 and (dy == 0 or dx == 0 or abs(dy) == abs(dx)) for dy, dx in PATTERN)


def test_vectorised_descriptors_equal_the_per_pixel_definition() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (9, 11)).astype(np.float32)
    reference = rng.integers(0, 256, (9, 11)).astype(np.float32)
    np.testing.assert_array_equal(lbsp_descriptors(image)[..., 0], _loop_descriptors(image, image, 0.333))
    np.testing.assert_array_equal(lbsp_descriptors(image, reference=reference)[..., 0],
                                  _loop_descriptors(image, reference, 0.333))


def test_hamming_distance_equals_bit_counting() -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 1 << 16, 500).astype(np.uint16)
    b = rng.integers(0, 1 << 16, 500).astype(np.uint16)
    expected = [bin(int(x) ^ int(y)).count("1") for x, y in zip(a, b)]
    np.testing.assert_array_equal(hamming_distance(a, b), expected)


def test_a_texture_change_of_equal_mean_colour_is_detected() -> None:
    rng = np.random.default_rng(2)
    h, w = 32, 32
    wall = np.full((h, w, 3), (120.0, 110.0, 100.0)) + rng.normal(0, 2, (h, w, 3))  # a plain wall with noise
    frame = wall + rng.normal(0, 2, (h, w, 3))
    # a patterned object with exactly the wall's mean colour: stripes of +-50 grey levels
    stripes = np.where(np.arange(w) % 2 == 0, 50.0, -50.0)[None, :, None]
    frame[8:24, 8:24] = (wall + stripes)[8:24, 8:24]
    smoothed_change = np.linalg.norm(ndimage.uniform_filter(frame - wall, (4, 4, 1)), axis=-1)
    assert smoothed_change[10:22, 10:22].max() < 5  # a colour test on local means sees nothing
    distance = texture_distance(frame, wall)
    limit = descriptor_threshold(1.0)
    inside, outside = distance[10:22, 10:22], np.ones((h, w), bool)
    outside[6:26, 6:26] = False
    assert (inside > limit).mean() > 0.95
    assert (distance[outside] > limit).mean() == 0


def test_a_small_uniform_brightness_change_is_not_texture() -> None:
    rng = np.random.default_rng(3)
    bg = ndimage.gaussian_filter(rng.uniform(40, 220, (24, 24, 3)), (1, 1, 0))
    assert np.all(texture_distance(0.9 * bg, bg) <= descriptor_threshold(1.0))
    assert np.all(texture_distance(bg + 8, bg) <= descriptor_threshold(1.0))


def test_descriptor_threshold_grows_with_the_feedback_factor() -> None:
    r = np.array([[1.0, 1.6, 2.4, 4.0]], np.float32)
    np.testing.assert_array_equal(descriptor_threshold(r, n_channels=1), [[5, 7, 7, 19]])


def test_grey_images_and_errors() -> None:
    assert lbsp_descriptors(np.zeros((4, 5))).shape == (4, 5, 1)
    assert texture_distance(np.zeros((4, 5)), np.zeros((4, 5))).dtype == np.int32
    with pytest.raises(ValueError, match="does not match"):
        lbsp_descriptors(np.zeros((4, 5)), reference=np.zeros((4, 6)))
