"""Compiled scoring path of the default method: gain, distances, spatial context, shadow and texture tests, update.

:func:`score_frames` computes what :func:`bgsub.spatial.score_frames` computes (the numpy/scipy
reference) in one compiled call per block of frames. Per frame, rows in parallel (``numba.prange``):

1. the compensated sample ``x = frame / gain`` (float32, as the reference divides), its squared
   Mahalanobis distance to each background component of its own pixel (the row's pixels as vector
   lanes, component by component, reading the whitening matrices laid out along the row: see
   :func:`row_layout` and :func:`_own_distances`) and, where the spatial gate is on, of its
   neighbours' (float32 products summed in float64, in the reference's order, so the distances are
   the reference's bits); MOG2's shadow test (:mod:`bgsub.kernels.shadow`); for a shadow candidate scoring above
   ``shadow_min_score``, the texture test over its ``shadow_window`` square, computed from the
   window's 9 pixels directly instead of three whole-frame ``uniform_filter`` passes (with
   ``shadow_texture_masked`` the candidates are only marked here, and a pass of their own tests them,
   since the masked window reads its neighbours' candidacy; its sums are the reference's, in its
   order, so its decisions are the reference's; with ``shadow_texture_mixture`` the window is
   explained by any of its pixels' background components);
2. with a ghost detector, one serial step (:func:`_absorb_ghosts`, :func:`bgsub.kernels.ghost.absorb_frame`):
   the decision the detector watches, its counters, the ghost test, and the frame written into the
   model where a ghost is ripe, before the update, as the reference absorbs;
3. the selective update of each pixel's matched background mean (float64 arithmetic rounded to
   float32, as the reference), and, once a row is updated, its pixels' ``luma(frame) / luma(background)``
   ratios of the *next* frame's gain (the background image being the first-ranked means after this
   frame's update, as the reference recomputes it), as plain loops over the row's gathered channels,
   which the compiler vectorises.

A uint8 frame has 256 values, so its quotients by the frame's gain (``x = frame / gain``) are a
table of the same float32 divisions, made once per frame, and its luma three table reads (the
products the luma rounds, precomputed exactly); scores and means are those of the same frame in
float32, bit for bit (``tests/test_default_kernels.py``).

The gain is the median of those ratios, selected exactly by two histograms of their float32 bits (the top 16
bits, then the low 16 of the bucket holding the middle ranks, each cleared over the range the values reach;
0.14 ms a frame with the copy of the ratios, where ``np.partition`` took ~0.9 ms at 240x320, and histograms
cleared whole, one pair per middle rank, 0.23 ms), the mean of the two middle values in float32 when their
count is even, as ``np.median``. The luma is the reference's elementwise chain (``bgsub.spatial._luma``):
``r w0`` rounded to float32, then ``+ g w1``, then ``+ b w2``, each product exact in float64 and each sum rounded
to float32. (It first emulated the BLAS ``(N, 3) @ (3,)`` product the reference used, an FMA chain on the CPU
it was written on; OpenBLAS's Haswell kernel on another CPU summed otherwise, a gain moved by an ulp and
scores by up to 2e-5 relative, so the reference now spells its arithmetic out.)

What may differ from the reference, and how much (``tests/test_default_kernels.py``): the texture
test's window sums are 9-term float64 sums, where SciPy's ``uniform_filter`` runs a float64 running
mean along each axis, so its residual differs in the last bits (~1e-12 relative); its decision
(``residual <= bound``) can differ only for a residual that close to the bound. Everything else
is the reference's arithmetic in the same order (no fast-math), so the scores are equal bit for
bit in the tests.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import prange
from numpy.typing import NDArray

from bgsub.kernels import ghost as ghost_kernels
from bgsub.kernels.shadow import is_shadow

__all__ = ["background_image", "row_layout", "score_frames", "supported", "training_dynamics"]

#: Backgrounds darker than this luma are left out of the gain estimate (``bgsub.spatial._GAIN_MIN_LUMA``).
GAIN_MIN_LUMA = 16.0
#: The sensor's ceiling: an 8-bit frame, and so every model fitted on such frames, reads at most 255.
SATURATION = np.float32(255.0)
_W0, _W1, _W2 = (float(np.float32(w)) for w in (0.299, 0.587, 0.114))


def supported(n_channels: int, shadow_window: int) -> bool:
    """Whether :func:`score_frames` handles this case (else the caller uses the reference)."""
    return n_channels >= 1 and shadow_window >= 1 and shadow_window % 2 == 1


@numba.njit(cache=True, inline="always")
def _luma3(p0: float, p1: float, p2: float) -> np.float32:
    """Luma of one RGB float32 sample as the reference computes it (see the module docstring)."""
    t = np.float32(np.float64(p0) * _W0)
    t = np.float32(np.float64(p1) * _W1 + np.float64(t))
    return np.float32(np.float64(p2) * _W2 + np.float64(t))


@numba.njit(cache=True)
def _luma_mean(means: NDArray[np.float32], y: int, x: int, k: int) -> np.float32:
    """Luma of the mean ``means[y, x, k]`` (the plain channel mean unless C = 3, as the reference)."""
    n_ch = means.shape[-1]
    if n_ch == 3:
        return _luma3(means[y, x, k, 0], means[y, x, k, 1], means[y, x, k, 2])
    s = np.float32(0.0)
    for c in range(n_ch):
        s += means[y, x, k, c]
    return np.float32(s / np.float32(n_ch))


@numba.njit(cache=True)
def _luma_frame(frame: NDArray, y: int, x: int) -> np.float32:
    """Luma of the raw frame sample ``frame[y, x]`` as float32."""
    n_ch = frame.shape[-1]
    if n_ch == 3:
        return _luma3(np.float32(frame[y, x, 0]), np.float32(frame[y, x, 1]), np.float32(frame[y, x, 2]))
    s = np.float32(0.0)
    for c in range(n_ch):
        s += np.float32(frame[y, x, c])
    return np.float32(s / np.float32(n_ch))


@numba.njit(cache=True)
def _as_float32(bits: np.uint32) -> np.float32:
    return np.array([bits], np.uint32).view(np.float32)[0]


@numba.njit(cache=True)
def _median32(values: NDArray[np.float32], n: int, count: NDArray[np.int64]) -> np.float32:
    """``np.median(values[:n])`` for non-negative finite float32 (n > 0): the middle value, or the float32 mean
    of the two middle values.

    Such floats sort as their bits do, as unsigned integers: a histogram of the top 16 bits finds the bucket of
    each middle rank, and a histogram of the low 16 bits of that bucket's values the value. ``count`` (``2 ** 16``
    int64) must be all zero on entry, and is left so: only the range of buckets the values reach is cleared
    (ratios near 1 reach a few hundred of the 65536).
    """
    bits = values[:n].view(np.uint32)
    first_top = np.int64(0xFFFF)
    last_top = np.int64(0)
    for i in range(n):
        top = np.int64(bits[i] >> np.uint32(16))
        count[top] += 1
        first_top = min(first_top, top)
        last_top = max(last_top, top)
    upper_rank = n // 2
    lower_rank = upper_rank if n % 2 else upper_rank - 1
    below = 0
    top = first_top
    while below + count[top] <= lower_rank:
        below += count[top]
        top += 1
    # the upper middle value is in the same bucket, or it is the smallest value of the next non-empty one
    same_bucket = below + count[top] > upper_rank
    next_top = top + 1
    while not same_bucket and count[next_top] == 0:
        next_top += 1
    count[first_top: last_top + 1] = 0
    lower, upper = _select_in_bucket(bits, top, lower_rank - below, upper_rank - below if same_bucket else -1, count)
    if not same_bucket:
        upper, _ = _select_in_bucket(bits, next_top, 0, -1, count)
    if n % 2:
        return lower
    return np.float32(np.float32(lower + upper) / np.float32(2.0))


@numba.njit(cache=True)
def _select_in_bucket(bits: NDArray[np.uint32], top: int, rank: int, second_rank: int,
                      count: NDArray[np.int64]) -> tuple[np.float32, np.float32]:
    """The ``rank``-th (and, if >= 0, the ``second_rank``-th) smallest of the values whose top 16 bits are
    ``top``, by a histogram of their low 16 bits (``count`` all zero on entry and on return)."""
    first_low = np.int64(0xFFFF)
    last_low = np.int64(0)
    top32 = np.uint32(top)
    for i in range(bits.shape[0]):
        if bits[i] >> np.uint32(16) == top32:
            low = np.int64(bits[i] & np.uint32(0xFFFF))
            count[low] += 1
            first_low = min(first_low, low)
            last_low = max(last_low, low)
    below = 0
    low = first_low
    while below + count[low] <= rank:
        below += count[low]
        low += 1
    value = _as_float32((top32 << np.uint32(16)) | np.uint32(low))
    second = value
    if second_rank >= 0:
        while below + count[low] <= second_rank:
            below += count[low]
            low += 1
        second = _as_float32((top32 << np.uint32(16)) | np.uint32(low))
    count[first_low: last_low + 1] = 0
    return value, second


# the luma of a uint8 RGB sample in three table reads: the first product rounded to float32, and the other
# two products in float64, where they are exact (8-bit by 24-bit mantissas), so _luma3's arithmetic is unchanged
_LUMA_R = np.array([np.float32(np.float64(np.float32(v)) * _W0) for v in range(256)], np.float32)
_LUMA_G = np.array([np.float64(np.float32(v)) * _W1 for v in range(256)])
_LUMA_B = np.array([np.float64(np.float32(v)) * _W2 for v in range(256)])


@numba.njit(cache=True)
def _row_ratios(frame: NDArray, means: NDArray, first: NDArray, y: int, lookup: bool,
                row_ratio: NDArray[np.float32], row_count: NDArray[np.int64]) -> None:
    """Row ``y``'s usable pixels' ``luma(frame) / luma(background)`` into ``row_ratio[y, :row_count[y]]``.

    The background's first-ranked means are gathered into channel rows first, so that the lumas and the
    quotients run as plain loops over contiguous rows (which the compiler vectorises).
    """
    width = first.shape[1]
    n_ch = means.shape[-1]
    lb = np.empty(width, np.float32)
    lf = np.empty(width, np.float32)
    if n_ch == 3:
        b0 = np.empty(width, np.float32)
        b1 = np.empty(width, np.float32)
        b2 = np.empty(width, np.float32)
        for x in range(width):
            k = first[y, x]
            b0[x] = means[y, x, k, 0]
            b1[x] = means[y, x, k, 1]
            b2[x] = means[y, x, k, 2]
        for x in range(width):
            lb[x] = _luma3(b0[x], b1[x], b2[x])
        if lookup:  # uint8
            for x in range(width):
                t = _LUMA_R[np.intp(frame[y, x, 0])]
                t = np.float32(_LUMA_G[np.intp(frame[y, x, 1])] + np.float64(t))
                lf[x] = np.float32(_LUMA_B[np.intp(frame[y, x, 2])] + np.float64(t))
        else:
            for x in range(width):
                lf[x] = _luma_frame(frame, y, x)
    else:
        for x in range(width):
            lb[x] = _luma_mean(means, y, x, first[y, x])
            lf[x] = _luma_frame(frame, y, x)
    n = 0
    for x in range(width):
        if lb[x] > GAIN_MIN_LUMA:
            row_ratio[y, n] = np.float32(lf[x] / lb[x])
            n += 1
    row_count[y] = n


@numba.njit(cache=True, parallel=True)
def _ratios(frame: NDArray, means: NDArray, first: NDArray, lookup: bool, row_ratio: NDArray[np.float32],
            row_count: NDArray[np.int64]) -> None:
    """Per row, the usable pixels' ``luma(frame) / luma(background)`` into ``row_ratio[y, :row_count[y]]``."""
    for y in prange(first.shape[0]):
        _row_ratios(frame, means, first, y, lookup, row_ratio, row_count)


@numba.njit(cache=True)
def _gain(row_ratio: NDArray[np.float32], row_count: NDArray[np.int64], work: NDArray[np.float32],
          count: NDArray[np.int64]) -> np.float32:
    """The frame's gain: the median of the rows' ratios (``count``: see :func:`_median32`)."""
    n = 0
    usual = True  # all non-negative and finite
    for y in range(row_ratio.shape[0]):
        for i in range(row_count[y]):
            r = row_ratio[y, i]
            work[n] = r
            usual &= r >= 0 and r < np.inf
            n += 1
    if n == 0:
        return np.float32(1.0)
    if not usual:  # the general way
        part = np.sort(work[:n])
        if n % 2:
            return part[n // 2]
        return np.float32(np.float32(part[n // 2 - 1] + part[n // 2]) / np.float32(2.0))
    return _median32(work, n, count)


@numba.njit(cache=True, inline="always")
def _sample(frame: NDArray, y: int, x: int, c: int, g: np.float32, divide: bool,
            lut: NDArray[np.float32]) -> np.float32:
    if divide:
        if lut.shape[0] == 256:  # uint8 frames: the quotients of this frame's gain, computed once
            return lut[np.intp(frame[y, x, c])]
        return np.float32(np.float32(frame[y, x, c]) / g)
    return np.float32(frame[y, x, c])


@numba.njit(cache=True, inline="always")
def _dot_with_mean(frame: NDArray, g: np.float32, divide: bool, lut: NDArray[np.float32], means: NDArray,
                   y: int, x: int, k: int) -> tuple[float, float]:
    """``(f . m, m . m)`` in float64 for pixel ``(y, x)`` and its component ``k``: the gain is their ratio."""
    fm = 0.0
    mm = 0.0
    for c in range(means.shape[3]):
        f = np.float64(_sample(frame, y, x, c, g, divide, lut))
        m = np.float64(means[y, x, k, c])
        fm += f * m
        mm += m * m
    return fm, mm


@numba.njit(cache=True, inline="always")
def _window_pixel(qy: int, qx: int, height: int, width: int, candidate: NDArray[np.bool_],
                  masked: bool) -> tuple[bool, int, int]:
    """Whether a texture window's pixel ``(qy, qx)`` counts, and where it reads: ``masked``, only in-frame
    candidates count; otherwise every one does, read at the nearest edge pixel when outside the frame."""
    if masked and (qy < 0 or qy >= height or qx < 0 or qx >= width or not candidate[qy, qx]):
        return False, 0, 0
    return True, min(max(qy, 0), height - 1), min(max(qx, 0), width - 1)


@numba.njit(cache=True)
def _texture_ok(frame: NDArray, g: np.float32, divide: bool, lut: NDArray[np.float32], means: NDArray, first: NDArray,
                y: int, x: int, half: int, bound: float, candidate: NDArray[np.bool_], masked: bool) -> bool:
    """The texture test of ``bgsub.spatial._texture_preserved`` at one pixel (window ``2 half + 1``): over the whole
    window with nearest edges, or, ``masked``, over the window's in-frame ``candidate`` pixels, most of the window."""
    height, width, _, n_ch = means.shape
    fm, mm = _dot_with_mean(frame, g, divide, lut, means, y, x, first[y, x])
    gain = fm / max(mm, 1e-9)
    s_ff = 0.0
    s_fm = 0.0
    s_mm = 0.0
    n = 0
    for dy in range(-half, half + 1):
        for dx in range(-half, half + 1):
            use, qy, qx = _window_pixel(y + dy, x + dx, height, width, candidate, masked)
            if not use:
                continue
            k = first[qy, qx]
            ff = 0.0
            fm = 0.0
            mm = 0.0
            for c in range(n_ch):
                f = np.float64(_sample(frame, qy, qx, c, g, divide, lut))
                m = np.float64(means[qy, qx, k, c])
                ff += f * f
                fm += f * m
                mm += m * m
            s_ff += ff
            s_fm += fm
            s_mm += mm
            n += 1
    if masked and n < ((2 * half + 1) * (2 * half + 1) + 1) // 2:
        return False
    residual = s_ff / n - 2 * gain * (s_fm / n) + gain * gain * (s_mm / n)
    return residual <= bound


@numba.njit(cache=True)
def _texture_ok_mixture(frame: NDArray, g: np.float32, divide: bool, lut: NDArray[np.float32], means: NDArray,
                        is_bg: NDArray[np.bool_], y: int, x: int, half: int, bound: float,
                        candidate: NDArray[np.bool_], masked: bool) -> bool:
    """The texture test of ``bgsub.spatial._texture_preserved_mixture`` at one pixel: the gain against each of its
    background components in turn, each window pixel explained by the nearest darker copy of any of its own."""
    height, width, n_comp, n_ch = means.shape
    side = 2 * half + 1
    # the test is whether any component's mean residual is within the bound: the first that is decides, and a
    # component whose partial sum already exceeds the bound times the window's size cannot be (the sum only grows,
    # and at most side**2 pixels divide it; the margin covers the division's rounding)
    hopeless = side * side * bound * (1.0 + 1e-9)
    for k in range(n_comp):
        if not is_bg[y, x, k]:
            continue
        fm, mm = _dot_with_mean(frame, g, divide, lut, means, y, x, k)
        if mm <= 0.0:
            continue
        gain = fm / max(mm, 1e-9)
        total = 0.0
        n = 0
        for dy in range(-half, half + 1):
            for dx in range(-half, half + 1):
                use, qy, qx = _window_pixel(y + dy, x + dx, height, width, candidate, masked)
                if not use:
                    continue
                nearest = np.inf
                for j in range(n_comp):
                    if not is_bg[qy, qx, j]:
                        continue
                    residual = 0.0
                    for c in range(n_ch):
                        e = np.float64(_sample(frame, qy, qx, c, g, divide, lut)) - gain * np.float64(
                            means[qy, qx, j, c])
                        residual += e * e
                    nearest = min(nearest, residual)
                total += nearest
                n += 1
                if total > hopeless:
                    break
            if total > hopeless:
                break
        if total > hopeless or (masked and n < (side * side + 1) // 2):
            continue
        if total / max(n, 1) <= bound:
            return True
    return False


@numba.njit(cache=True, parallel=True)
def _masked_texture_rows(frame: NDArray, g: np.float32, divide: bool, lut: NDArray[np.float32], means: NDArray,
                         first: NDArray, is_bg: NDArray[np.bool_], mixture: bool, mean_var: NDArray[np.float32],
                         candidate: NDArray[np.bool_], half: int, texture_c: np.float32,
                         out: NDArray[np.float32]) -> None:
    """The masked texture test on every candidate, a pass of its own since it reads the neighbours' candidacy: a
    candidate passing it is a shadow and scores 0."""
    height, width = candidate.shape
    for y in prange(height):
        for x in range(width):
            if not candidate[y, x]:
                continue
            bound = np.float32(texture_c * mean_var[y, x, first[y, x]])
            if mixture:
                ok = _texture_ok_mixture(frame, g, divide, lut, means, is_bg, y, x, half, bound, candidate, True)
            else:
                ok = _texture_ok(frame, g, divide, lut, means, first, y, x, half, bound, candidate, True)
            if ok:
                out[y, x] = np.float32(0.0)


@numba.njit(cache=True, inline="always")
def _d2(xs: NDArray[np.float32], means: NDArray[np.float32], whiten: NDArray[np.float32], y: int, x: int,
        k: int) -> float:
    """Squared Mahalanobis distance of the sample ``xs`` to component ``k`` of pixel ``(y, x)``, in the
    reference's arithmetic: float32 differences and products, float64 sums in the same order. Three
    channels are unrolled (a runtime channel count leaves the loops in)."""
    n_ch = means.shape[-1]
    if n_ch == 3:
        d0 = xs[0] - means[y, x, k, 0]
        d1 = xs[1] - means[y, x, k, 1]
        d2 = xs[2] - means[y, x, k, 2]
        z0 = np.float64(whiten[y, x, k, 0, 0] * d0) + np.float64(whiten[y, x, k, 0, 1] * d1)
        z0 = z0 + np.float64(whiten[y, x, k, 0, 2] * d2)
        z1 = np.float64(whiten[y, x, k, 1, 0] * d0) + np.float64(whiten[y, x, k, 1, 1] * d1)
        z1 = z1 + np.float64(whiten[y, x, k, 1, 2] * d2)
        z2 = np.float64(whiten[y, x, k, 2, 0] * d0) + np.float64(whiten[y, x, k, 2, 1] * d1)
        z2 = z2 + np.float64(whiten[y, x, k, 2, 2] * d2)
        return (z0 * z0 + z1 * z1) + z2 * z2
    total = 0.0
    for i in range(n_ch):
        z = 0.0
        for c in range(n_ch):
            z += whiten[y, x, k, i, c] * np.float32(xs[c] - means[y, x, k, c])
        total += z * z
    return total


@numba.njit(cache=True)
def _own_distances(frame: NDArray, g: np.float32, divide: bool, lut: NDArray[np.float32], means: NDArray[np.float32],
                   whiten: NDArray[np.float32], whiten_rows: NDArray[np.float32], is_bg: NDArray[np.bool_],
                   background_rows: NDArray[np.bool_], y: int, n_comp: int, samples: NDArray[np.float32],
                   distances: NDArray[np.float64], best: NDArray[np.float64], own_k: NDArray[np.int64]) -> None:
    """Row ``y``'s squared distances to the nearest of each pixel's own background components (``best``) and that
    component (``own_k``, -1 if none).

    Three channels run component by component over the whole row, the pixels as the compiler's vector lanes:
    the row's samples and means gathered into channel rows (``samples``, ``(6, W)``: three of the frame, three
    of the component's means), the whitening matrices read from ``whiten_rows`` (``(H, K, 9, W)``, the same values
    laid out along the row). Each lane does :func:`_d2`'s arithmetic in its order, so the distances are its bits
    (1.5x faster than pixel by pixel at 240x320, where this is a third of the scoring)."""
    width = best.shape[0]
    n_ch = means.shape[-1]
    if n_ch != 3:
        xs = np.empty(n_ch, np.float32)
        for x in range(width):
            for c in range(n_ch):
                xs[c] = _sample(frame, y, x, c, g, divide, lut)
            best[x] = np.inf
            own_k[x] = -1
            for k in range(n_comp):
                if is_bg[y, x, k]:
                    d2 = _d2(xs, means, whiten, y, x, k)
                    if d2 < best[x]:
                        best[x] = d2
                        own_k[x] = k
        return
    f0, f1, f2 = samples[0], samples[1], samples[2]
    m0, m1, m2 = samples[3], samples[4], samples[5]
    for x in range(width):
        f0[x] = _sample(frame, y, x, 0, g, divide, lut)
        f1[x] = _sample(frame, y, x, 1, g, divide, lut)
        f2[x] = _sample(frame, y, x, 2, g, divide, lut)
        best[x] = np.inf
        own_k[x] = -1
    for k in range(n_comp):
        for x in range(width):
            m0[x] = means[y, x, k, 0]
            m1[x] = means[y, x, k, 1]
            m2[x] = means[y, x, k, 2]
        w = whiten_rows[y, k]
        for x in range(width):
            d0 = f0[x] - m0[x]
            d1 = f1[x] - m1[x]
            d2 = f2[x] - m2[x]
            z0 = np.float64(w[0, x] * d0) + np.float64(w[1, x] * d1)
            z0 = z0 + np.float64(w[2, x] * d2)
            z1 = np.float64(w[3, x] * d0) + np.float64(w[4, x] * d1)
            z1 = z1 + np.float64(w[5, x] * d2)
            z2 = np.float64(w[6, x] * d0) + np.float64(w[7, x] * d1)
            z2 = z2 + np.float64(w[8, x] * d2)
            distances[x] = (z0 * z0 + z1 * z1) + z2 * z2
        background = background_rows[y, k]
        for x in range(width):
            if background[x] and distances[x] < best[x]:
                best[x] = distances[x]
                own_k[x] = k


@numba.njit(cache=True, parallel=True)
def _score_rows(
    frame: NDArray, g: np.float32, divide: bool, lut: NDArray[np.float32], means: NDArray[np.float32],
    whiten: NDArray[np.float32], whiten_rows: NDArray[np.float32], background_rows: NDArray[np.bool_],
    mean_var: NDArray[np.float32], is_bg: NDArray[np.bool_], first: NDArray,
    gate: NDArray[np.bool_], radius: int,
    shadow_tau: float, shadow_max: float, shadow_var_threshold: float, texture: float, texture_half: int,
    masked: bool, mixture: bool, candidate: NDArray[np.bool_],
    min_score: float, scale: NDArray[np.float32], use_scale: bool, out: NDArray[np.float32],
    own_d2: NDArray[np.float32], own_k: NDArray[np.int64], n_comp: int,
) -> None:
    height, width, _, n_ch = means.shape
    min_score32 = np.float32(min_score)
    texture_c = np.float32(texture * n_ch)
    for y in prange(height):
        xs = np.empty(n_ch, np.float32)
        samples = np.empty((6, width), np.float32)
        row = np.empty((2, width))
        # the pixel's own components first: the minimum is the same in any order, the own distance read off
        _own_distances(frame, g, divide, lut, means, whiten, whiten_rows, is_bg, background_rows, y, n_comp, samples,
                       row[0], row[1], own_k[y])
        for x in range(width):
            for c in range(n_ch):  # three channels: the samples the row's distances gathered
                xs[c] = samples[c, x] if n_ch == 3 else _sample(frame, y, x, c, g, divide, lut)
            best = row[1, x]
            own_best = best
            if radius > 0 and gate[y, x]:
                for ny in range(max(y - radius, 0), min(y + radius + 1, height)):
                    for nx in range(max(x - radius, 0), min(x + radius + 1, width)):
                        if ny == y and nx == x:
                            continue
                        for k in range(n_comp):
                            if is_bg[ny, nx, k]:
                                d2 = _d2(xs, means, whiten, ny, nx, k)
                                if d2 < best:
                                    best = d2
            score = np.float32(best)
            if masked:
                candidate[y, x] = False
            # with the texture test a shadow must also score above min_score: below, the test cannot change it
            if shadow_tau > 0.0 and best > 0.0 and (texture <= 0.0 or score > min_score32):
                shadow = is_shadow(xs, means, mean_var, is_bg, y, x, shadow_tau, shadow_max, shadow_var_threshold,
                                   texture <= 0.0)
                if shadow and masked:
                    candidate[y, x] = True  # the masked texture test follows, once every pixel's candidacy is known
                    shadow = False
                elif shadow and texture > 0.0:
                    bound = np.float32(texture_c * mean_var[y, x, first[y, x]])
                    if mixture:
                        shadow = _texture_ok_mixture(frame, g, divide, lut, means, is_bg, y, x, texture_half,
                                                     bound, candidate, False)
                    else:
                        shadow = _texture_ok(frame, g, divide, lut, means, first, y, x, texture_half, bound,
                                             candidate, False)
                if shadow:
                    score = np.float32(0.0)
            if use_scale:
                score = np.float32(score / scale[y, x])
            out[y, x] = score
            own_d2[y, x] = own_best


@numba.njit(cache=True, parallel=True)
def _update_rows(
    frame: NDArray, g: np.float32, divide: bool, lut: NDArray[np.float32], means: NDArray[np.float32],
    own_d2: NDArray[np.float32], own_k: NDArray[np.int64], update_threshold: float, rate: float, update: bool,
    next_frame: NDArray, first: NDArray, want_ratios: bool, lookup: bool, row_ratio: NDArray[np.float32],
    row_count: NDArray[np.int64],
) -> None:
    """The selective update of this frame, then each row's gain ratios of ``next_frame`` (a pixel's ratio
    reads only its own means, so a row's ratios follow its update)."""
    height, width, _, n_ch = means.shape
    for y in prange(height):
        if update:
            for x in range(width):
                k = own_k[y, x]
                if k >= 0 and own_d2[y, x] < update_threshold:
                    for c in range(n_ch):
                        xc = _sample(frame, y, x, c, g, divide, lut)
                        means[y, x, k, c] += rate * (xc - means[y, x, k, c])
        if want_ratios:
            _row_ratios(next_frame, means, first, y, lookup, row_ratio, row_count)


@numba.njit(cache=True, parallel=True)
def _compensate(frame: NDArray, g: np.float32, divide: bool, lut: NDArray[np.float32], means: NDArray[np.float32],
                first: NDArray, out: NDArray[np.float32], clip: bool, saturate: bool) -> None:
    """The frame as scored into ``out``: ``frame / g`` (with ``divide``; else the frame as float32), with ``saturate``
    at most 255, then with ``clip`` a channel the sensor clipped (at 255 or above) reads at least the background
    image's value (:func:`bgsub.spatial.impute_clipped`)."""
    height, width, n_ch = out.shape
    for y in prange(height):
        for x in range(width):
            k = first[y, x]
            for c in range(n_ch):
                q = _sample(frame, y, x, c, g, divide, lut)
                if saturate:
                    q = min(q, SATURATION)
                if clip and frame[y, x, c] >= 255:
                    q = max(q, means[y, x, k, c])
                out[y, x, c] = q


@numba.njit(cache=True)
def _frame_scores(
    frame: NDArray, g: np.float32, divide: bool, lut: NDArray[np.float32], means: NDArray[np.float32],
    whiten: NDArray[np.float32], whiten_rows: NDArray[np.float32], background_rows: NDArray[np.bool_],
    mean_var: NDArray[np.float32], is_bg: NDArray[np.bool_], first: NDArray,
    gate: NDArray[np.bool_], radius: int, shadow_tau: float, shadow_max: float, shadow_var_threshold: float,
    texture: float, texture_half: int, masked: bool, mixture: bool, candidate: NDArray[np.bool_], min_score: float,
    scale: NDArray[np.float32], use_scale: bool, out: NDArray[np.float32], own: NDArray[np.float32],
    own_k: NDArray[np.int64], texture_c: np.float32, n_comp: int,
) -> None:
    """One frame's scores, then the masked texture test of its shadow candidates."""
    _score_rows(frame, g, divide, lut, means, whiten, whiten_rows, background_rows, mean_var, is_bg, first, gate,
                radius, shadow_tau, shadow_max,
                shadow_var_threshold, texture, texture_half, masked, mixture, candidate, min_score, scale, use_scale,
                out, own, own_k, n_comp)
    if masked:
        _masked_texture_rows(frame, g, divide, lut, means, first, is_bg, mixture, mean_var, candidate, texture_half,
                             texture_c, out)


@numba.njit(cache=True)
def _absorb_ghosts(frame: NDArray, previous: NDArray[np.float32], has_previous: bool, out: NDArray[np.float32],
                   means: NDArray[np.float32], first: NDArray, ghost_args: tuple) -> None:
    """Ghost absorption between a frame's scores and its update (``bgsub.spatial.absorb_ghosts``): the detector's
    step on the frame as scored and the background image before the update (the first-ranked means as they are
    now), then, where it says absorb, the frame written into the first-ranked means and the score set to 0. The
    reference absorbs before the update too, and the next frame's gain reads the absorbed means."""
    (threshold, stable_count, ghost_count, tolerance, stable_frames, window, edge_ratio, min_step, ghost_frames,
     above, decision, stopped, pixels, is_ghost, absorb, parent, blob) = ghost_args
    stopped_pixels = ghost_kernels.absorb_frame(
        frame, previous, has_previous, means, first, out, threshold, stable_count, ghost_count, tolerance,
        stable_frames, window, edge_ratio, min_step, ghost_frames, above, decision, stopped, pixels, is_ghost, absorb,
        parent, blob)
    width = out.shape[1]
    for p in stopped_pixels:
        y, x = p // width, p % width
        if absorb[y, x]:
            k = first[y, x]
            for c in range(frame.shape[2]):
                means[y, x, k, c] = frame[y, x, c]
            out[y, x] = np.float32(0.0)
        is_ghost[y, x] = False
        absorb[y, x] = False


_BLOCK_KERNELS: dict[tuple[int, bool], object] = {}


def _score_block_kernel(n_components: int, compensated: bool) -> object:
    """The block scoring kernel for ``n_components`` components, compiled (or loaded from the disk cache, whose key
    includes the closure's values) on first use: K reaches :func:`_score_rows` as a literal, so its loops over
    components unroll (side by side on highway, 1 thread: the distances 1.3x, the whole scoring ~1.1x faster than
    with K read from the array's shape, or passed as a plain argument).

    ``compensated`` (ghost absorption, or clipped or saturated channels under the gain: the default preset) scores
    each frame as compensated into a float32 buffer (:func:`_compensate`); else the frame is read as it comes, its
    quotients by the gain made on the fly. Each kernel types one frame pass, and only the compensated one a ghost
    detector: one kernel holding both paths typed a uint8 frame's pass beside the float32 one and compiled in 93 s,
    where the compensated kernel alone takes 56 s (K = 3, uint8 frames)."""
    key = (n_components, compensated)
    if key not in _BLOCK_KERNELS:

        @numba.njit(cache=True)
        def score_block(
            frames: NDArray, means: NDArray[np.float32], whiten: NDArray[np.float32],
            whiten_rows: NDArray[np.float32], background_rows: NDArray[np.bool_], mean_var: NDArray[np.float32],
            is_bg: NDArray[np.bool_], first: NDArray, gate: NDArray[np.bool_], radius: int, gain: bool,
            shadow_tau: float, shadow_max: float, shadow_var_threshold: float, texture: float, texture_half: int,
            masked: bool, mixture: bool, min_score: float, scale: NDArray[np.float32], use_scale: bool, rate: float,
            update_threshold: float,
            out: NDArray[np.float32], own_out: NDArray[np.float32], keep_own: bool, lookup: bool, clip: bool,
            saturate: bool, ghost: bool, previous: NDArray[np.float32], has_previous: bool, ghost_args: tuple,
        ) -> None:
            n_frames = frames.shape[0]
            height, width = first.shape
            own_d2 = np.empty((height, width), np.float32)
            own_k = np.empty((height, width), np.int64)
            row_ratio = np.empty((height, width), np.float32)
            row_count = np.zeros(height, np.int64)
            work = np.empty(height * width, np.float32)
            count = np.zeros(1 << 16, np.int64)
            candidate = np.empty((height, width) if masked else (1, 1), np.bool_)
            as_scored = np.empty(frames.shape[1:] if compensated else (1, 1, 1), np.float32)
            texture_c = np.float32(texture * means.shape[-1])
            # a uint8 frame has 256 values: their quotients by the gain (the same float32 divisions) are a table
            lut = np.empty(256 if lookup else 0, np.float32)
            # with ghost absorption each frame as scored is the next one's previous: ``previous`` (the caller's copy
            # of the detector's) and ``as_scored`` take turns, and the last frame ends in ``previous``
            frame_buffer, previous_buffer = as_scored, previous
            if gain and n_frames > 0:
                _ratios(frames[0], means, first, lookup, row_ratio, row_count)
            for t in range(n_frames):
                g = np.float32(1.0)
                divide = False
                if gain:
                    g = _gain(row_ratio, row_count, work, count)
                    divide = g > 0
                    if divide:
                        for i in range(lut.shape[0]):
                            lut[i] = np.float32(np.float32(i) / g)
                own = own_out[t] if keep_own else own_d2
                want = gain and t + 1 < n_frames
                next_frame = frames[min(t + 1, n_frames - 1)]
                if compensated:  # the frame as scored (divided, saturated, clipped channels imputed)
                    _compensate(frames[t], g, divide, lut, means, first, frame_buffer, clip and divide,
                                saturate and divide)
                    _frame_scores(frame_buffer, np.float32(1.0), False, lut, means, whiten, whiten_rows,
                                  background_rows, mean_var, is_bg, first, gate, radius, shadow_tau, shadow_max,
                                  shadow_var_threshold, texture, texture_half, masked, mixture, candidate, min_score,
                                  scale, use_scale, out[t], own, own_k, texture_c, n_components)
                    if ghost:  # between the frame's scores and its update, as the reference absorbs
                        _absorb_ghosts(frame_buffer, previous_buffer, has_previous or t > 0, out[t], means, first,
                                       ghost_args)
                    if rate > 0 or want:
                        _update_rows(frame_buffer, np.float32(1.0), False, lut, means, own, own_k, update_threshold,
                                     rate, rate > 0, next_frame, first, want, lookup, row_ratio, row_count)
                    if ghost:
                        frame_buffer, previous_buffer = previous_buffer, frame_buffer
                else:
                    _frame_scores(frames[t], g, divide, lut, means, whiten, whiten_rows, background_rows, mean_var,
                                  is_bg, first, gate, radius, shadow_tau, shadow_max, shadow_var_threshold, texture,
                                  texture_half, masked, mixture, candidate, min_score, scale, use_scale, out[t], own,
                                  own_k, texture_c, n_components)
                    if rate > 0 or want:
                        _update_rows(frames[t], g, divide, lut, means, own, own_k, update_threshold, rate, rate > 0,
                                     next_frame, first, want, lookup, row_ratio, row_count)
            if ghost and n_frames % 2 == 1:
                _copy(previous_buffer, previous)

        _BLOCK_KERNELS[key] = score_block
    return _BLOCK_KERNELS[key]


@numba.njit(cache=True)
def _copy(source: NDArray[np.float32], out: NDArray[np.float32]) -> None:
    """``out[:] = source`` for C-ordered arrays of one size, as a loop (the slice assignment's shape-mismatch
    error message alone took ~4 s to compile)."""
    flat_out = out.reshape(-1)
    flat_source = source.reshape(-1)
    for i in range(flat_out.shape[0]):
        flat_out[i] = flat_source[i]


def score_frames(
    frames: NDArray, means: NDArray[np.float32], whiten: NDArray[np.float32], mean_var: NDArray[np.float32],
    is_background: NDArray[np.bool_], first: NDArray, *, radius: int, spatial_gate: NDArray[np.bool_] | None,
    gain: bool, shadow_tau: float | None, shadow_var_threshold: float, shadow_max: float,
    shadow_texture: float | None, shadow_window: int, shadow_min_score: float,
    score_scale: NDArray | None, learning_rate: float, update_threshold: float,
    shadow_texture_masked: bool = False,
    shadow_texture_mixture: bool = False, gain_clip: bool = False, gain_saturate: bool = False,
    ghost: Any = None, decision_threshold: float = 7.81,
    rows: tuple[NDArray[np.float32], NDArray[np.bool_]] | None = None,
) -> NDArray[np.float32]:
    """Scores ``(T, H, W)`` float32 of :func:`bgsub.spatial.score_frames`, with the model's arrays given
    one by one (``means`` is updated in place when ``learning_rate > 0``).

    ``frames`` ``(T, H, W, C)``: uint8 is read as it comes; any other dtype is converted to float32 first
    (as the reference does). ``ghost``, a :class:`bgsub.persistence.GhostDetector` (its counters and previous
    frame are advanced in place), absorbs ghosts between each frame's scores and its update, watching
    ``scores > decision_threshold`` after a 3 x 3 median (see :func:`_absorb_ghosts`). ``rows`` is
    :func:`row_layout` of ``whiten`` and ``is_background`` (None = made here: a caller that scores the same model
    block after block keeps it, see :meth:`bgsub.spatial.ScoringModel.row_layout`).
    """
    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        frames = np.ascontiguousarray(frames, dtype=np.float32)
    else:
        frames = np.ascontiguousarray(frames)
    n_frames, height, width = frames.shape[:3]
    gate = np.ones((height, width), np.bool_) if spatial_gate is None else np.ascontiguousarray(spatial_gate, bool)
    use_scale = score_scale is not None
    scale = (np.ascontiguousarray(score_scale, np.float32) if use_scale else np.ones((1, 1), np.float32))
    if use_scale and scale.shape != (height, width):
        scale = np.ascontiguousarray(np.broadcast_to(scale, (height, width)))
    out = np.empty((n_frames, height, width), np.float32)
    ghost_on, previous, has_previous, ghost_args = _ghost_arguments(ghost, decision_threshold, frames.shape)
    if rows is None:
        rows = row_layout(whiten, is_background)
    clip, saturate = bool(gain and gain_clip), bool(gain and gain_saturate)
    _score_block_kernel(means.shape[2], ghost_on or clip or saturate)(  # type: ignore[operator]
        frames, means, whiten, *rows, mean_var, np.ascontiguousarray(is_background, bool),
        np.ascontiguousarray(first, np.int64), gate, int(radius), bool(gain),
        0.0 if shadow_tau is None else float(shadow_tau), float(shadow_max), float(shadow_var_threshold),
        -1.0 if shadow_texture is None else float(shadow_texture), int(shadow_window) // 2,
        bool(shadow_texture_masked and shadow_tau is not None and shadow_texture is not None),
        bool(shadow_texture_mixture), float(shadow_min_score), scale, use_scale, float(learning_rate),
        float(update_threshold), out,
        np.empty((1, 1, 1), np.float32), False, frames.dtype == np.uint8, clip, saturate, ghost_on, previous,
        has_previous, ghost_args,
    )
    if ghost is not None and n_frames:
        ghost.last_frame_ = previous  # the last frame as scored
    return out


def row_layout(whiten: NDArray[np.float32],
               is_background: NDArray[np.bool_]) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """The whitening matrices ``(H, W, K, C, C)`` as ``(H, K, C * C, W)`` and the background flags ``(H, W, K)`` as
    ``(H, K, W)``: the same values laid out along each row, which the row-wise distances read
    (:func:`_own_distances`)."""
    height, width, n_comp = is_background.shape
    whiten_rows = np.ascontiguousarray(np.asarray(whiten, np.float32).reshape(height, width, n_comp, -1)
                                       .transpose(0, 2, 3, 1))
    return whiten_rows, np.ascontiguousarray(np.asarray(is_background, np.bool_).transpose(0, 2, 1))


def _ghost_arguments(ghost: Any, decision_threshold: float,
                     shape: tuple[int, ...]) -> tuple[bool, NDArray[np.float32], bool, tuple]:
    """The kernel's ``ghost``, ``previous``, ``has_previous`` and ``ghost_args`` for a detector (or None:
    placeholders of the same types, so that one compiled kernel serves both)."""
    if ghost is None:
        one = np.zeros((1, 1), np.bool_)
        return False, np.zeros((1, 1, 1), np.float32), False, (
            np.float32(0.0), np.zeros((1, 1), np.int32), np.zeros((1, 1), np.int32), 0.0, 0, 3, 0.0, 0.0, 1,
            np.zeros((1, 1), np.uint8), np.zeros((1, 1), np.uint8), one, np.zeros(1, np.int64), one, one,
            np.zeros(1, np.int64), np.zeros(1, np.int64))
    height, width = shape[1:3]
    if ghost.shape != (height, width):
        raise ValueError(f"a ghost detector of shape {ghost.shape} cannot follow frames of {shape}")
    has_previous = ghost.last_frame_ is not None
    previous = (np.array(ghost.last_frame_, np.float32, order="C") if has_previous  # a copy: the kernel writes it
                else np.zeros(shape[1:], np.float32))
    args = (np.float32(decision_threshold), _int32_state(ghost, "stable_count_"), _int32_state(ghost, "ghost_count_"),
            float(ghost.stable_tolerance), int(ghost.stable_frames), int(ghost.window), float(ghost.edge_ratio),
            float(ghost.min_step), int(ghost.ghost_frames), np.empty((height, width), np.uint8),
            np.empty((height, width), np.uint8), np.empty((height, width), np.bool_),
            np.empty(height * width, np.int64), np.zeros((height, width), np.bool_),
            np.zeros((height, width), np.bool_), np.empty(height * width, np.int64), np.empty(height * width, np.int64))
    return True, previous, has_previous, args


def _int32_state(ghost: Any, name: str) -> NDArray[np.int32]:
    """The detector's counter ``name`` as a C-contiguous int32 array the kernel can advance in place."""
    counter = getattr(ghost, name)
    if counter.dtype != np.int32 or not counter.flags.c_contiguous:
        counter = np.ascontiguousarray(counter, np.int32)
        setattr(ghost, name, counter)
    return counter


def training_dynamics(
    frames: NDArray, means: NDArray[np.float32], whiten: NDArray[np.float32], mean_var: NDArray[np.float32],
    is_background: NDArray[np.bool_], first: NDArray, *, radius: int, gain: bool, threshold: float, quantile: float,
    gain_clip: bool = False, gain_saturate: bool = False,
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """:func:`bgsub.spatial.training_dynamics` (``rescued``, ``score_quantile``) with the scoring kernel: every
    pixel's neighbourhood, no shadow test, no update; the quantile is numpy's, on the same own scores."""
    frames = np.asarray(frames)
    frames = np.ascontiguousarray(frames) if frames.dtype == np.uint8 else np.ascontiguousarray(frames, np.float32)
    n_frames, height, width = frames.shape[:3]
    out = np.empty((n_frames, height, width), np.float32)
    own = np.empty((n_frames, height, width), np.float32)
    clip, saturate = bool(gain and gain_clip), bool(gain and gain_saturate)
    _score_block_kernel(means.shape[2], clip or saturate)(  # type: ignore[operator]
        frames, means, whiten, *row_layout(whiten, is_background), mean_var, np.ascontiguousarray(is_background, bool),
        np.ascontiguousarray(first, np.int64), np.ones((height, width), np.bool_), int(radius), bool(gain),
        0.0, 1.0, 0.0, -1.0, 1, False, False, 0.0, np.ones((1, 1), np.float32), False, 0.0, 0.0, out, own,
        True, frames.dtype == np.uint8, clip, saturate, *_ghost_arguments(None, 0.0, frames.shape),
    )
    t32 = np.float32(threshold)
    rescued = ((own > t32) & (out <= t32)).sum(axis=0, dtype=np.int64).astype(np.float32)
    score_quantile = np.quantile(own, quantile, axis=0).astype(np.float32)
    return rescued / max(n_frames, 1), score_quantile


@numba.njit(parallel=True, cache=True)
def _first_means(means: NDArray[np.float32], first: NDArray, out: NDArray[np.float32]) -> None:
    height, width, _, n_ch = means.shape
    for y in prange(height):
        for x in range(width):
            k = first[y, x]
            for c in range(n_ch):
                out[y, x, c] = means[y, x, k, c]


def background_image(means: NDArray[np.float32], first: NDArray) -> NDArray[np.float32]:
    """:meth:`bgsub.spatial.ScoringModel.background_image` (the first-ranked means, a copy) in one parallel pass."""
    out = np.empty(means.shape[:2] + means.shape[3:], means.dtype)
    _first_means(means, np.ascontiguousarray(first), out)
    return out
