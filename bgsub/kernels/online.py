"""Numba kernel of the adaptive (MOG2) per-frame update of :class:`bgsub.online.AdaptiveGaussianMixture`.

The numpy reference vectorises over pixels and loops over components; this kernel loops over
pixels and runs each pixel's component loop, then its shadow test, as scalar float32 code in the
same order and with the same float32 roundings as the reference (no fast-math), so the two give
the same bytes. Small frames run on one thread (a parallel launch per frame costs more than it
saves); large ones in coarse blocks of pixels over threads.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange
from numpy.typing import NDArray

__all__ = ["update"]

#: Pixels per task of the parallel update.
_BLOCK = 16384
#: Frames with fewer pixels are updated on one thread: a parallel launch (numba's omp layer) was
#: measured at 8 ms on this shared 2-core machine, more than the serial update of a 480x640 frame.
#: Re-measured quiet (2026-11, 240x320, 50 frames of ``apply``): serial 703 fps, row bands over two
#: threads 491 (omp), 349 (workqueue), 597 (omp with OMP_WAIT_POLICY=active): the threads go idle
#: between frames and waking them costs more than half a frame's update (~0.5 ms).
_PARALLEL_PIXELS = 1 << 22


@numba.njit(cache=True, inline="always")
def _rotate_up(weights: NDArray, variances: NDArray, means: NDArray, n: int, src: int, dst: int) -> None:
    """Move component ``src`` of pixel ``n`` to position ``dst < src``, shifting ``dst..src-1`` down."""
    w = weights[src, n]
    v = variances[src, n]
    for k in range(src, dst, -1):
        weights[k, n] = weights[k - 1, n]
        variances[k, n] = variances[k - 1, n]
    weights[dst, n] = w
    variances[dst, n] = v
    for c in range(means.shape[1]):
        m = means[src, c, n]
        for k in range(src, dst, -1):
            means[k, c, n] = means[k - 1, c, n]
        means[dst, c, n] = m


@numba.njit(cache=True)
def _update_range(
    start: int,
    stop: int,
    data: NDArray,
    weights: NDArray,
    variances: NDArray,
    means: NDArray,
    n_modes: NDArray,
    f32: NDArray,
    scores: NDArray,
    shadow: NDArray,
) -> None:
    """MOG2 update of pixels ``start .. stop - 1`` (the reference's operations in its order), then
    the shadow test of each."""
    alpha_t, alpha1, prune, tb, tg, var_min, var_max, var_init, eps, no_model = (
        f32[0], f32[1], f32[2], f32[3], f32[4], f32[5], f32[6], f32[7], f32[8], f32[9],
    )  # fmt: skip
    tau, big_tb, detect = f32[10], f32[11], f32[12] != 0
    k_max = weights.shape[0]
    n_channels = data.shape[0]
    zero = np.float32(0.0)
    one = np.float32(1.0)
    for n in range(start, stop):
        nm = np.int64(n_modes[n])
        total = zero
        fitted = False
        match_pos = -1
        score = no_model
        for k in range(k_max):
            if nm <= k:
                break
            wk = weights[k, n] * alpha1
            wk = wk + prune
            if not fitted:
                dist2 = zero
                for c in range(n_channels):
                    d = means[k, c, n] - data[c, n]
                    dist2 = d * d if c == 0 else dist2 + d * d
                var = variances[k, n]
                if total < tb:
                    ratio = dist2 / var
                    score = ratio if ratio < score else score
                if dist2 < tg * var:
                    wk = wk + alpha_t
                    rate = alpha_t / wk
                    for c in range(n_channels):
                        d = means[k, c, n] - data[c, n]
                        means[k, c, n] = means[k, c, n] - rate * d
                    var_new = var + rate * (dist2 - var)
                    var_new = min(max(var_new, var_min), var_max)
                    variances[k, n] = var_new
                    fitted = True
                    match_pos = k
            if wk < -prune:
                wk = zero
                nm -= 1
            total = total + wk
            weights[k, n] = wk
        if match_pos > 0:
            w_src = weights[match_pos, n]
            dst = 0
            for k in range(match_pos):
                if weights[k, n] > w_src:
                    dst += 1
            if dst < match_pos:
                _rotate_up(weights, variances, means, n, match_pos, dst)
        inv = one / total if abs(total) > eps else zero
        for k in range(nm):
            weights[k, n] = weights[k, n] * inv
        if not fitted and alpha_t > 0:
            if nm < k_max:
                nm += 1
            pos = nm - 1
            dst = 0
            for k in range(pos):
                weights[k, n] = weights[k, n] * alpha1
                if weights[k, n] > alpha_t:
                    dst += 1
            weights[pos, n] = one if nm == 1 else alpha_t
            variances[pos, n] = var_init
            for c in range(n_channels):
                means[pos, c, n] = data[c, n]
            if dst < pos:
                _rotate_up(weights, variances, means, n, pos, dst)
        n_modes[n] = nm
        scores[n] = score
        shadow[n] = detect and score > big_tb and _is_shadow(n, data, weights, variances, means, nm, tb, big_tb, tau)


@numba.njit(cache=True, inline="always")
def _is_shadow(
    n: int,
    data: NDArray,
    weights: NDArray,
    variances: NDArray,
    means: NDArray,
    nm: int,
    tb: float,
    big_tb: float,
    tau: float,
) -> bool:
    """MOG2's shadow test of pixel ``n`` against its updated model (``AdaptiveGaussianMixture._shadow_test``)."""
    n_channels = data.shape[0]
    t_weight = np.float32(0.0)
    for k in range(nm):
        num = data[0, n] * means[k, 0, n]
        den = means[k, 0, n] * means[k, 0, n]
        for c in range(1, n_channels):
            num = num + data[c, n] * means[k, c, n]
            den = den + means[k, c, n] * means[k, c, n]
        if den == 0:
            return False
        if num <= den and num >= tau * den:
            a = num / den
            dist2a = np.float32(0.0)
            for c in range(n_channels):
                d = a * means[k, c, n] - data[c, n]
                dist2a = d * d if c == 0 else dist2a + d * d
            if dist2a < big_tb * variances[k, n] * a * a:
                return True
        t_weight = t_weight + weights[k, n]
        if t_weight > tb:
            return False
    return False


@numba.njit(cache=True)
def _update_serial(
    data: NDArray,
    weights: NDArray,
    variances: NDArray,
    means: NDArray,
    n_modes: NDArray,
    f32: NDArray,
    scores: NDArray,
    shadow: NDArray,
) -> None:
    _update_range(0, data.shape[1], data, weights, variances, means, n_modes, f32, scores, shadow)


@numba.njit(cache=True, parallel=True)
def _update_parallel(
    data: NDArray,
    weights: NDArray,
    variances: NDArray,
    means: NDArray,
    n_modes: NDArray,
    f32: NDArray,
    scores: NDArray,
    shadow: NDArray,
) -> None:
    n_pixels = data.shape[1]
    n_blocks = (n_pixels + _BLOCK - 1) // _BLOCK
    for blk in prange(n_blocks):  # coarse blocks: one launch, few scheduling steps
        stop = min((blk + 1) * _BLOCK, n_pixels)
        _update_range(blk * _BLOCK, stop, data, weights, variances, means, n_modes, f32, scores, shadow)


def update(
    data: NDArray[np.float32],
    weights: NDArray[np.float32],
    variances: NDArray[np.float32],
    means: NDArray[np.float32],
    n_modes: NDArray[np.uint8],
    constants: NDArray[np.float32],
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """One MOG2 update of every pixel, in place, and the shadow test of its foreground pixels.

    Parameters
    ----------
    data : ndarray of shape (C, N), float32
    weights, variances : ndarray of shape (K, N), float32
    means : ndarray of shape (K, C, N), float32
    n_modes : ndarray of shape (N,), uint8
    constants : ndarray of shape (13,), float32
        ``alpha, 1 - alpha, prune, background_ratio, var_threshold_gen, var_min, var_max,
        var_init, FLT_EPSILON, score of a pixel without model, shadow_threshold, var_threshold,
        detect_shadows (1 or 0)`` as the reference computes them.

    Returns
    -------
    scores : ndarray of shape (N,), float32
    shadow : ndarray of shape (N,), bool
        Pixels with ``score > var_threshold`` that pass the shadow test (all False without it).
    """
    n_pixels = data.shape[1]
    scores = np.empty(n_pixels, dtype=np.float32)
    shadow = np.empty(n_pixels, dtype=np.bool_)
    # a parallel launch costs more than it saves on small frames (and on a loaded machine)
    kernel = _update_parallel if n_pixels >= _PARALLEL_PIXELS and numba.get_num_threads() > 1 else _update_serial
    kernel(data, weights, variances, means, n_modes, constants, scores, shadow)
    return scores, shadow
