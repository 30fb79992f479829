"""Spatial filters on foreground score maps that commute with thresholding.

Published methods clean their masks (SuBSENSE and PAWCS end with a median blur, many
add an opening and drop small blobs). Here the same filters act on the *score maps*
``(T, H, W)`` before any threshold, and each one commutes with thresholding::

    filter(scores) > t  ==  binary_filter(scores > t)      for every threshold t

so the exact threshold sweep of :mod:`bgsub.metrics` still describes the masks that
are written. The filters are flat (rank) filters, which have that property:

- ``median``: the median over a ``size x size`` window (``median(s) > t`` iff more
  than half the window is above ``t``: the binary median blur).
- ``opening``: grey opening, a ``size x size`` minimum then maximum filter (the binary
  opening of every threshold set: removes foreground thinner than the window).
- ``closing``: grey closing (maximum then minimum; fills background gaps thinner than
  the window).
- ``min_area``: grey area opening, computed exactly by union-find over the pixels in
  decreasing score order (Meijster and Wilkinson 2002): thresholded at ``t`` it keeps
  the 8-connected components of ``scores > t`` with at least ``min_area`` pixels.

They run in the order ``median``, ``opening``, ``closing``, ``min_area``; a
configuration is a dict such as ``{"median": 5, "min_area": 20}`` (a method's
``postprocess:`` config key). Pixels outside the image are treated as the nearest
edge pixel (``mode="nearest"``), as SciPy does.

A window or an area covers a part of the scene only at one frame size. With
``reference_size: n`` in the config the sizes are those of a frame whose shorter side is
``n`` pixels, and a larger frame gets them grown to cover the same part of its scene
(:func:`frame_filters`, :func:`grown_postprocess`); without it they are pixels at every size.

The filters also commute with any non-decreasing map of the scores. A run with ground truth
compares the filtered scores with its sweep's thresholds only, so it filters each score's
*level* (how many thresholds lie below it: one byte) instead of the score, which is exact at
those thresholds and several times faster (:func:`postprocess_cut_scores`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.ndimage as ndi
from numpy.typing import NDArray

from bgsub.kernels import resolve_backend
from bgsub.kernels.area import area_open, area_open_levels
from bgsub.kernels.area_opening import area_open_2d
from bgsub.kernels.binary import filtered_masks
from bgsub.kernels.levels import median_levels, score_levels
from bgsub.kernels.median import median_filter

__all__ = ["POSTPROCESS_KEYS", "check_postprocess", "grown_postprocess", "frame_filters", "area_opening",
           "postprocess_scores", "postprocess_cut_scores", "postprocess_masks"]

logger = logging.getLogger(__name__)

#: A compiled filter of score maps or levels: ``kernel(maps (T, H, W), size) -> maps`` of the same dtype.
Kernel = Callable[[NDArray, int], NDArray]

#: Recognised keys of a post-processing config, in the order they are applied.
POSTPROCESS_KEYS: tuple[str, ...] = ("median", "opening", "closing", "min_area")

#: The config's key naming the shorter side, in pixels, at which its sizes hold (:func:`frame_filters`).
REFERENCE_KEY = "reference_size"


def check_postprocess(config: dict[str, Any] | None) -> dict[str, int]:
    """Validate a post-processing config; return it with the inactive filters dropped.

    Parameters
    ----------
    config : dict or None
        ``{"median": size, "opening": size, "closing": size, "min_area": pixels, "reference_size": pixels}``;
        sizes are odd window widths (1 = off), ``min_area`` a pixel count (0 or 1 = off), ``reference_size``
        the frame's shorter side at which they hold (0 or absent = at every size; :func:`frame_filters`).

    Returns
    -------
    dict
        The active filters, in application order (at the reference size: ``reference_size`` is not in it).

    Examples
    --------
    >>> check_postprocess({"min_area": 20, "median": 1, "reference_size": 120})
    {'min_area': 20}
    """
    config = dict(config or {})
    unknown = sorted(set(config) - set(POSTPROCESS_KEYS) - {REFERENCE_KEY})
    if unknown:
        raise ValueError(f"unknown post-processing filter(s) {unknown}; known: {list(POSTPROCESS_KEYS)} and "
                         f"{REFERENCE_KEY!r}")
    reference = config.get(REFERENCE_KEY, 0)
    if isinstance(reference, bool) or not isinstance(reference, (int, np.integer)) or reference < 0:
        raise ValueError(f"post-processing {REFERENCE_KEY} must be a non-negative integer (pixels), got {reference!r}")
    active = {}
    for key in POSTPROCESS_KEYS:
        value = config.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"post-processing {key} must be a non-negative integer, got {value!r}")
        if key != "min_area" and value > 1 and value % 2 == 0:
            raise ValueError(f"post-processing {key} must be an odd window width, got {value}")
        if value > 1:
            active[key] = int(value)
    return active


def grown_postprocess(config: dict[str, Any], scale: float) -> dict[str, int]:
    """The filters of ``config`` grown ``scale`` times, to cover the same part of a scene filmed with ``scale`` times
    as many pixels across: each window's half-width times ``scale`` (rounded), ``min_area`` times its square.

    Examples
    --------
    >>> grown_postprocess({"median": 5, "min_area": 30}, 2)
    {'median': 9, 'min_area': 120}
    >>> grown_postprocess({"median": 5, "opening": 1, "min_area": 30}, 1.5)
    {'median': 7, 'opening': 1, 'min_area': 68}
    >>> grown_postprocess({"median": 5, "min_area": 30}, 4)
    {'median': 17, 'min_area': 480}
    """
    check_postprocess(config)
    grown = {}
    for key, value in config.items():
        if key == REFERENCE_KEY:
            continue
        if value <= 1:  # off stays off
            grown[key] = int(value)
        elif key == "min_area":
            grown[key] = round(value * scale * scale)
        else:
            grown[key] = 2 * round((value - 1) / 2 * scale) + 1
    return grown


def frame_filters(config: dict[str, Any] | None, height: int, width: int) -> dict[str, int]:
    """The active filters of ``config`` for frames of ``height`` x ``width`` pixels.

    With ``reference_size`` in ``config``, a frame whose shorter side is larger gets the filters grown by their
    ratio (:func:`grown_postprocess`), so that they cover the same part of the scene; a frame no larger keeps them
    as given (they were not measured shrunk). Without it, or 0, the sizes hold at every frame size.

    Examples
    --------
    >>> default = {"median": 5, "min_area": 30, "reference_size": 120}
    >>> frame_filters(default, 120, 160), frame_filters(default, 240, 320), frame_filters(default, 480, 720)
    ({'median': 5, 'min_area': 30}, {'median': 9, 'min_area': 120}, {'median': 17, 'min_area': 480})
    >>> frame_filters(default, 60, 80), frame_filters({"median": 5}, 480, 640)
    ({'median': 5, 'min_area': 30}, {'median': 5})
    """
    active = check_postprocess(config)
    reference = int((config or {}).get(REFERENCE_KEY, 0))
    shorter = min(int(height), int(width))
    if reference and shorter > reference:
        return check_postprocess(grown_postprocess(active, shorter / reference))
    return active


def area_opening(scores: NDArray, min_area: int) -> NDArray[np.float32]:
    """Grey area opening of each score map, 8-connectivity.

    Parameters
    ----------
    scores : ndarray of shape (H, W) or (T, H, W)
    min_area : int
        Smallest kept component, pixels.

    Returns
    -------
    ndarray of the same shape, float32
        ``area_opening(s, a) > t`` is the union of the 8-connected components of ``s > t``
        with at least ``a`` pixels, for every ``t``.

    Examples
    --------
    >>> s = np.zeros((5, 6), np.float32); s[1, 1] = 9; s[2:5, 3:6] = 5
    >>> area_opening(s, 4)[1, 1], area_opening(s, 4)[3, 4]
    (np.float32(0.0), np.float32(5.0))
    """
    scores = np.ascontiguousarray(scores, dtype=np.float32)
    if min_area <= 1:
        return scores.copy()
    if scores.ndim == 2:
        return area_open_2d(scores, int(min_area))
    return np.stack([area_open_2d(frame, int(min_area)) for frame in scores])


def postprocess_scores(scores: NDArray, config: dict[str, Any] | None) -> NDArray[np.float32]:
    """Apply the filters of ``config`` (see :func:`check_postprocess`), sized for the frames (:func:`frame_filters`),
    to every frame's scores.

    Parameters
    ----------
    scores : ndarray of shape (T, H, W)
    config : dict or None

    Returns
    -------
    ndarray of shape (T, H, W), float32
        A new array (``scores`` is left alone); equal to ``scores`` for an empty config.

    Examples
    --------
    >>> s = np.zeros((1, 5, 5), np.float32); s[0, 2, 2] = 10
    >>> float(postprocess_scores(s, {"median": 3}).max())
    0.0
    """
    out = np.array(scores, dtype=np.float32, copy=True)
    if out.ndim != 3:
        raise ValueError(f"scores must have shape (T, H, W), got {out.shape}")
    active = frame_filters(config, *out.shape[1:])
    # -- compiled path (issue 16): bgsub.kernels.median and .area give the same values as scipy / _area_open_2d
    if resolve_backend() == "numba":
        return _apply_filters(out, active, median_filter, area_open)
    # -- end of the compiled path
    return _apply_filters(out, active)


def _apply_filters(maps: NDArray, active: dict[str, int], median: Kernel | None = None,
                   area: Kernel | None = None) -> NDArray:
    """``maps (T, H, W)`` through the ``active`` filters in order: ``median(maps, size)`` and ``area(maps,
    min_area)`` when given (the compiled kernels for the maps' dtype), else SciPy's median and the reference area
    opening; SciPy's grey opening and closing. The maps' dtype is kept."""
    for key, value in active.items():
        if key == "median":
            maps = median(maps, value) if median else ndi.median_filter(maps, size=(1, value, value), mode="nearest")
        elif key == "opening":
            maps = ndi.grey_opening(maps, size=(1, value, value), mode="nearest")
        elif key == "closing":
            maps = ndi.grey_closing(maps, size=(1, value, value), mode="nearest")
        elif key == "min_area":
            maps = area(maps, value) if area else area_opening(maps, value).astype(maps.dtype, copy=False)
    return maps


def postprocess_cut_scores(scores: NDArray, cuts: NDArray, config: dict[str, Any] | None) -> NDArray[np.float32]:
    """:func:`postprocess_scores` as far as comparisons with ``cuts`` can tell, computed on score levels.

    Each score's level (the number of ``cuts`` strictly below it, one byte) is filtered instead of the score:
    the filters commute with that non-decreasing map, so the filtered levels are the levels of the filtered
    scores (:mod:`bgsub.kernels.levels`). They are mapped back to the smallest cut at or above each filtered
    score (above the last cut: the next float32), so that ``result > c`` is ``postprocess_scores(scores, config)
    > c`` for every cut ``c``: a threshold sweep over ``cuts`` counts the same pixels, and masks at a threshold
    among them are the same masks. With no active filter, or more than 255 cuts, this is :func:`postprocess_scores`.

    Parameters
    ----------
    scores : ndarray of shape (T, H, W), finite
    cuts : ndarray of shape (n,)
        Strictly increasing thresholds (float32), e.g. a :class:`bgsub.metrics.ThresholdSweep`'s.
    config : dict or None

    Returns
    -------
    ndarray of shape (T, H, W), float32

    Examples
    --------
    >>> s = np.zeros((1, 5, 5), np.float32); s[0, 1:4, 1:4] = 3.2
    >>> cut = postprocess_cut_scores(s, np.array([0, 1, 2, 3, 4], np.float32), {"median": 3})
    >>> sorted(set(cut.ravel().tolist()))
    [0.0, 4.0]
    """
    cuts = np.asarray(cuts, np.float32)
    scores = np.asarray(scores)
    if scores.ndim != 3:
        raise ValueError(f"scores must have shape (T, H, W), got {scores.shape}")
    if cuts.ndim != 1 or cuts.size == 0 or np.any(np.diff(cuts) <= 0):
        raise ValueError("cuts must be a strictly increasing, non-empty 1-D array")
    active = frame_filters(config, *scores.shape[1:])
    if not active or len(cuts) > 255:
        return postprocess_scores(scores, active)
    if resolve_backend() == "numba":
        levels = _apply_filters(score_levels(scores, cuts), active, median_levels, area_open_levels)
    else:
        levels = np.searchsorted(cuts, np.asarray(scores, np.float32), "left").astype(np.uint8)
        levels = _apply_filters(levels, active)
    values = np.append(cuts, np.nextafter(cuts[-1], np.float32(np.inf)))
    return values[levels]


def postprocess_masks(scores: NDArray, threshold: float, config: dict[str, Any] | None) -> NDArray[np.bool_]:
    """Masks ``postprocess_scores(scores, config) > threshold``, for a caller that needs no filtered scores.

    The filters commute with thresholding, so the compiled backend thresholds first and runs the binary
    median and area opening (:mod:`bgsub.kernels.binary`), which touch the foreground only; other
    filters, and the numpy backend, filter the scores.

    Parameters
    ----------
    scores : ndarray of shape (T, H, W)
    threshold : float
    config : dict or None

    Returns
    -------
    ndarray of shape (T, H, W), bool

    Examples
    --------
    >>> s = np.zeros((1, 5, 5), np.float32); s[0, 2, 2] = 10
    >>> bool(postprocess_masks(s, 5.0, {"median": 3}).any())
    False
    """
    scores = np.asarray(scores)
    if scores.ndim != 3:
        raise ValueError(f"scores must have shape (T, H, W), got {scores.shape}")
    active = frame_filters(config, *scores.shape[1:])
    if not active:
        return scores > threshold
    if resolve_backend() == "numba" and set(active) <= {"median", "min_area"}:
        return filtered_masks(scores, threshold, active.get("median", 0), active.get("min_area", 0))
    return postprocess_scores(scores, active) > threshold
