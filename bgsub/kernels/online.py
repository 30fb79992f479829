"""Numba kernel of the adaptive (MOG2) per-frame update of :class:`bgsub.online.AdaptiveGaussianMixture`.

The numpy reference vectorises over pixels and loops over components; this kernel loops over
pixels (threads over pixels, ``prange``) and runs each pixel's component loop as scalar float32
code, in the same order and with the same float32 roundings as the reference (no fast-math), so
the two give the same bytes.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange
from numpy.typing import NDArray

__all__ = ["update"]


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


@numba.njit(cache=True, parallel=True)
def _update_kernel(
    data: NDArray,
    weights: NDArray,
    variances: NDArray,
    means: NDArray,
    n_modes: NDArray,
    f32: NDArray,
    scores: NDArray,
) -> None:
    alpha_t, alpha1, prune, tb, tg, var_min, var_max, var_init, eps, no_model = (
        f32[0], f32[1], f32[2], f32[3], f32[4], f32[5], f32[6], f32[7], f32[8], f32[9],
    )  # fmt: skip
    k_max = weights.shape[0]
    n_channels, n_pixels = data.shape
    zero = np.float32(0.0)
    one = np.float32(1.0)
    for n in prange(n_pixels):
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


def update(
    data: NDArray[np.float32],
    weights: NDArray[np.float32],
    variances: NDArray[np.float32],
    means: NDArray[np.float32],
    n_modes: NDArray[np.uint8],
    constants: NDArray[np.float32],
) -> NDArray[np.float32]:
    """One MOG2 update of every pixel, in place; return the scores ``(N,)`` float32.

    Parameters
    ----------
    data : ndarray of shape (C, N), float32
    weights, variances : ndarray of shape (K, N), float32
    means : ndarray of shape (K, C, N), float32
    n_modes : ndarray of shape (N,), uint8
    constants : ndarray of shape (10,), float32
        ``alpha, 1 - alpha, prune, background_ratio, var_threshold_gen, var_min, var_max,
        var_init, FLT_EPSILON, score of a pixel without model`` as the reference computes them.
    """
    scores = np.empty(data.shape[1], dtype=np.float32)
    _update_kernel(data, weights, variances, means, n_modes, constants, scores)
    return scores
