"""Classification: squared Mahalanobis distance of every sample to its pixel's nearest background
component (full covariances), with the background components chosen in the same pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numba
import numpy as np
from numba import prange
from numpy.typing import NDArray

from bgsub.kernels.lanes import _ixn
from bgsub.kernels.vecmath import _FASTMATH, _PIVOT_FLOOR

__all__ = ['background_components', 'min_background_d2_full', 'min_background_d2_ranked']

# ----------------------------------------------------------------------------------------------
# Classification: squared Mahalanobis distance to the nearest background component
# ----------------------------------------------------------------------------------------------

#: Pixels per block of the classification (the SIMD lanes of its inner loop). A block's parameters
#: (``9 K`` float64 rows of this many lanes, 27 KB for K = 3) stay in L1 over all frames; at 240x320,
#: K = 3, one thread: 64 lanes 11.7 ms, 128 lanes 9.5 ms, 160 10.5 ms, 256 18.8 ms, 1024 61.5 ms (rows
#: a power-of-two multiple of 4 KB apart evict each other: 4K aliasing).
_CLASSIFY_LANES = 128


@numba.njit(cache=True, error_model="numpy")
def _select_background(
    weights: NDArray,
    cov: NDArray,
    background_ratio: float,
    by_sigma: bool,
    out: NDArray,
    start: int = 0,
    stop: int = -1,
) -> None:
    """``is_background (N, K)`` as :func:`bgsub.ranking.rank_components` then
    :func:`bgsub.ranking.background_mask` (float64, stable order, same sums in the same order)."""
    n_pixels, n_components = weights.shape
    key = np.empty(n_components)
    order = np.empty(n_components, dtype=np.int64)
    n_channels = cov.shape[2]
    for p in range(start, n_pixels if stop < 0 else stop):
        for k in range(n_components):
            w = np.float64(weights[p, k])
            if by_sigma:
                trace = 0.0
                for c in range(n_channels):
                    trace += np.float64(cov[p, k, c, c])
                mean_var = trace / n_channels
                w = w / math.sqrt(max(mean_var, _PIVOT_FLOOR))
            key[k] = -w
            order[k] = k
        for i in range(1, n_components):  # stable insertion sort of -key
            j = i
            while j > 0 and key[order[j - 1]] > key[order[j]]:
                order[j - 1], order[j] = order[j], order[j - 1]
                j -= 1
        total = 0.0
        for i in range(n_components):  # np.cumsum(w) - w, as background_mask
            k = order[i]
            w = np.float64(weights[p, k])
            total += w
            out[p, k] = i == 0 or (total - w) < background_ratio


@numba.njit(cache=True, error_model="numpy", inline="always")
def _put_component(
    n_channels: int, means: NDArray, prec: NDArray, p: int, k: int, params: NDArray, j: int, lane: int, lanes: int
) -> None:
    """Component ``k`` of pixel ``p`` as float64 rows ``_classify_rows(C) * j ..`` of lane ``lane``:
    C = 3, the mean (3) and upper factor 00 01 02 11 12 22 (6); C = 1, the mean and the factor."""
    b = _classify_rows(n_channels) * j
    u = prec[p, k]
    if n_channels == 3:
        for c in range(3):
            params[(b + c) * lanes + lane] = np.float64(means[p, k, c])
        params[(b + 3) * lanes + lane] = np.float64(u[0, 0])
        params[(b + 4) * lanes + lane] = np.float64(u[0, 1])
        params[(b + 5) * lanes + lane] = np.float64(u[0, 2])
        params[(b + 6) * lanes + lane] = np.float64(u[1, 1])
        params[(b + 7) * lanes + lane] = np.float64(u[1, 2])
        params[(b + 8) * lanes + lane] = np.float64(u[2, 2])
    else:
        params[b * lanes + lane] = np.float64(means[p, k, 0])
        params[(b + 1) * lanes + lane] = np.float64(u[0, 0])


@numba.njit(cache=True, error_model="numpy", inline="always")
def _classify_rows(n_channels: int) -> int:
    """Float64 rows a component takes in a block's parameters: mean and upper factor."""
    return n_channels + n_channels * (n_channels + 1) // 2


@numba.njit(cache=True, error_model="numpy", inline="always")
def _pack_block(
    n_channels: int,
    n_components: int,
    means: NDArray,
    prec: NDArray,
    is_background: NDArray,
    p0: int,
    size: int,
    params: NDArray,
) -> None:
    """Parameters (:func:`_put_component`) of every component slot ``j < K`` of pixels
    ``p0 .. p0 + size - 1`` in ``params`` (``_classify_rows(C) K`` rows of ``_CLASSIFY_LANES``
    float64): the background components first, the remaining slots repeating the first
    one (a repeat does not change a minimum), so every pixel runs the same K-step loop."""
    lanes = _CLASSIFY_LANES
    for p in range(size):
        j = 0
        first = 0
        for k in range(n_components):
            if is_background[p0 + p, k]:
                first = k if j == 0 else first
                _put_component(n_channels, means, prec, p0 + p, k, params, j, p, lanes)
                j += 1
        while j < n_components:
            _put_component(n_channels, means, prec, p0 + p, first, params, j, p, lanes)
            j += 1


def _specialise_classify(n_components: int, n_channels: int) -> Callable[..., None]:
    """The classification compiled for ``n_components`` components of ``n_channels`` (1 or 3).

    Both counts are closure constants, so the component and channel loops of the per-pixel body
    unroll and the pixel loop vectorises (pixels as SIMD lanes, float64).
    """

    @numba.njit(cache=True, error_model="numpy", parallel=True, fastmath=_FASTMATH)
    def kernel(frames, weights, cov, background_ratio, by_sigma, select, means, prec, is_background, out):  # noqa: ANN001, ANN202, PLR0913
        n_frames = frames.shape[0]
        n_pixels = frames.shape[1] // n_channels
        lanes = _CLASSIFY_LANES
        rows = _classify_rows(n_channels)
        n_blocks = (n_pixels + lanes - 1) // lanes
        for blk in prange(n_blocks):
            params = np.empty(rows * n_components * lanes)
            p0 = blk * lanes
            size = min(lanes, n_pixels - p0)
            if select:
                _select_background(weights, cov, background_ratio, by_sigma, is_background, p0, p0 + size)
            _pack_block(n_channels, n_components, means, prec, is_background, p0, size, params)
            for t in range(n_frames):
                row = frames[t]
                dst = out[t]
                for p in range(size):
                    if n_channels == 3:
                        best = _d2_min3(n_components, row, np.uint64(3) * np.uint64(p0 + p), params, p)
                    else:
                        best = _d2_min1(n_components, row, np.uint64(p0 + p), params, p)
                    dst[np.uint64(p0 + p)] = best

    return kernel


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH, inline="always")
def _d2_min3(n_components: int, row: NDArray, q: np.uint64, params: NDArray, p: int) -> float:
    """Smallest squared distance of the sample ``row[q : q + 3]`` to the components of lane ``p``."""
    lanes = _CLASSIFY_LANES
    x0 = np.float64(row[q])
    x1 = np.float64(row[q + np.uint64(1)])
    x2 = np.float64(row[q + np.uint64(2)])
    best = np.inf
    for j in range(n_components):
        b = 9 * j
        d0 = x0 - params[_ixn(b, lanes, p)]
        d1 = x1 - params[_ixn(b + 1, lanes, p)]
        d2 = x2 - params[_ixn(b + 2, lanes, p)]
        y0 = d0 * params[_ixn(b + 3, lanes, p)]
        y1 = d0 * params[_ixn(b + 4, lanes, p)] + d1 * params[_ixn(b + 6, lanes, p)]
        y2 = (
            d0 * params[_ixn(b + 5, lanes, p)]
            + d1 * params[_ixn(b + 7, lanes, p)]
            + d2 * params[_ixn(b + 8, lanes, p)]
        )
        d2sum = y0 * y0 + y1 * y1 + y2 * y2
        best = d2sum if d2sum < best else best
    return best


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH, inline="always")
def _d2_min1(n_components: int, row: NDArray, q: np.uint64, params: NDArray, p: int) -> float:
    """Smallest squared distance of the sample ``row[q]`` to the components of lane ``p``."""
    lanes = _CLASSIFY_LANES
    x = np.float64(row[q])
    best = np.inf
    for j in range(n_components):
        y = (x - params[_ixn(2 * j, lanes, p)]) * params[_ixn(2 * j + 1, lanes, p)]
        d2 = y * y
        best = d2 if d2 < best else best
    return best


#: ``(K, C) -> kernel``, compiled on first use.
_CLASSIFY_KERNELS: dict[tuple[int, int], Callable[..., None]] = {}


def _classify_kernel_for(n_components: int, n_channels: int) -> Callable[..., None]:
    """The cached classification kernel for ``n_components`` components of ``n_channels`` (1 or 3)."""
    key = (n_components, n_channels)
    if key not in _CLASSIFY_KERNELS:
        _CLASSIFY_KERNELS[key] = _specialise_classify(n_components, n_channels)
    return _CLASSIFY_KERNELS[key]


_CLASSIFY_BLOCK = 256
#: Samples converted to float64 per kernel call of the classification (64 MB).
_CLASSIFY_VALUES = 1 << 23


@numba.njit(cache=True, error_model="numpy", parallel=True, fastmath=_FASTMATH)
def _min_background_d2_kernel(
    flat: NDArray, means: NDArray, prec: NDArray, is_background: NDArray, out: NDArray
) -> None:
    n_frames, n_pixels, n_channels = flat.shape
    n_components = means.shape[1]
    n_blocks = (n_pixels + _CLASSIFY_BLOCK - 1) // _CLASSIFY_BLOCK
    for blk in prange(n_blocks):
        p0 = blk * _CLASSIFY_BLOCK
        size = min(_CLASSIFY_BLOCK, n_pixels - p0)
        # per-block parameters, pixel last: U[k, i, j, p] and m[k, j, p] = sum_i mu_i U_ij
        U = np.zeros((n_components, n_channels, n_channels, size))
        m = np.zeros((n_components, n_channels, size))
        bg = np.empty((n_components, size))
        for p in range(size):
            for k in range(n_components):
                bg[k, p] = 0.0 if is_background[p0 + p, k] else np.inf
                for j in range(n_channels):
                    acc = 0.0
                    for i in range(j + 1):
                        u = np.float64(prec[p0 + p, k, i, j])
                        U[k, i, j, p] = u
                        acc += np.float64(means[p0 + p, k, i]) * u
                    m[k, j, p] = acc
        x = np.empty((n_channels, size))
        y = np.empty(size)
        d2 = np.empty(size)
        best = np.empty(size)
        for t in range(n_frames):
            for p in range(size):
                for c in range(n_channels):
                    x[c, p] = flat[t, p0 + p, c]
            for p in range(size):
                best[p] = np.inf
            for k in range(n_components):
                for p in range(size):
                    d2[p] = bg[k, p]
                for j in range(n_channels):
                    for p in range(size):
                        y[p] = -m[k, j, p]
                    for i in range(j + 1):
                        for p in range(size):
                            y[p] += x[i, p] * U[k, i, j, p]
                    for p in range(size):
                        d2[p] += y[p] * y[p]
                for p in range(size):
                    best[p] = d2[p] if d2[p] < best[p] else best[p]
            for p in range(size):
                out[t, p0 + p] = best[p]


def background_components(
    weights: NDArray, covariances: NDArray, background_ratio: float, rank_by: str
) -> NDArray[np.bool_]:
    """Which components of each pixel are background (full covariances).

    Parameters
    ----------
    weights : ndarray of shape (N, K)
    covariances : ndarray of shape (N, K, C, C)
    background_ratio : float
    rank_by : {"weight", "weight_over_sigma"}

    Returns
    -------
    is_background : ndarray of shape (N, K), bool
        As ``rank_components`` then ``background_mask`` of :mod:`bgsub.ranking`.
    """
    if rank_by not in ("weight", "weight_over_sigma"):
        raise ValueError(f"by must be one of ('weight', 'weight_over_sigma'), got {rank_by!r}")
    out = np.empty(weights.shape, dtype=np.bool_)
    _select_background(np.ascontiguousarray(weights), np.ascontiguousarray(covariances), float(background_ratio),
                       rank_by == "weight_over_sigma", out)  # fmt: skip
    return out


def min_background_d2_ranked(
    flat: NDArray,
    weights: NDArray,
    means: NDArray,
    covariances: NDArray,
    precisions_cholesky: NDArray,
    background_ratio: float,
    rank_by: str,
) -> NDArray[np.float32]:
    """:func:`min_background_d2_full` with the background components chosen from the weights
    (:func:`background_components`), for ``C`` 1 or 3 in the same parallel pass over the pixels.

    Parameters
    ----------
    flat : ndarray of shape (T, N, C)
    weights : ndarray of shape (N, K)
    means : ndarray of shape (N, K, C)
    covariances, precisions_cholesky : ndarray of shape (N, K, C, C)
    background_ratio : float
    rank_by : {"weight", "weight_over_sigma"}

    Returns
    -------
    d2 : ndarray of shape (T, N), float32
    """
    if flat.shape[2] not in (1, 3) or flat.dtype not in (np.uint8, np.float32, np.float64):
        is_background = background_components(weights, covariances, background_ratio, rank_by)
        return min_background_d2_full(flat, means, precisions_cholesky, is_background)
    if rank_by not in ("weight", "weight_over_sigma"):
        raise ValueError(f"by must be one of ('weight', 'weight_over_sigma'), got {rank_by!r}")
    out = np.empty(flat.shape[:2], dtype=np.float32)
    is_background = np.empty(weights.shape, dtype=np.bool_)
    _classify_kernel_for(*means.shape[1:])(
        np.ascontiguousarray(flat).reshape(flat.shape[0], -1),
        np.ascontiguousarray(weights, dtype=np.float32), np.ascontiguousarray(covariances, dtype=np.float32),
        float(background_ratio), rank_by == "weight_over_sigma", True,
        np.ascontiguousarray(means, dtype=np.float32), np.ascontiguousarray(precisions_cholesky, dtype=np.float32),
        is_background, out,
    )  # fmt: skip
    return out


def min_background_d2_full(
    flat: NDArray, means: NDArray, precisions_cholesky: NDArray, is_background: NDArray
) -> NDArray[np.float32]:
    """Squared Mahalanobis distance of every sample to its pixel's nearest background component.

    Parameters
    ----------
    flat : ndarray of shape (T, N, C)
        Samples on the 0-255 scale (converted to float64 a block of frames at a time).
    means : ndarray of shape (N, K, C)
    precisions_cholesky : ndarray of shape (N, K, C, C)
        Upper triangular factors (``inv(cov) = U @ U.T``).
    is_background : ndarray of shape (N, K), bool
        At least one True per pixel.

    Returns
    -------
    d2 : ndarray of shape (T, N), float32
    """
    out = np.empty(flat.shape[:2], dtype=np.float32)
    means = np.ascontiguousarray(means, dtype=np.float32)
    prec = np.ascontiguousarray(precisions_cholesky, dtype=np.float32)
    is_background = np.ascontiguousarray(is_background, dtype=np.bool_)
    if flat.shape[2] in (1, 3) and flat.dtype in (np.uint8, np.float32, np.float64):
        # reads the frames as they are (no float64 copy); pixels as SIMD lanes, float64 arithmetic
        # (float32 would be ~1e-6 relative; the numpy path is float64; tests hold the two to RTOL = 1e-4 relative)
        frames = np.ascontiguousarray(flat).reshape(flat.shape[0], -1)
        none = np.empty((1, 1, 1, 1), dtype=np.float32)  # no selection: weights, covariances unused
        kernel = _classify_kernel_for(*means.shape[1:])
        kernel(frames, none[0, 0], none, 1.0, False, False, means, prec, is_background, out)
        return out
    step = max(1, _CLASSIFY_VALUES // max(1, flat.shape[1] * flat.shape[2]))
    for start in range(0, flat.shape[0], step):
        block = slice(start, start + step)
        samples = np.ascontiguousarray(flat[block], dtype=np.float64)
        _min_background_d2_kernel(samples, means, prec, is_background, out[block])
    return out
