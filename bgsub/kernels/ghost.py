"""Compiled ghost test of :mod:`bgsub.persistence`: which pixels are stopped, which stopped blobs are ghosts.

:func:`count_stable` is the detector's per-frame stability test (the 3 x 3 mean of each pixel's
largest channel change since the previous frame, against a tolerance) and its counters in one pass
over the frame. It repeats ``scipy.ndimage.uniform_filter(change, 3, mode="nearest")`` operation
for operation (a running float64 sum along axis 0, then along axis 1, each divided by 3 on
output, edges repeated), so the stable pixels are the reference's exactly
(``tests/test_persistence.py`` holds the counts equal, and the mean equal to the last bit).

:func:`ghost_pixels` is the boundary test of the stopped blobs (``_ghost_pixels``, which also keeps the
ghost counters and the whole-blob absorption). :func:`detector_step` is one frame of the detector (both
tests and the counters, in ``_detector_step``, which the scoring kernel's :func:`absorb_frame` calls too). The
reference (:func:`bgsub.persistence._ghost_blobs`) labels the stopped pixels over their bounding
box (``ndimage.label``), computes the colour step across the mask's boundary with whole-image box
filters (``uniform_filter`` of every channel times the mask and its complement, for the frame and
for the background image: 14 filters per frame), and averages it over each blob's boundary pixels.
On a road the stopped pixels are a few hundred scattered specks whose bounding box is most of the
frame, so this kernel visits the stopped pixels alone: it labels them by union-find (8-connected,
as ``ndimage.label`` with a 3 x 3 structure) and sums the ``window`` x ``window`` squares of their
boundary pixels directly (edges repeated, as ``mode="nearest"``).

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

from bgsub.kernels.area_opening import _find
from bgsub.kernels.binary import _median_mask

__all__ = ["absorb_frame", "count_stable", "detector_step", "ghost_pixels"]


@numba.njit(cache=True)
def _change_row(frame: NDArray, last: NDArray, y: int, out: NDArray[np.float64]) -> None:
    """Row ``y`` of the largest channel change since the previous frame, in float64."""
    width, n_ch = frame.shape[1], frame.shape[2]
    for x in range(width):
        largest = abs(np.float64(frame[y, x, 0]) - np.float64(last[y, x, 0]))
        for c in range(1, n_ch):
            largest = max(largest, abs(np.float64(frame[y, x, c]) - np.float64(last[y, x, c])))
        out[x] = largest


@numba.njit(cache=True)
def _count_stable(frame: NDArray, last: NDArray, stable_count: NDArray[np.int32], mask: NDArray[np.bool_],
                  tolerance: float, stable_frames: int, stopped: NDArray[np.bool_], pixels: NDArray[np.int64]) -> int:
    height, width = frame.shape[:2]
    # rows y - 2 .. y + 1 of the change, in turn
    change = np.empty((4, width))
    _change_row(frame, last, 0, change[0])
    if height > 1:
        _change_row(frame, last, 1, change[1])
    # uniform_filter1d's order: the running sum starts as (edge + first) + second, then adds the entering
    # value minus the leaving one; each output is the sum divided by 3
    column = np.empty(width)
    row = np.empty(width + 2)
    surely_below = 3.0 * tolerance * (1.0 - 1e-9)  # total / 3 rounds to at most ``tolerance`` below this ...
    surely_above = 3.0 * tolerance * (1.0 + 1e-9)  # ... and above ``tolerance`` above this
    n_stopped = 0
    for y in range(height):
        if y == 0:
            second = change[min(1, height - 1) % 4]
            for x in range(width):
                column[x] = (change[0, x] + change[0, x]) + second[x]
        else:
            if y + 1 < height:
                _change_row(frame, last, y + 1, change[(y + 1) % 4])
            entering = change[min(y + 1, height - 1) % 4]
            leaving = change[max(y - 2, 0) % 4]
            for x in range(width):
                column[x] += entering[x] - leaving[x]
        for x in range(width):
            row[x + 1] = column[x] / 3.0
        row[0] = row[1]
        row[width + 1] = row[width]
        total = (row[0] + row[1]) + row[2]
        for x in range(width):
            if x > 0:
                total += row[x + 2] - row[x - 1]
            # total / 3 <= tolerance, the division (the loop's slowest step) only where the sum is that close
            if total < surely_below or (total <= surely_above and total / 3.0 <= tolerance):
                stable_count[y, x] += 1
            else:
                stable_count[y, x] = 0
            is_stopped = mask[y, x] and stable_count[y, x] >= stable_frames
            stopped[y, x] = is_stopped
            if is_stopped:
                pixels[n_stopped] = y * width + x
                n_stopped += 1
    return n_stopped


def count_stable(frame: NDArray, last: NDArray, stable_count: NDArray[np.int32], mask: NDArray[np.bool_], *,
                 tolerance: float, stable_frames: int) -> tuple[NDArray[np.bool_], NDArray[np.int64]]:
    """One frame of the stability counters; the stopped pixels, as a mask and as flat indices.

    ``frame`` and ``last`` (the previous frame) ``(H, W, C)`` of any real dtype; ``stable_count``
    ``(H, W)`` int32, updated in place (+1 where the 3 x 3 mean of the largest channel change is at
    most ``tolerance``, 0 elsewhere); ``mask`` the foreground. Returns the foreground pixels stable
    for at least ``stable_frames`` frames, and their flat indices in raster order.
    """
    stopped = np.empty(mask.shape, np.bool_)
    pixels = np.empty(mask.size, np.int64)
    n_stopped = _count_stable(np.ascontiguousarray(frame), np.ascontiguousarray(last), stable_count,
                              np.ascontiguousarray(mask, np.bool_), float(tolerance), int(stable_frames), stopped,
                              pixels)
    return stopped, pixels[:n_stopped]


@numba.njit(cache=True)
def _ghost_pixels(frame: NDArray, means: NDArray, first: NDArray, mask: NDArray[np.bool_], stopped: NDArray[np.bool_],
                  pixels: NDArray[np.int64], window: int, edge_ratio: float, min_step: float,
                  count: bool, ghost_count: NDArray[np.int32], ghost_frames: int,
                  ghost: NDArray[np.bool_], absorb: NDArray[np.bool_], parent: NDArray[np.int64],
                  blob: NDArray[np.int64]) -> None:
    """The ghost test; the background image is ``means[y, x, first[y, x]]`` (an image is ``(H, W, 1, C)`` means
    with ``first`` 0). ``parent`` and ``blob`` (``H * W`` int64) are work arrays, read only at the stopped pixels:
    a caller that tests frame after frame allocates them once (a fresh 0.6 MB array a frame, its pages faulted in
    where stopped pixels fall, cost more than the test itself at 240x320)."""
    height, width, n_ch = frame.shape
    half = window // 2
    # 1. the stopped pixels' 8-connected blobs; a root is linked under the smaller one, so each blob's
    # root is its first pixel in raster order
    n_stopped = len(pixels)
    for p in pixels:
        y, x = p // width, p % width
        parent[p] = p
        for dy, dx in ((-1, -1), (-1, 0), (-1, 1), (0, -1)):  # the neighbours already visited
            yy, xx = y + dy, x + dx
            if yy < 0 or xx < 0 or xx >= width or not stopped[yy, xx]:
                continue
            a, b = _find(parent, p), _find(parent, yy * width + xx)
            if a != b:
                parent[max(a, b)] = min(a, b)
    # 2. blob numbers in raster order of their first pixels, and each blob's boundary steps, summed in raster
    # order (the order of ndimage.sum)
    n_boundary = np.zeros(n_stopped, np.int64)
    sum_frame = np.zeros(n_stopped)
    sum_bg = np.zeros(n_stopped)
    in_f = np.empty(n_ch)
    out_f = np.empty(n_ch)
    in_b = np.empty(n_ch)
    out_b = np.empty(n_ch)
    n_blobs = 0
    for p in pixels:
        y, x = p // width, p % width
        r = _find(parent, p)
        if r == p:
            blob[p] = n_blobs
            n_blobs += 1
        else:
            blob[p] = blob[r]
        if not mask[y, x]:
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
                k = first[yy, xx]
                if mask[yy, xx]:
                    n_in += 1
                    for c in range(n_ch):
                        in_f[c] += np.float64(frame[yy, xx, c])
                        in_b[c] += np.float64(means[yy, xx, k, c])
                else:
                    n_out += 1
                    for c in range(n_ch):
                        out_f[c] += np.float64(frame[yy, xx, c])
                        out_b[c] += np.float64(means[yy, xx, k, c])
        sq_f = 0.0
        sq_b = 0.0
        for c in range(n_ch):
            d = in_f[c] / n_in - out_f[c] / n_out
            sq_f += d * d
            d = in_b[c] / n_in - out_b[c] / n_out
            sq_b += d * d
        b = blob[p]
        n_boundary[b] += 1
        sum_frame[b] += np.float64(np.float32(np.sqrt(sq_f)))
        sum_bg[b] += np.float64(np.float32(np.sqrt(sq_b)))
    # 3. the decision per blob; a blob with no boundary pixel cannot be judged: not a ghost
    is_ghost = np.zeros(n_blobs, np.bool_)
    for b in range(n_blobs):
        divisor = max(n_boundary[b], 1)
        bound = max(edge_ratio * (sum_bg[b] / divisor), min_step)
        is_ghost[b] = n_boundary[b] > 0 and sum_frame[b] / divisor < bound
    for p in pixels:
        ghost[p // width, p % width] = is_ghost[blob[p]]
    if not count:
        return
    # 4. the consecutive-frame counters; a blob goes whole once one of its pixels is ripe (the 8-connected
    # blobs of the ghost pixels are the ghost blobs: two stopped blobs are never 8-adjacent)
    ripe = np.zeros(n_blobs, np.bool_)
    any_ripe = False
    for y in range(height):
        for x in range(width):
            if ghost[y, x]:
                ghost_count[y, x] += 1
                if ghost_count[y, x] >= ghost_frames:
                    ripe[blob[y * width + x]] = True
                    any_ripe = True
            else:
                ghost_count[y, x] = 0
    if any_ripe:
        for p in pixels:
            absorb[p // width, p % width] = ripe[blob[p]]


def _image_as_means(background: NDArray, height: int, width: int) -> tuple[NDArray, NDArray[np.int64]]:
    """A background image as ``(H, W, 1, C)`` means, and every pixel's first component 0 (a zero-strided view: no
    0.6 MB array whose pages fault in a frame)."""
    return (np.ascontiguousarray(background).reshape(height, width, 1, -1),
            np.broadcast_to(np.int64(0), (height, width)))


def ghost_pixels(frame: NDArray, background: NDArray, mask: NDArray[np.bool_], stopped: NDArray[np.bool_], *,
                 window: int, edge_ratio: float, min_step: float) -> NDArray[np.bool_]:
    """The pixels of the stopped blobs that look like ghosts in this frame.

    ``frame`` and ``background`` ``(H, W, C)`` of any real dtype, ``mask`` the foreground ``(H, W)``,
    ``stopped`` its pixels stable long enough.
    """
    height, width = mask.shape
    ghost = np.zeros((height, width), np.bool_)
    stopped = np.ascontiguousarray(stopped, np.bool_)
    _ghost_pixels(np.ascontiguousarray(frame), *_image_as_means(background, height, width),
                  np.ascontiguousarray(mask, np.bool_), stopped, np.flatnonzero(stopped), int(window),
                  float(edge_ratio), float(min_step), False, np.zeros((1, 1), np.int32), 1, ghost,
                  np.zeros((1, 1), np.bool_), np.empty(height * width, np.int64), np.empty(height * width, np.int64))
    return ghost


@numba.njit(cache=True)
def _detector_step(frame: NDArray, previous: NDArray, has_previous: bool, means: NDArray, first: NDArray,
                   mask: NDArray[np.bool_], stable_count: NDArray[np.int32], ghost_count: NDArray[np.int32],
                   tolerance: float, stable_frames: int, window: int, edge_ratio: float, min_step: float,
                   ghost_frames: int, stopped: NDArray[np.bool_], pixels: NDArray[np.int64], ghost: NDArray[np.bool_],
                   absorb: NDArray[np.bool_], parent: NDArray[np.int64], blob: NDArray[np.int64]) -> NDArray[np.int64]:
    """One frame of the detector, its one compiled home: the stability counters (every one restarts when there is
    no ``previous`` frame), then the ghost test and counters of the stopped blobs (:func:`_ghost_pixels`, background
    image ``means[y, x, first[y, x]]``). ``ghost`` and ``absorb`` must be all False on entry; ``stopped``,
    ``pixels``, ``parent``, ``blob`` are work arrays. Returns the stopped pixels' flat indices, the only places
    where ``ghost`` and ``absorb`` can be True."""
    if has_previous:
        n_stopped = _count_stable(frame, previous, stable_count, mask, tolerance, stable_frames, stopped, pixels)
    else:
        stable_count[:] = 0
        n_stopped = 0
    stopped_pixels = pixels[:n_stopped]
    _ghost_pixels(frame, means, first, mask, stopped, stopped_pixels, window, edge_ratio, min_step, True, ghost_count,
                  ghost_frames, ghost, absorb, parent, blob)
    return stopped_pixels


def detector_step(frame: NDArray, previous: NDArray | None, background: NDArray, mask: NDArray[np.bool_],
                  stable_count: NDArray[np.int32], ghost_count: NDArray[np.int32], *, tolerance: float,
                  stable_frames: int, window: int, edge_ratio: float, min_step: float,
                  ghost_frames: int) -> NDArray[np.bool_]:
    """One frame of :meth:`bgsub.persistence.GhostDetector.update`; the pixels to absorb now.

    ``frame``, ``previous`` (the frame before it, or None for the first) and ``background`` ``(H, W, C)`` of any
    real dtype; ``mask`` the foreground ``(H, W)``; ``stable_count`` and ``ghost_count`` ``(H, W)`` int32, updated
    in place.
    """
    height, width = mask.shape
    frame = np.ascontiguousarray(frame)
    has_previous = previous is not None
    absorb = np.zeros((height, width), np.bool_)
    _detector_step(frame, np.ascontiguousarray(previous) if has_previous else frame, has_previous,
                   *_image_as_means(background, height, width), np.ascontiguousarray(mask, np.bool_), stable_count,
                   ghost_count, float(tolerance), int(stable_frames), int(window), float(edge_ratio), float(min_step),
                   int(ghost_frames), np.empty((height, width), np.bool_), np.empty(height * width, np.int64),
                   np.zeros((height, width), np.bool_), absorb, np.empty(height * width, np.int64),
                   np.empty(height * width, np.int64))
    return absorb


@numba.njit(cache=True)
def absorb_frame(frame: NDArray[np.float32], previous: NDArray[np.float32], has_previous: bool,
                 means: NDArray[np.float32], first: NDArray, scores: NDArray[np.float32], threshold: np.float32,
                 stable_count: NDArray[np.int32], ghost_count: NDArray[np.int32], tolerance: float, stable_frames: int,
                 window: int, edge_ratio: float, min_step: float, ghost_frames: int, above: NDArray[np.uint8],
                 decision: NDArray[np.uint8], stopped: NDArray[np.bool_], pixels: NDArray[np.int64],
                 ghost: NDArray[np.bool_], absorb: NDArray[np.bool_], parent: NDArray[np.int64],
                 blob: NDArray[np.int64]) -> NDArray[np.int64]:
    """One frame of :meth:`bgsub.persistence.GhostDetector.update` inside the compiled scoring loop.

    ``frame`` is the frame as scored, ``previous`` the one before it (none when not ``has_previous``: every
    stability counter restarts), the background image the model's first-ranked means before this frame's
    update. The decision it watches is the reference's (``bgsub.spatial._decision``): ``scores > threshold``
    (``threshold`` float32, as numpy compares a float32 map), then the 3 x 3 binary median; then
    :func:`_detector_step`. ``above``, ``decision`` (uint8), ``stopped``, ``pixels``, ``parent``, ``blob`` are work
    arrays; ``ghost`` and ``absorb`` must be all False on entry. Returns the stopped pixels' flat indices: ``absorb``
    is True at those to absorb now; the caller writes the frame into the model there, then clears ``ghost`` and
    ``absorb`` at them.
    """
    height, width = scores.shape
    for y in range(height):
        for x in range(width):
            above[y, x] = 1 if scores[y, x] > threshold else 0
    _median_mask(above, 3, decision)
    return _detector_step(frame, previous, has_previous, means, first, decision.view(np.bool_), stable_count,
                          ghost_count, tolerance, stable_frames, window, edge_ratio, min_step, ghost_frames, stopped,
                          pixels, ghost, absorb, parent, blob)
