"""Compiled ghost test of :mod:`bgsub.persistence`: each stopped blob's boundary step, at its boundary only.

:func:`bgsub.persistence._ghost_blobs` (the reference) computes the colour step across the mask's
boundary with whole-image box filters (``uniform_filter`` of every channel times the mask and its
complement, for the frame and for the background image: 14 filters per frame) and then averages it
over each blob's boundary pixels. Only the boundary pixels of stopped blobs are read, so this
kernel visits those alone and sums their ``window`` x ``window`` squares directly (edges repeated,
as ``mode="nearest"``).

What may differ from the reference: a window mean here is a 25-term float64 sum divided by its
count, where ``uniform_filter`` runs a float64 running mean along each axis; the two differ in
the last bits (~1e-15 relative). The steps are rounded to float32 and summed per blob in raster
order in float64, as ``ndimage.sum`` does, so a blob's decision can differ only when its mean step
is that close to the bound (``tests/test_persistence.py`` holds the decisions equal).
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = ["ghost_blobs"]


@numba.njit(cache=True)
def _blob_steps(frame: NDArray[np.float64], background: NDArray[np.float64], mask: NDArray[np.bool_],
                labels: NDArray[np.int32], n_blobs: int, window: int,
                ) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    height, width, n_ch = frame.shape
    half = window // 2
    n_boundary = np.zeros(n_blobs + 1, np.int64)
    sum_frame = np.zeros(n_blobs + 1)
    sum_bg = np.zeros(n_blobs + 1)
    in_f = np.empty(n_ch)
    out_f = np.empty(n_ch)
    in_b = np.empty(n_ch)
    out_b = np.empty(n_ch)
    for y in range(height):
        for x in range(width):
            lab = labels[y, x]
            if lab == 0 or not mask[y, x]:
                continue
            # a boundary pixel has a background pixel among its 3 x 3 neighbours inside the image
            edge = False
            for yy in range(max(y - 1, 0), min(y + 2, height)):
                for xx in range(max(x - 1, 0), min(x + 2, width)):
                    if not mask[yy, xx]:
                        edge = True
            if not edge:
                continue
            n_in = 0
            n_out = 0
            for c in range(n_ch):
                in_f[c] = 0.0
                out_f[c] = 0.0
                in_b[c] = 0.0
                out_b[c] = 0.0
            for dy in range(-half, half + 1):
                yy = min(max(y + dy, 0), height - 1)
                for dx in range(-half, half + 1):
                    xx = min(max(x + dx, 0), width - 1)
                    if mask[yy, xx]:
                        n_in += 1
                        for c in range(n_ch):
                            in_f[c] += frame[yy, xx, c]
                            in_b[c] += background[yy, xx, c]
                    else:
                        n_out += 1
                        for c in range(n_ch):
                            out_f[c] += frame[yy, xx, c]
                            out_b[c] += background[yy, xx, c]
            sq_f = 0.0
            sq_b = 0.0
            for c in range(n_ch):
                d = in_f[c] / n_in - out_f[c] / n_out
                sq_f += d * d
                d = in_b[c] / n_in - out_b[c] / n_out
                sq_b += d * d
            n_boundary[lab] += 1
            sum_frame[lab] += np.float64(np.float32(np.sqrt(sq_f)))
            sum_bg[lab] += np.float64(np.float32(np.sqrt(sq_b)))
    return n_boundary, sum_frame, sum_bg


def ghost_blobs(frame: NDArray, background: NDArray, mask: NDArray[np.bool_], labels: NDArray[np.int32],
                n_blobs: int, *, window: int, edge_ratio: float, min_step: float) -> NDArray[np.bool_]:
    """Whether each blob of ``labels`` (1..``n_blobs``; 0 = none) is a ghost: ``(n_blobs + 1,)`` bool.

    ``frame`` and ``background`` ``(H, W, C)``, ``mask`` the foreground ``(H, W)``; the blobs are the
    8-connected components of the stopped pixels (a subset of ``mask``).
    """
    n_boundary, sum_frame, sum_bg = _blob_steps(
        np.ascontiguousarray(frame, np.float64), np.ascontiguousarray(background, np.float64),
        np.ascontiguousarray(mask, np.bool_), np.ascontiguousarray(labels, np.int32), int(n_blobs), int(window))
    mean_frame = sum_frame / np.maximum(n_boundary, 1)
    mean_bg = sum_bg / np.maximum(n_boundary, 1)
    is_ghost = (n_boundary > 0) & (mean_frame < np.maximum(edge_ratio * mean_bg, min_step))
    is_ghost[0] = False
    return is_ghost
