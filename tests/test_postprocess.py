"""Score-map filters: each one commutes with thresholding, and does what its binary version does."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi

from bgsub.config import expand_runs, validate_config
from bgsub.errors import InputError
from bgsub.postprocess import area_opening, check_postprocess, frame_filters, postprocess_masks, postprocess_scores

EIGHT = np.ones((3, 3), bool)


def _smooth_scores(seed: int, shape: tuple[int, ...] = (2, 18, 22), levels: int = 40) -> np.ndarray:
    """Random smooth score maps with many ties (quantised), so plateaus are exercised."""
    rng = np.random.default_rng(seed)
    raw = ndi.gaussian_filter(rng.random(shape), sigma=(0, 1.2, 1.2))
    return (np.round(raw * levels) / levels * 30).astype(np.float32)


def _binary_area_open(mask: np.ndarray, min_area: int) -> np.ndarray:
    labels, _ = ndi.label(mask, structure=EIGHT)
    sizes = np.bincount(labels.ravel())
    keep = sizes >= min_area
    keep[0] = False
    return keep[labels]


def test_blob_filter_removes_speck_keeps_object() -> None:
    scores = np.zeros((1, 20, 20), np.float32)
    scores[0, 2, 2:5] = 50.0  # a 3-pixel speck
    scores[0, 8:13, 5:15] = 40.0  # a 50-pixel object
    out = postprocess_scores(scores, {"min_area": 10})
    assert not (out[0, 2, 2:5] > 0).any()
    np.testing.assert_array_equal(out[0, 8:13, 5:15], 40.0)
    assert (out > 0).sum() == 50


@pytest.mark.parametrize("seed", range(4))
def test_area_opening_commutes_with_thresholding(seed: int) -> None:
    scores = _smooth_scores(seed)
    min_area = 3 + 7 * seed
    opened = area_opening(scores, min_area)
    for t in np.unique(scores):
        for frame, frame_open in zip(scores, opened):
            np.testing.assert_array_equal(frame_open > t, _binary_area_open(frame > t, min_area))


def test_area_opening_is_an_opening() -> None:
    scores = _smooth_scores(9)
    opened = area_opening(scores, 12)
    assert (opened <= scores).all()  # anti-extensive
    np.testing.assert_array_equal(area_opening(opened, 12), opened)  # idempotent
    np.testing.assert_array_equal(area_opening(scores, 1), scores)


@pytest.mark.parametrize("size", [3, 5])
def test_median_commutes_with_thresholding(size: int) -> None:
    scores = _smooth_scores(1, levels=8)
    filtered = postprocess_scores(scores, {"median": size})
    half = size * size // 2
    for t in np.unique(scores):
        # binary median blur: more than half the window is above t
        above = ndi.uniform_filter((scores > t).astype(np.float64), size=(1, size, size), mode="nearest")
        binary = np.rint(above * size * size) > half
        np.testing.assert_array_equal(filtered > t, binary)


def test_opening_and_closing_commute_with_thresholding() -> None:
    scores = _smooth_scores(2, levels=6)
    opened = postprocess_scores(scores, {"opening": 3})
    closed = postprocess_scores(scores, {"closing": 3})
    def erode(mask: np.ndarray) -> np.ndarray:
        return ndi.minimum_filter(mask, size=(1, 3, 3), mode="nearest")

    def dilate(mask: np.ndarray) -> np.ndarray:
        return ndi.maximum_filter(mask, size=(1, 3, 3), mode="nearest")

    for t in np.unique(scores):
        mask = scores > t
        bin_open, bin_close = dilate(erode(mask)), erode(dilate(mask))
        np.testing.assert_array_equal(opened > t, bin_open)
        np.testing.assert_array_equal(closed > t, bin_close)


def test_empty_config_is_identity_and_input_untouched() -> None:
    scores = _smooth_scores(3)
    before = scores.copy()
    np.testing.assert_array_equal(postprocess_scores(scores, {}), scores)
    postprocess_scores(scores, {"median": 3, "min_area": 5})
    np.testing.assert_array_equal(scores, before)


@pytest.mark.parametrize("bad", [{"blur": 3}, {"median": 4}, {"min_area": -1}, {"median": 2.5}, {"opening": True},
                                 {"median": 5, "reference_size": -120}, {"median": 5, "reference_size": 1.5},
                                 {"median": 5, "reference_size": True}])
def test_bad_configs_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        check_postprocess(bad)


def test_config_key_postprocess_reaches_the_run() -> None:
    runs = expand_runs({"median": {"postprocess": {"median": 5, "min_area": 20}}})
    assert runs[0].postprocess == {"median": 5, "min_area": 20}
    assert "postprocess" not in runs[0].params
    with pytest.raises(InputError, match="methods.median.postprocess"):
        expand_runs({"median": {"postprocess": {"median": 4}}})


def test_filters_with_a_reference_size_grow_with_the_frame_and_only_with_it() -> None:
    """Sizes given at a 120-pixel shorter side: a frame twice that gets the 9x9 median and 120-pixel blobs, by hand
    (half-width 2 x 2, area 30 x 2^2); one no larger keeps them; without the key they are pixels at every size."""
    config = {"median": 5, "min_area": 30, "reference_size": 120}
    assert frame_filters(config, 240, 320) == {"median": 9, "min_area": 120}
    assert frame_filters(config, 360, 1000) == {"median": 13, "min_area": 270}  # the shorter side counts
    assert frame_filters(config, 120, 160) == frame_filters(config, 40, 50) == {"median": 5, "min_area": 30}
    assert frame_filters({"median": 5, "min_area": 30}, 480, 640) == {"median": 5, "min_area": 30}
    assert frame_filters({"opening": 1, "median": 3, "reference_size": 100}, 200, 200) == {"median": 5}


def test_scores_and_masks_are_filtered_at_the_frame_s_own_size() -> None:
    """A 7x7 blob is 49 pixels: kept by 30-pixel blob removal at 120 px, removed by the 120 pixels of a frame twice
    that size; the scores path, the masks path and the fixed grown sizes agree."""
    config = {"min_area": 30, "reference_size": 120}
    for height, kept in ((120, True), (240, False)):
        scores = np.zeros((1, height, height), np.float32)
        scores[0, 10:17, 10:17] = 20.0
        filtered = postprocess_scores(scores, config)
        assert bool(filtered.any()) is kept
        np.testing.assert_array_equal(postprocess_masks(scores, 5.0, config), filtered > 5.0)
        np.testing.assert_array_equal(filtered, postprocess_scores(scores, frame_filters(config, height, height)))


def test_config_takes_reference_size_and_names_a_bad_one() -> None:
    config = {"datasets": {"static": {"synthetic": {"scene": "static", "seed": 0}}},
              "methods": {"gmm": {"preset": "default", "postprocess": {"median": 5, "reference_size": 120}}}}
    runs = expand_runs(validate_config(config)["methods"])
    assert runs[0].postprocess == {"median": 5, "reference_size": 120}
    config["methods"]["gmm"]["postprocess"]["reference_size"] = -1
    with pytest.raises(InputError, match="reference_size"):
        validate_config(config)
