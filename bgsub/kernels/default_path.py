"""Compiled scoring path of the default method: gain, distances, spatial context, shadow and texture tests, update.

:func:`score_frames` computes what :func:`bgsub.spatial.score_frames` computes (the numpy/scipy
reference) in one compiled call per block of frames. Per frame, two passes over the pixels:

1. rows in parallel (``numba.prange``): the compensated sample ``x = frame / gain`` (float32, as
   the reference divides), its squared Mahalanobis distance to each background component of its
   own pixel and, where the spatial gate is on, of its neighbours' (float32 products summed in
   float64, in the reference's order, so the distances are the reference's bits); MOG2's shadow
   test; for a shadow candidate scoring above ``shadow_min_score``, the texture test over its
   ``shadow_window`` square, computed from the window's 9 pixels directly instead of three
   whole-frame ``uniform_filter`` passes (with ``shadow_texture_masked`` the candidates are only
   marked here, and a pass of their own tests them, since the masked window reads its neighbours'
   candidacy; its sums are the reference's, in its order, so its decisions are the reference's; with
   ``shadow_texture_mixture`` the window is explained by any of its pixels' background components);
2. rows in parallel: the selective update of each pixel's matched background mean (float64
   arithmetic rounded to float32, as the reference), and, once a row is updated, its pixels'
   ``luma(frame) / luma(background)`` ratios of the *next* frame's gain (the background image
   being the first-ranked means after this frame's update, as the reference recomputes it), as
   plain loops over the row's gathered channels, which the compiler vectorises.

A uint8 frame has 256 values, so its quotients by the frame's gain (``x = frame / gain``) are a
table of the same float32 divisions, made once per frame, and its luma three table reads (the
products the luma rounds, precomputed exactly); scores and means are those of the same frame in
float32, bit for bit (``tests/test_default_kernels.py``).

The gain is the median of those ratios, selected exactly by two histograms of their float32 bits
(the top 16 bits, then the low 16 of the bucket holding the middle rank; ~0.1 ms where
``np.partition`` took ~0.9 ms at 240x320), the mean of the two middle values in float32 when their
count is even, as ``np.median``. The luma is the reference's elementwise chain (``bgsub.spatial._luma``):
``r w0`` rounded to float32, then ``+ g w1``, then ``+ b w2``, each product exact in float64 and each sum
rounded to float32. (It first emulated the BLAS ``(N, 3) @ (3,)`` product the reference used, an FMA chain
on the CPU it was written on; OpenBLAS's Haswell kernel on another CPU summed otherwise, a gain moved by an
ulp and scores by up to 2e-5 relative, so the reference now spells its arithmetic out.)

What may differ from the reference, and how much (``tests/test_default_kernels.py``): the texture
test's window sums are 9-term float64 sums, where SciPy's ``uniform_filter`` runs a float64 running
mean along each axis, so its residual differs in the last bits (~1e-12 relative); its decision
(``residual <= bound``) can differ only for a residual that close to the bound. Everything else
is the reference's arithmetic in the same order (no fast-math), so the scores are equal bit for
bit in the tests.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange
from numpy.typing import NDArray

__all__ = ["background_image", "score_frames", "supported", "training_dynamics"]

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
def _select_positive(values: NDArray[np.float32], n: int, rank: int, work: NDArray[np.float32],
                     count: NDArray[np.int64]) -> np.float32:
    """The ``rank``-th smallest of ``values[:n]`` (non-negative float32, so their bits sort as integers):
    a histogram of the top 16 bits finds the bucket, a second one of the bucket's low 16 bits the value."""
    bits = values[:n].view(np.uint32)
    count[:] = 0
    for i in range(n):
        count[bits[i] >> np.uint32(16)] += 1
    below = 0
    top = 0
    while below + count[top] <= rank:
        below += count[top]
        top += 1
    m = 0
    wbits = work.view(np.uint32)
    for i in range(n):
        if bits[i] >> np.uint32(16) == np.uint32(top):
            wbits[m] = bits[i]
            m += 1
    count[:] = 0
    for i in range(m):
        count[wbits[i] & np.uint32(0xFFFF)] += 1
    low = 0
    while below + count[low] <= rank:
        below += count[low]
        low += 1
    return np.array([(np.uint32(top) << np.uint32(16)) | np.uint32(low)], np.uint32).view(np.float32)[0]


@numba.njit(cache=True)
def _median32(values: NDArray[np.float32], n: int, work: NDArray[np.float32], count: NDArray[np.int64]) -> np.float32:
    """``np.median(values[:n])`` for non-negative float32 (n > 0): the middle value, or the float32 mean of
    the two middle values."""
    half = n // 2
    upper = _select_positive(values, n, half, work, count)
    if n % 2 == 1:
        return upper
    lower = _select_positive(values, n, half - 1, work, count)
    return np.float32(np.float32(lower + upper) / np.float32(2.0))


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
          work2: NDArray[np.float32], count: NDArray[np.int64]) -> np.float32:
    n = 0
    for y in range(row_ratio.shape[0]):
        for i in range(row_count[y]):
            work[n] = row_ratio[y, i]
            n += 1
    if n == 0:
        return np.float32(1.0)
    if work[:n].min() < 0 or not np.isfinite(work[:n].max()):  # not non-negative finite: the general way
        part = np.sort(work[:n])
        if n % 2:
            return part[n // 2]
        return np.float32(np.float32(part[n // 2 - 1] + part[n // 2]) / np.float32(2.0))
    return _median32(work, n, work2, count)


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
    best = np.inf
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
        if masked and n < ((2 * half + 1) * (2 * half + 1) + 1) // 2:
            continue
        best = min(best, total / max(n, 1))
    return best <= bound


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


@numba.njit(cache=True, parallel=True)
def _score_rows(
    frame: NDArray, g: np.float32, divide: bool, lut: NDArray[np.float32], means: NDArray[np.float32],
    whiten: NDArray[np.float32], mean_var: NDArray[np.float32], is_bg: NDArray[np.bool_], first: NDArray,
    gate: NDArray[np.bool_], radius: int,
    shadow_tau: float, shadow_max: float, shadow_var_threshold: float, texture: float, texture_half: int,
    masked: bool, mixture: bool, candidate: NDArray[np.bool_],
    min_score: float, scale: NDArray[np.float32], use_scale: bool, out: NDArray[np.float32],
    own_d2: NDArray[np.float32], own_k: NDArray[np.int64], n_comp: int, keep_seen: bool, seen: NDArray[np.float32],
    background: NDArray[np.float32],
) -> None:
    height, width, _, n_ch = means.shape
    min_score32 = np.float32(min_score)
    texture_c = np.float32(texture * n_ch)
    for y in prange(height):
        xs = np.empty(n_ch, np.float32)
        for x in range(width):
            for c in range(n_ch):
                xs[c] = _sample(frame, y, x, c, g, divide, lut)
            if keep_seen:  # the sample as scored, and the background image before this frame's update
                for c in range(n_ch):
                    seen[y, x, c] = xs[c]
                    background[y, x, c] = means[y, x, first[y, x], c]
            best = np.inf
            own_idx = -1
            # the pixel's own components first: the minimum is the same in any order, the own distance read off
            for k in range(n_comp):
                if is_bg[y, x, k]:
                    d2 = _d2(xs, means, whiten, y, x, k)
                    if d2 < best:
                        best = d2
                        own_idx = k
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
                is_shadow = False
                for k in range(n_comp):
                    if not is_bg[y, x, k]:
                        continue
                    num = 0.0
                    den = 0.0
                    for c in range(n_ch):
                        num += xs[c] * means[y, x, k, c]
                        den += means[y, x, k, c] * means[y, x, k, c]
                    if den <= 0.0:
                        continue
                    a = num / den
                    if a < shadow_tau or a >= shadow_max:
                        continue
                    dist = 0.0
                    for c in range(n_ch):
                        e = xs[c] - a * means[y, x, k, c]
                        dist += e * e
                    bound = shadow_var_threshold * mean_var[y, x, k]
                    if texture <= 0.0:
                        bound *= a * a
                    if dist < bound:
                        is_shadow = True
                        break
                if is_shadow and masked:
                    candidate[y, x] = True  # the masked texture test follows, once every pixel's candidacy is known
                    is_shadow = False
                elif is_shadow and texture > 0.0:
                    bound = np.float32(texture_c * mean_var[y, x, first[y, x]])
                    if mixture:
                        is_shadow = _texture_ok_mixture(frame, g, divide, lut, means, is_bg, y, x, texture_half,
                                                        bound, candidate, False)
                    else:
                        is_shadow = _texture_ok(frame, g, divide, lut, means, first, y, x, texture_half, bound,
                                                candidate, False)
                if is_shadow:
                    score = np.float32(0.0)
            if use_scale:
                score = np.float32(score / scale[y, x])
            out[y, x] = score
            own_d2[y, x] = own_best
            own_k[y, x] = own_idx


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
def _clipped_quotients(frame: NDArray, g: np.float32, lut: NDArray[np.float32], means: NDArray[np.float32],
                       first: NDArray, out: NDArray[np.float32], clip: bool, saturate: bool) -> None:
    """``frame / g`` into ``out``: with ``saturate`` at most 255, then with ``clip`` a channel the sensor clipped (at
    255 or above) reads at least the background image's value (:func:`bgsub.spatial.impute_clipped`)."""
    height, width, n_ch = out.shape
    for y in prange(height):
        for x in range(width):
            k = first[y, x]
            for c in range(n_ch):
                q = _sample(frame, y, x, c, g, True, lut)
                if saturate:
                    q = min(q, SATURATION)
                if clip and frame[y, x, c] >= 255:
                    q = max(q, means[y, x, k, c])
                out[y, x, c] = q


@numba.njit(cache=True)
def _frame_pass(
    frame: NDArray, g: np.float32, divide: bool, lut: NDArray[np.float32], means: NDArray[np.float32],
    whiten: NDArray[np.float32], mean_var: NDArray[np.float32], is_bg: NDArray[np.bool_], first: NDArray,
    gate: NDArray[np.bool_], radius: int, shadow_tau: float, shadow_max: float, shadow_var_threshold: float,
    texture: float, texture_half: int, masked: bool, mixture: bool, candidate: NDArray[np.bool_], min_score: float,
    scale: NDArray[np.float32], use_scale: bool, out: NDArray[np.float32], own: NDArray[np.float32],
    own_k: NDArray[np.int64], texture_c: np.float32, rate: float, update_threshold: float, next_frame: NDArray,
    want_ratios: bool, lookup: bool, row_ratio: NDArray[np.float32], row_count: NDArray[np.int64], n_comp: int,
    keep_seen: bool, seen: NDArray[np.float32], background: NDArray[np.float32],
) -> None:
    """One frame: its scores, the masked texture test, the selective update and the next frame's gain ratios;
    with ``keep_seen``, the frame as scored into ``seen`` and the background image before the update into
    ``background``."""
    _score_rows(frame, g, divide, lut, means, whiten, mean_var, is_bg, first, gate, radius, shadow_tau, shadow_max,
                shadow_var_threshold, texture, texture_half, masked, mixture, candidate, min_score, scale, use_scale,
                out, own, own_k, n_comp, keep_seen, seen, background)
    if masked:
        _masked_texture_rows(frame, g, divide, lut, means, first, is_bg, mixture, mean_var, candidate, texture_half,
                             texture_c, out)
    if rate > 0 or want_ratios:
        _update_rows(frame, g, divide, lut, means, own, own_k, update_threshold, rate, rate > 0, next_frame, first,
                     want_ratios, lookup, row_ratio, row_count)


_BLOCK_KERNELS: dict[int, object] = {}


def _score_block_kernel(n_components: int) -> object:
    """The block scoring kernel for ``n_components`` components, compiled (or loaded from the disk cache, whose key
    includes the closure's K) on first use: K reaches :func:`_score_rows` as a literal, so its loops over components
    unroll (side by side on highway, 1 thread: the distances 1.3x, the whole scoring ~1.1x faster than with K read
    from the array's shape, or passed as a plain argument)."""
    if n_components not in _BLOCK_KERNELS:

        @numba.njit(cache=True)
        def score_block(
            frames: NDArray, means: NDArray[np.float32], whiten: NDArray[np.float32], mean_var: NDArray[np.float32],
            is_bg: NDArray[np.bool_], first: NDArray, gate: NDArray[np.bool_], radius: int, gain: bool,
            shadow_tau: float, shadow_max: float, shadow_var_threshold: float, texture: float, texture_half: int,
            masked: bool, mixture: bool, min_score: float, scale: NDArray[np.float32], use_scale: bool, rate: float,
            update_threshold: float,
            out: NDArray[np.float32], own_out: NDArray[np.float32], keep_own: bool, lookup: bool, clip: bool,
            saturate: bool, seen_out: NDArray[np.float32],
            background_out: NDArray[np.float32], keep_seen: bool,
        ) -> None:
            n_frames = frames.shape[0]
            height, width = first.shape
            own_d2 = np.empty((height, width), np.float32)
            own_k = np.empty((height, width), np.int64)
            row_ratio = np.empty((height, width), np.float32)
            row_count = np.zeros(height, np.int64)
            work = np.empty(height * width, np.float32)
            work2 = np.empty(height * width, np.float32)
            count = np.empty(1 << 16, np.int64)
            candidate = np.empty((height, width) if masked else (1, 1), np.bool_)
            compensated = np.empty(frames.shape[1:] if clip or saturate else (1, 1, 1), np.float32)
            texture_c = np.float32(texture * means.shape[-1])
            # a uint8 frame has 256 values: their quotients by the gain (the same float32 divisions) are a table
            lut = np.empty(256 if lookup else 0, np.float32)
            if gain and n_frames > 0:
                _ratios(frames[0], means, first, lookup, row_ratio, row_count)
            for t in range(n_frames):
                g = np.float32(1.0)
                divide = False
                if gain:
                    g = _gain(row_ratio, row_count, work, work2, count)
                    divide = g > 0
                    if divide:
                        for i in range(lut.shape[0]):
                            lut[i] = np.float32(np.float32(i) / g)
                own = own_out[t] if keep_own else own_d2
                seen = seen_out[t if keep_seen else 0]
                background = background_out[t if keep_seen else 0]
                want = gain and t + 1 < n_frames
                next_frame = frames[min(t + 1, n_frames - 1)]
                if (clip or saturate) and divide:  # the compensated frame (saturated, clipped channels imputed)
                    _clipped_quotients(frames[t], g, lut, means, first, compensated, clip, saturate)
                    _frame_pass(compensated, np.float32(1.0), False, lut, means, whiten, mean_var, is_bg, first, gate,
                                radius, shadow_tau, shadow_max, shadow_var_threshold, texture, texture_half, masked,
                                mixture, candidate, min_score, scale, use_scale, out[t], own, own_k, texture_c, rate,
                                update_threshold, next_frame, want, lookup, row_ratio, row_count, n_components,
                                keep_seen, seen, background)
                else:
                    _frame_pass(frames[t], g, divide, lut, means, whiten, mean_var, is_bg, first, gate, radius,
                                shadow_tau, shadow_max, shadow_var_threshold, texture, texture_half, masked, mixture,
                                candidate, min_score, scale, use_scale, out[t], own, own_k, texture_c, rate,
                                update_threshold, next_frame, want, lookup, row_ratio, row_count, n_components,
                                keep_seen, seen, background)

        _BLOCK_KERNELS[n_components] = score_block
    return _BLOCK_KERNELS[n_components]


def score_frames(
    frames: NDArray, means: NDArray[np.float32], whiten: NDArray[np.float32], mean_var: NDArray[np.float32],
    is_background: NDArray[np.bool_], first: NDArray, *, radius: int, spatial_gate: NDArray[np.bool_] | None,
    gain: bool, shadow_tau: float | None, shadow_var_threshold: float, shadow_max: float,
    shadow_texture: float | None, shadow_window: int, shadow_min_score: float,
    score_scale: NDArray | None, learning_rate: float, update_threshold: float,
    shadow_texture_masked: bool = False,
    shadow_texture_mixture: bool = False, gain_clip: bool = False, gain_saturate: bool = False,
    seen: NDArray[np.float32] | None = None, backgrounds: NDArray[np.float32] | None = None,
) -> NDArray[np.float32]:
    """Scores ``(T, H, W)`` float32 of :func:`bgsub.spatial.score_frames`, with the model's arrays given
    one by one (``means`` is updated in place when ``learning_rate > 0``).

    ``frames`` ``(T, H, W, C)``: uint8 is read as it comes; any other dtype is converted to float32 first
    (as the reference does). ``seen`` and ``backgrounds``, given together (``(T, H, W, C)`` float32), receive
    each frame as the model saw it (divided by its gain, saturated and with clipped channels imputed as the
    options say) and the background image (the first-ranked means) before the frame's update: what ghost
    absorption reads between frames.
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
    _score_block_kernel(means.shape[2])(  # type: ignore[operator]
        frames, means, whiten, mean_var, np.ascontiguousarray(is_background, bool),
        np.ascontiguousarray(first, np.int64), gate, int(radius), bool(gain),
        0.0 if shadow_tau is None else float(shadow_tau), float(shadow_max), float(shadow_var_threshold),
        -1.0 if shadow_texture is None else float(shadow_texture), int(shadow_window) // 2,
        bool(shadow_texture_masked and shadow_tau is not None and shadow_texture is not None),
        bool(shadow_texture_mixture), float(shadow_min_score), scale, use_scale, float(learning_rate),
        float(update_threshold), out,
        np.empty((1, 1, 1), np.float32), False, frames.dtype == np.uint8, bool(gain and gain_clip),
        bool(gain and gain_saturate),
        *_seen_buffers(seen, backgrounds, frames.shape),
    )
    return out


def _seen_buffers(seen: NDArray[np.float32] | None, backgrounds: NDArray[np.float32] | None,
                  shape: tuple[int, ...]) -> tuple[NDArray[np.float32], NDArray[np.float32], bool]:
    """The kernel's ``seen_out``, ``background_out`` and ``keep_seen``: the caller's arrays, or placeholders."""
    if seen is None and backgrounds is None:
        placeholder = np.empty((1, 1, 1, 1), np.float32)
        return placeholder, placeholder, False
    if seen is None or backgrounds is None:
        raise ValueError("seen and backgrounds go together")
    for name, array in (("seen", seen), ("backgrounds", backgrounds)):
        if array.shape != shape or array.dtype != np.float32 or not array.flags.c_contiguous:
            raise ValueError(f"{name} must be a C-contiguous float32 array of shape {shape}, got {array.dtype} "
                             f"{array.shape}")
    return seen, backgrounds, True


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
    _score_block_kernel(means.shape[2])(  # type: ignore[operator]
        frames, means, whiten, mean_var, np.ascontiguousarray(is_background, bool),
        np.ascontiguousarray(first, np.int64), np.ones((height, width), np.bool_), int(radius), bool(gain),
        0.0, 1.0, 0.0, -1.0, 1, False, False, 0.0, np.ones((1, 1), np.float32), False, 0.0, 0.0, out, own,
        True, frames.dtype == np.uint8, bool(gain and gain_clip),
        bool(gain and gain_saturate), *_seen_buffers(None, None, frames.shape),
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
