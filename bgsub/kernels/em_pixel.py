"""Per-pixel EM with full covariances in float64 (any channel count, or when every iteration's lower
bound is kept): one pixel per thread, the time axis as the SIMD axis.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange
from numpy.typing import NDArray

from bgsub.kernels.kmeans import _kmeans
from bgsub.kernels.vecmath import _EPS10, _FASTMATH, _LOG_2PI, _PIVOT_FLOOR, _exp_nonpositive

__all__ = []

#: Samples per product in the lower bound's log (a product of 64 values in [1, K] stays finite).
_PROD_BLOCK = 64

# ----------------------------------------------------------------------------------------------
# Small per-pixel linear algebra (C x C, C tiny)
# ----------------------------------------------------------------------------------------------


@numba.njit(cache=True, error_model="numpy", inline="always")
def _precision_cholesky(cov: NDArray, low: NDArray, out: NDArray) -> None:
    """Upper ``U`` with ``inv(cov) = U @ U.T`` (``U = inv(chol(cov)).T``), pivots floored as numpy."""
    n = cov.shape[0]
    for j in range(n):
        pivot = cov[j, j]
        for k in range(j):
            pivot -= low[j, k] * low[j, k]
        low[j, j] = math.sqrt(max(pivot, _PIVOT_FLOOR))
        for i in range(j + 1, n):
            off = cov[i, j]
            for k in range(j):
                off -= low[i, k] * low[j, k]
            low[i, j] = off / low[j, j]
    for i in range(n):
        for j in range(n):
            out[i, j] = 0.0
    for i in range(n):  # out = inv(low).T, forward substitution as bgsub.mixture_em._invert_lower
        out[i, i] = 1.0 / low[i, i]
        for j in range(i):
            acc = low[i, j] * out[j, j]
            for k in range(j + 1, i):
                acc += low[i, k] * out[j, k]
            out[j, i] = -acc / low[i, i]



# ----------------------------------------------------------------------------------------------
# E-step and M-step of one pixel
# ----------------------------------------------------------------------------------------------


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _normalise(resp: NDArray, top: NDArray, y: NDArray) -> float:
    """Turn weighted log-probabilities ``resp (K, T)`` into responsibilities; return the mean
    log-likelihood. ``top`` and ``y`` are scratch rows of length T."""
    n_components, n_frames = resp.shape
    for t in range(n_frames):
        top[t] = resp[0, t]
    for k in range(1, n_components):
        row = resp[k]
        for t in range(n_frames):
            top[t] = row[t] if row[t] > top[t] else top[t]
    for t in range(n_frames):
        y[t] = 0.0
    for k in range(n_components):
        row = resp[k]
        for t in range(n_frames):
            e = _exp_nonpositive(row[t] - top[t])
            row[t] = e
            y[t] += e
    bound = 0.0
    for t in range(n_frames):
        bound += top[t]
    for start in range(0, n_frames, _PROD_BLOCK):
        prod = 1.0
        for t in range(start, min(start + _PROD_BLOCK, n_frames)):
            prod *= y[t]
        bound += math.log(prod)
    for t in range(n_frames):
        y[t] = 1.0 / y[t]
    for k in range(n_components):
        row = resp[k]
        for t in range(n_frames):
            row[t] *= y[t]
    return bound / n_frames


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _e_step(
    X: NDArray, weights: NDArray, means: NDArray, prec: NDArray, resp: NDArray, top: NDArray, y: NDArray
) -> float:
    """Responsibilities into ``resp (K, T)``; return the mean log-likelihood (lower bound).

    ``X (C, T)`` centred samples, ``means (K, C)``, ``prec (K, C, C)`` upper Cholesky factors of the
    precisions; ``top`` and ``y`` are scratch rows of length T.
    """
    n_channels, n_frames = X.shape
    n_components = weights.shape[0]
    for k in range(n_components):
        logdet = 0.0
        for c in range(n_channels):
            logdet += math.log(prec[k, c, c])
        offset = logdet + math.log(weights[k]) - 0.5 * n_channels * _LOG_2PI
        row = resp[k]
        for t in range(n_frames):
            row[t] = 0.0
        for j in range(n_channels):
            m = 0.0
            for i in range(j + 1):
                m += means[k, i] * prec[k, i, j]
            for t in range(n_frames):
                y[t] = -m
            for i in range(j + 1):
                u = prec[k, i, j]
                xi = X[i]
                for t in range(n_frames):
                    y[t] += xi[t] * u
            for t in range(n_frames):
                row[t] += y[t] * y[t]
        for t in range(n_frames):
            row[t] = offset - 0.5 * row[t]
    return _normalise(resp, top, y)


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _estimate(
    X: NDArray, resp: NDArray, reg_covar: float, nk: NDArray, means: NDArray, cov: NDArray, d: NDArray
) -> None:
    """Soft counts ``nk (K,)`` (+10 eps), means ``(K, C)`` and full covariances ``(K, C, C)`` from
    ``resp (K, T)``, as scikit-learn (covariances from samples centred on the new means); ``d (C, T)``
    is scratch."""
    n_channels, n_frames = X.shape
    for k in range(resp.shape[0]):
        r = resp[k]
        total = 0.0
        for t in range(n_frames):
            total += r[t]
        nk[k] = total + _EPS10
        for c in range(n_channels):
            xc = X[c]
            acc = 0.0
            for t in range(n_frames):
                acc += r[t] * xc[t]
            means[k, c] = acc / nk[k]
        for c in range(n_channels):
            mc = means[k, c]
            xc = X[c]
            dc = d[c]
            for t in range(n_frames):
                dc[t] = xc[t] - mc
        for a in range(n_channels):
            da = d[a]
            for b in range(a + 1):
                db = d[b]
                acc = 0.0
                for t in range(n_frames):
                    acc += r[t] * da[t] * db[t]
                value = acc / nk[k]
                cov[k, a, b] = value
                cov[k, b, a] = value
            cov[k, a, a] += reg_covar


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _e_step3(
    X: NDArray, weights: NDArray, means: NDArray, prec: NDArray, resp: NDArray, top: NDArray, y: NDArray
) -> float:
    """:func:`_e_step` for C = 3, one fused pass over the samples per component."""
    n_frames = X.shape[1]
    n_components = weights.shape[0]
    x0, x1, x2 = X[0], X[1], X[2]
    for k in range(n_components):
        u = prec[k]
        offset = math.log(u[0, 0]) + math.log(u[1, 1]) + math.log(u[2, 2]) + math.log(weights[k]) - 1.5 * _LOG_2PI
        mu0, mu1, mu2 = means[k, 0], means[k, 1], means[k, 2]
        u00, u01, u02, u11, u12, u22 = u[0, 0], u[0, 1], u[0, 2], u[1, 1], u[1, 2], u[2, 2]
        row = resp[k]
        for t in range(n_frames):
            d0 = x0[t] - mu0
            d1 = x1[t] - mu1
            d2 = x2[t] - mu2
            y0 = d0 * u00
            y1 = d0 * u01 + d1 * u11
            y2 = d0 * u02 + d1 * u12 + d2 * u22
            row[t] = offset - 0.5 * (y0 * y0 + y1 * y1 + y2 * y2)
    return _normalise(resp, top, y)


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _estimate3(
    X: NDArray, resp: NDArray, reg_covar: float, nk: NDArray, means: NDArray, cov: NDArray, d: NDArray
) -> None:
    """:func:`_estimate` for C = 3: one pass for counts and means, one for the centred moments."""
    n_frames = X.shape[1]
    x0, x1, x2 = X[0], X[1], X[2]
    for k in range(resp.shape[0]):
        r = resp[k]
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        s3 = 0.0
        for t in range(n_frames):
            s0 += r[t]
            s1 += r[t] * x0[t]
            s2 += r[t] * x1[t]
            s3 += r[t] * x2[t]
        n = s0 + _EPS10
        nk[k] = n
        m0, m1, m2 = s1 / n, s2 / n, s3 / n
        means[k, 0], means[k, 1], means[k, 2] = m0, m1, m2
        c00 = 0.0
        c10 = 0.0
        c11 = 0.0
        c20 = 0.0
        c21 = 0.0
        c22 = 0.0
        for t in range(n_frames):
            d0 = x0[t] - m0
            d1 = x1[t] - m1
            d2 = x2[t] - m2
            r0 = r[t] * d0
            r1 = r[t] * d1
            r2 = r[t] * d2
            c00 += r0 * d0
            c10 += r1 * d0
            c11 += r1 * d1
            c20 += r2 * d0
            c21 += r2 * d1
            c22 += r2 * d2
        c = cov[k]
        c[0, 0] = c00 / n + reg_covar
        c[1, 1] = c11 / n + reg_covar
        c[2, 2] = c22 / n + reg_covar
        c[1, 0] = c[0, 1] = c10 / n
        c[2, 0] = c[0, 2] = c20 / n
        c[2, 1] = c[1, 2] = c21 / n


@numba.njit(cache=True, error_model="numpy")
def _fit_pixel(
    X: NDArray,
    have_init: bool,
    w_init: NDArray,
    m_init: NDArray,
    p_init: NDArray,
    tol: float,
    reg_covar: float,
    max_iter: int,
    weights: NDArray,
    means: NDArray,
    cov: NDArray,
    prec: NDArray,
    history: NDArray,
    scratch: NDArray,
    resp: NDArray,
    labels: NDArray,
) -> tuple[bool, int, float]:
    """EM of one pixel on its samples ``X (C, T)``; fills the parameter arrays.

    Returns ``(converged, n_iter, lower_bound)``; ``history`` (length 0 or ``max_iter``) gets the
    lower bound after every iteration, the last value repeated.
    """
    n_channels, n_frames = X.shape
    n_components = weights.shape[0]
    low = np.zeros((n_channels, n_channels))
    nk = np.empty(n_components)
    if have_init:  # loops: the slice assignments' shape-mismatch error messages took ~5 s to compile
        for k in range(n_components):
            weights[k] = w_init[k]
            for c in range(n_channels):
                means[k, c] = m_init[k, c]
                for d in range(n_channels):
                    prec[k, c, d] = p_init[k, c, d]
    else:
        centres = np.empty((n_components, n_channels))
        _kmeans(X, centres, labels[0], labels[1], scratch)
        for k in range(n_components):
            for t in range(n_frames):
                resp[k, t] = 1.0 if labels[0, t] == k else 0.0
        if n_channels == 3:
            _estimate3(X, resp, reg_covar, nk, means, cov, scratch)
        else:
            _estimate(X, resp, reg_covar, nk, means, cov, scratch)
        for k in range(n_components):
            if nk[k] == _EPS10:  # empty cluster keeps its k-means centre
                for c in range(n_channels):
                    means[k, c] = centres[k, c]
            weights[k] = nk[k] / n_frames
            _precision_cholesky(cov[k], low, prec[k])
    lower_bound = -np.inf
    converged = False
    n_iter = 0
    for it in range(1, max_iter + 1):
        if n_channels == 3:
            bound = _e_step3(X, weights, means, prec, resp, scratch[0], scratch[1])
            _estimate3(X, resp, reg_covar, nk, means, cov, scratch)
        else:
            bound = _e_step(X, weights, means, prec, resp, scratch[0], scratch[1])
            _estimate(X, resp, reg_covar, nk, means, cov, scratch)
        total = 0.0
        for k in range(n_components):
            total += nk[k]
        for k in range(n_components):
            weights[k] = nk[k] / total
            _precision_cholesky(cov[k], low, prec[k])
        change = bound - lower_bound
        lower_bound = bound
        n_iter = it
        for i in range(it - 1, history.shape[0]):
            history[i] = bound
        if abs(change) < tol:
            converged = True
            break
    return converged, n_iter, lower_bound


@numba.njit(cache=True, error_model="numpy", inline="always")
def _weight_order(weights: NDArray, order: NDArray) -> None:
    """``order (K,)`` := components by descending weight, ties in index order (as
    ``np.argsort(-weights, kind="stable")``): an insertion sort, K is small."""
    for i in range(weights.shape[0]):
        order[i] = i
    for i in range(1, weights.shape[0]):
        j = i
        while j > 0 and weights[order[j - 1]] < weights[order[j]]:
            order[j - 1], order[j] = order[j], order[j - 1]
            j -= 1


@numba.njit(cache=True, error_model="numpy")
def _store_sorted(
    p: int,
    weights: NDArray,
    means: NDArray,
    cov: NDArray,
    prec: NDArray,
    order: NDArray,
    weights_out: NDArray,
    means_out: NDArray,
    cov_out: NDArray,
    prec_out: NDArray,
) -> None:
    """Pixel ``p``'s parameters ``(K,)``, ``(K, C)``, ``(K, C, C)`` into the outputs, components by
    descending weight (converted to the outputs' dtype)."""
    _weight_order(weights, order)
    n_channels = means.shape[1]
    for j in range(weights.shape[0]):  # loops, as in _fit_pixel
        k = order[j]
        weights_out[p, j] = weights[k]
        for c in range(n_channels):
            means_out[p, j, c] = means[k, c]
            for d in range(n_channels):
                cov_out[p, j, c, d] = cov[k, c, d]
                prec_out[p, j, c, d] = prec[k, c, d]


@numba.njit(cache=True, error_model="numpy", parallel=True)
def _fit_full_kernel(
    samples: NDArray,
    have_init: bool,
    w_init: NDArray,
    m_init: NDArray,
    p_init: NDArray,
    tol: float,
    reg_covar: float,
    max_iter: int,
    keep_history: bool,
    weights: NDArray,
    means: NDArray,
    cov: NDArray,
    prec: NDArray,
    converged: NDArray,
    n_iter: NDArray,
    lower_bound: NDArray,
    history: NDArray,
) -> None:
    n_frames, n_pixels, n_channels = samples.shape
    n_components = weights.shape[1]
    for p in prange(n_pixels):
        w = np.empty(n_components)
        m = np.empty((n_components, n_channels))
        v = np.empty((n_components, n_channels, n_channels))
        u = np.empty((n_components, n_channels, n_channels))
        order = np.empty(n_components, dtype=np.int64)
        X = np.empty((n_channels, n_frames))
        for t in range(n_frames):
            for c in range(n_channels):
                X[c, t] = samples[t, p, c]
        scratch = np.empty((max(n_channels, 2), n_frames))
        resp = np.empty((n_components, n_frames))
        labels = np.empty((2, n_frames), dtype=np.int64)
        q = p * np.int64(have_init)
        hist = history[p] if keep_history else history[0, :0]
        conv, nit, bound = _fit_pixel(
            X, have_init, w_init[q], m_init[q], p_init[q], tol, reg_covar, max_iter,
            w, m, v, u, hist, scratch, resp, labels,
        )  # fmt: skip
        _store_sorted(p, w, m, v, u, order, weights, means, cov, prec)
        converged[p] = conv
        n_iter[p] = nit
        lower_bound[p] = bound
