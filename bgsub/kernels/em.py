"""Numba kernels of the batch per-pixel GMM (full covariances): EM fit and background distance.

Same mathematics as the numpy reference in :mod:`bgsub.gmm` (scikit-learn's EM per pixel, the
same deterministic k-means initialisation, the same convergence rule, Cholesky factors of the
precisions with the same pivot floor), but organised for the CPU:

* one pixel at a time per thread: its ``C x T`` samples are gathered once into a float64 scratch
  row block (a few KB, in L1) and every EM iteration of the pixel runs on it;
* the time axis is the SIMD axis: every inner loop is a plain loop over ``T`` samples
  (axpy-like updates and dot-product reductions) that LLVM vectorises;
* ``exp`` is an inlined polynomial (:func:`_exp_nonpositive`, about 1 ulp) so it vectorises
  too, and the ``log`` of the lower bound is taken once per 64 samples of a product;
* threads over pixels (``prange``; dynamic chunks so slow pixels do not stall a thread).

Samples are not centred: scikit-learn's ``10 eps`` guard on the soft counts makes the mean of a
near-empty component shrink towards the origin, so centring would change it.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.extending import intrinsic
from numpy.typing import NDArray

__all__ = ["fit_full", "min_background_d2_full"]

_FASTMATH = {"reassoc", "contract"}  # reorder sums (vectorised reductions), fuse multiply-adds
_EPS10 = 10.0 * np.finfo(np.float64).eps
_PIVOT_FLOOR = 1e-12
_LOG_2PI = math.log(2.0 * math.pi)
_KMEANS_MAX_ITER = 20
_LOG2E = 1.4426950408889634
_LN2_HI = 0.6931471803691238
_LN2_LO = 1.9082149292705877e-10
#: Samples per product in the lower bound's log (a product of 64 values in [1, K] stays finite).
_PROD_BLOCK = 64


@intrinsic
def _int64_bits_as_float64(typingctx, bits):  # type: ignore[no-untyped-def]
    """Reinterpret the bits of an int64 as a float64 (one LLVM bitcast; vectorises)."""
    if not isinstance(bits, types.Integer):
        return None
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@numba.njit(cache=True, fastmath=_FASTMATH, inline="always")
def _exp_nonpositive(x: float) -> float:
    """``exp(x)`` for ``x <= 0`` (0 below -708): range reduction by ln 2 and a degree-12 Taylor
    polynomial (truncation error below 2e-16 relative), so it vectorises unlike libm's exp."""
    xc = x if x > -708.0 else -708.0
    n = np.floor(xc * _LOG2E + 0.5)
    r = (xc - n * _LN2_HI) - n * _LN2_LO
    p = 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    scale = _int64_bits_as_float64((np.int64(n) + 1023) << 52)
    return p * scale if x > -708.0 else 0.0


# ----------------------------------------------------------------------------------------------
# Small per-pixel linear algebra (C x C, C tiny)
# ----------------------------------------------------------------------------------------------


@numba.njit(cache=True, inline="always")
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
    for i in range(n):  # out = inv(low).T, forward substitution as bgsub.gmm._invert_lower
        out[i, i] = 1.0 / low[i, i]
        for j in range(i):
            acc = low[i, j] * out[j, j]
            for k in range(j + 1, i):
                acc += low[i, k] * out[j, k]
            out[j, i] = -acc / low[i, i]


# ----------------------------------------------------------------------------------------------
# k-means initialisation of one pixel (bgsub.gmm._kmeans_resp, exactly)
# ----------------------------------------------------------------------------------------------


@numba.njit(cache=True, fastmath=_FASTMATH, inline="always")
def _sq_dist_to(X: NDArray, centre: NDArray, out: NDArray) -> None:
    """Squared distances ``out (T,)`` of ``X (C, T)`` to ``centre (C,)``, summed channel by channel."""
    n_channels, n_frames = X.shape
    x0 = X[0]
    c0 = centre[0]
    for t in range(n_frames):
        d = x0[t] - c0
        out[t] = d * d
    for c in range(1, n_channels):
        xc = X[c]
        cc = centre[c]
        for t in range(n_frames):
            e = xc[t] - cc
            out[t] += e * e


@numba.njit(cache=True, fastmath=_FASTMATH)
def _nearest_labels(X: NDArray, centres: NDArray, labels: NDArray, best: NDArray, dist: NDArray) -> None:
    _sq_dist_to(X, centres[0], best)
    labels[:] = 0
    for k in range(1, centres.shape[0]):
        _sq_dist_to(X, centres[k], dist)
        for t in range(X.shape[1]):
            if dist[t] < best[t]:
                labels[t] = k
                best[t] = dist[t]


@numba.njit(cache=True, fastmath=_FASTMATH)
def _kmeans(X: NDArray, centres: NDArray, labels: NDArray, new_labels: NDArray, work: NDArray) -> None:
    """Maximin seeding + Lloyd iterations (``bgsub.gmm._kmeans_resp``) on raw samples ``X (C, T)``."""
    n_channels, n_frames = X.shape
    n_components = centres.shape[0]
    nearest, dist = work[0], work[1]
    mean = np.empty(n_channels)
    for c in range(n_channels):
        total = 0.0
        for t in range(n_frames):
            total += X[c, t]
        mean[c] = total / n_frames
    _sq_dist_to(X, mean, nearest)
    first = 0
    for t in range(1, n_frames):
        if nearest[t] < nearest[first]:
            first = t
    for c in range(n_channels):
        centres[0, c] = X[c, first]
    _sq_dist_to(X, centres[0], nearest)
    for k in range(1, n_components):
        far = 0
        for t in range(1, n_frames):
            if nearest[t] > nearest[far]:
                far = t
        for c in range(n_channels):
            centres[k, c] = X[c, far]
        _sq_dist_to(X, centres[k], dist)
        for t in range(n_frames):
            nearest[t] = min(nearest[t], dist[t])
    _nearest_labels(X, centres, labels, nearest, dist)
    for _ in range(_KMEANS_MAX_ITER):
        for k in range(n_components):
            count = 0.0
            for t in range(n_frames):
                count += 1.0 if labels[t] == k else 0.0
            if count > 0:
                for c in range(n_channels):
                    xc = X[c]
                    total = 0.0
                    for t in range(n_frames):
                        total += xc[t] if labels[t] == k else 0.0
                    centres[k, c] = total / count
        _nearest_labels(X, centres, new_labels, nearest, dist)
        changed = False
        for t in range(n_frames):
            if new_labels[t] != labels[t]:
                changed = True
            labels[t] = new_labels[t]
        if not changed:
            break


# ----------------------------------------------------------------------------------------------
# E-step and M-step of one pixel
# ----------------------------------------------------------------------------------------------


@numba.njit(cache=True, fastmath=_FASTMATH)
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


@numba.njit(cache=True, fastmath=_FASTMATH)
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


@numba.njit(cache=True, fastmath=_FASTMATH)
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


@numba.njit(cache=True, fastmath=_FASTMATH)
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


@numba.njit(cache=True, fastmath=_FASTMATH)
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


@numba.njit(cache=True)
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
    if have_init:
        weights[:] = w_init
        means[:] = m_init
        prec[:] = p_init
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


@numba.njit(cache=True, parallel=True)
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
            weights[p], means[p], cov[p], prec[p], hist, scratch, resp, labels,
        )  # fmt: skip
        converged[p] = conv
        n_iter[p] = nit
        lower_bound[p] = bound


def fit_full(
    samples: NDArray,
    n_components: int,
    *,
    tol: float,
    reg_covar: float,
    max_iter: int,
    init: tuple[NDArray, NDArray, NDArray] | None = None,
    keep_history: bool = False,
) -> dict[str, NDArray]:
    """EM with full covariances of every pixel of ``samples (T, P, C)``, one pixel per thread at a time.

    Parameters
    ----------
    samples : ndarray of shape (T, P, C)
        Samples on the 0-255 scale (converted to C-contiguous float64).
    n_components : int
    tol, reg_covar, max_iter
        As :class:`bgsub.gmm.PixelGaussianMixture`.
    init : tuple of ndarray, optional
        ``(weights (P, K), means (P, K, C), precisions_cholesky (P, K, C, C))`` float64 initial
        parameters; None runs the deterministic k-means initialisation in the kernel.
    keep_history : bool
        Also return ``history (P, max_iter)``.

    Returns
    -------
    dict
        Per-pixel float64 ``weights (P, K)``, ``means (P, K, C)``, ``covariances (P, K, C, C)``,
        ``precisions_cholesky (P, K, C, C)``; ``converged (P,)`` bool, ``n_iter (P,)`` int32,
        ``lower_bound (P,)`` float64, ``history (P, max_iter)`` or None.
    """
    samples = np.ascontiguousarray(samples, dtype=np.float64)
    n_frames, n_pixels, n_channels = samples.shape
    k = n_components
    out = {
        "weights": np.empty((n_pixels, k)),
        "means": np.empty((n_pixels, k, n_channels)),
        "covariances": np.empty((n_pixels, k, n_channels, n_channels)),
        "precisions_cholesky": np.empty((n_pixels, k, n_channels, n_channels)),
        "converged": np.empty(n_pixels, dtype=np.bool_),
        "n_iter": np.empty(n_pixels, dtype=np.int32),
        "lower_bound": np.empty(n_pixels),
    }
    history = np.empty((n_pixels if keep_history else 1, max_iter))
    if init is None:
        w0, m0, p0 = np.empty((1, k)), np.empty((1, k, n_channels)), np.empty((1, k, n_channels, n_channels))
    else:
        w0, m0, p0 = (np.ascontiguousarray(a, dtype=np.float64) for a in init)
    previous = numba.set_parallel_chunksize(16)  # dynamic chunks: pixels differ in EM iterations
    try:
        _fit_full_kernel(
            samples, init is not None, w0, m0, p0,
            float(tol), float(reg_covar), int(max_iter), keep_history,
            out["weights"], out["means"], out["covariances"], out["precisions_cholesky"],
            out["converged"], out["n_iter"], out["lower_bound"], history,
        )  # fmt: skip
    finally:
        numba.set_parallel_chunksize(previous)
    out["history"] = history if keep_history else None
    return out


# ----------------------------------------------------------------------------------------------
# Classification: squared Mahalanobis distance to the nearest background component
# ----------------------------------------------------------------------------------------------

_CLASSIFY_BLOCK = 256
#: Samples converted to float64 per kernel call of the classification (64 MB).
_CLASSIFY_VALUES = 1 << 23


@numba.njit(cache=True, parallel=True, fastmath=_FASTMATH)
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
    step = max(1, _CLASSIFY_VALUES // max(1, flat.shape[1] * flat.shape[2]))
    for start in range(0, flat.shape[0], step):
        block = slice(start, start + step)
        samples = np.ascontiguousarray(flat[block], dtype=np.float64)
        _min_background_d2_kernel(samples, means, prec, is_background, out[block])
    return out
