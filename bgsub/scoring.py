"""The one scoring loop: test frames in, filtered score maps and masks out, a block at a time.

Every consumer of a fitted method's scores goes through :func:`score_blocks`: the pipeline's score
step, a tile's band of rows, the ablation and the command line. What they do with the blocks
(write PNGs, pack strips, tally counts, encode a video) is theirs; how a block is scored is here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bgsub.base import BackgroundMethod
from bgsub.postprocess import postprocess_cut_scores, postprocess_masks, postprocess_scores

__all__ = ["score_blocks"]


def score_blocks(
    method: BackgroundMethod,
    blocks: Iterable[tuple[list[int], NDArray]],
    *,
    threshold: float,
    postprocess: dict[str, Any] | None = None,
    band: tuple[int, int] | None = None,
    need_scores: bool = True,
    cuts: NDArray | None = None,
) -> Iterator[tuple[list[int], NDArray[np.float32] | None, NDArray[np.bool_]]]:
    """Score blocks of test frames in order.

    Parameters
    ----------
    method : BackgroundMethod
        A fitted method (an adaptive one learns from the blocks, so give each frame once, in order).
    blocks : iterable of (list of int, ndarray of shape (T, H, W, C))
        Frame numbers and frames, e.g. ``Source.iter_blocks``.
    threshold : float
        Masks are ``scores > threshold``.
    postprocess : dict or None
        Score-map filters (:func:`bgsub.postprocess.postprocess_scores`); they commute with
        thresholding, so a sweep over the filtered scores stays exact.
    band : (int, int) or None
        Rows ``[r0, r1)`` to score (a tile); None = the whole frame.
    need_scores : bool
        False when only the masks are used (no ground truth, so no sweep): the filters then run on
        the thresholded masks (:func:`bgsub.postprocess.postprocess_masks`, the same masks, faster)
        and ``scores`` is None.
    cuts : ndarray of shape (n,) or None
        The only thresholds the filtered scores will be compared with (a threshold sweep's, ``threshold``
        among them): the filters then run on the scores' levels between them
        (:func:`bgsub.postprocess.postprocess_cut_scores`), and ``scores`` is exact at those thresholds only.
        None = the filtered scores themselves.

    Yields
    ------
    numbers : list of int
    scores : ndarray of shape (T, rows, W), float32, or None
    masks : ndarray of shape (T, rows, W), bool

    Raises
    ------
    RuntimeError
        When the method produces a non-finite score.
    """
    if cuts is not None and not np.any(np.asarray(cuts, np.float32) == np.float32(threshold)):
        raise ValueError(f"threshold {threshold} is not among the cuts")
    for numbers, frames in blocks:
        if band is not None:
            frames = np.ascontiguousarray(frames[:, band[0] : band[1]])
        scores = method.foreground_scores(frames)
        if not need_scores:
            _check_finite(method, scores, numbers, band)
            yield numbers, None, postprocess_masks(scores, threshold, postprocess)
            continue
        if postprocess and cuts is not None:
            _check_finite(method, scores, numbers, band)  # before the levels, which would hide a NaN
            scores = postprocess_cut_scores(scores, cuts, postprocess)
        else:
            if postprocess:
                scores = postprocess_scores(scores, postprocess)
            _check_finite(method, scores, numbers, band)
        yield numbers, scores, scores > threshold


def _check_finite(method: BackgroundMethod, scores: NDArray, numbers: list[int], band: tuple[int, int] | None) -> None:
    if not np.all(np.isfinite(scores)):
        where = "" if band is None else f" rows {band[0]}-{band[1]}"
        raise RuntimeError(f"{method.kind} produced non-finite scores on frames {numbers[0]}-{numbers[-1]}{where}")
