"""Numba kernels of the batch per-pixel GMM (full covariances): EM fit and background distance.

Same mathematics as the numpy reference in :mod:`bgsub.gmm` (scikit-learn's EM per pixel, the
same deterministic k-means initialisation, the same convergence rule, Cholesky factors of the
precisions with the same pivot floor), but organised for the CPU.

C = 3 (colour), the fast path, :func:`_fit3_lanes_kernel` (one compiled kernel per K):

* pixels are the SIMD lanes: an engine of ``_LANES`` pixels keeps its state as struct-of-arrays
  slabs (``row * _LANES + lane``, unsigned indices so the lane loops vectorise) and runs all
  EM iterations of its pixels; a pixel that converges (its own rule and iteration count) is
  written out and its lane takes the next pixel, so no lane waits for a slow pixel. One engine
  per thread, over interleaved batches of ``_LANES`` pixels, so each thread idles lanes only at
  its end; a pixel's result never depends on its lane, engine, thread count or chunk;
* lane loops are branch free (numpy error model: no zero-division checks) and each reads and
  writes rows at constant offsets from one base, so LLVM vectorises them (zmm/ymm on AVX-512);
* one pass over the samples per iteration does the E-step and the M-step's sums in float32
  (Cephes' ``expf`` polynomial, vectorised), the sums taken about the previous means and added
  into float64 every ``_T_BLOCK`` samples, the lower bound's maxima about a per-lane reference
  and its totals as products (no log per sample); the new means, covariances (shifted to the new means
  in float64), weights and Cholesky factors are float64. When the means moved so far that the
  float32 sums lost digits, the pass is repeated about the new means (same E-step);
* the log-likelihood adds back the float32 rounding of each component's log weight + log det,
  so it agrees with the float64 reference to about 1e-7 relative (small ``tol`` keeps working);
* the k-means initialisation is float64 (labels must agree with the reference), with pixels as
  lanes too, a batch of ``_LANES`` pixels at once: maximin seeding (argmin/argmax as select chains),
  Lloyd iterations until no lane changes (a lane that stopped changing is at a fixed point, so each
  pixel gets the result of the per-pixel :func:`_kmeans`, bit for bit for integer samples), then
  the M-step on the one-hot labels and the Cholesky factors. At 120x160, 48 frames, one thread, the
  whole initialisation took 15 ms (K = 2) and 19 ms (K = 3) one pixel at a time (Lloyd iterations
  stopping pixel by pixel), 6.5 and 10 ms now, although a batch runs 4.4 (K = 2) and 5.1 (K = 3)
  Lloyd iterations on average where its pixels need 1.6 and 1.8;
* results are written by the kernel straight into the model's float32 arrays, each pixel's
  components sorted by descending weight (no numpy post-processing).

Other channel counts, and fits that keep the lower bound of every iteration (``keep_history``),
run :func:`_fit_full_kernel`: one pixel at a time per thread in float64, the time axis as the SIMD
axis, an inlined float64 ``exp`` polynomial.

Samples are not centred: scikit-learn's ``10 eps`` guard on the soft counts makes the mean of a
near-empty component shrink towards the origin, so centring would change it.

The classification (squared Mahalanobis distance to the nearest background component) reads the
frames as they come (uint8, no float64 copy), takes blocks of ``_CLASSIFY_LANES`` pixels as SIMD
lanes, chooses the background components per block in the same parallel pass, and computes in
float64, for C = 1 and C = 3 (other channel counts: blocks of pixels on float64 copies of the
samples). K and C are closure constants (one kernel per pair, cached) so the component loop unrolls
inside the vectorised pixel loop, and a block is small enough that its parameters stay in L1
across the frames. At 240x320, 50 frames, K = 3, one thread: 18.8 ms with 256-pixel blocks and
the component loop outside the pixel loop, 9.5 ms now; C = 1: 29 ms on float64 copies, 4.8 ms.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numba
import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.extending import intrinsic
from numpy.typing import NDArray

__all__ = ["background_components", "fit_full", "min_background_d2_full", "min_background_d2_ranked", "runs_in_lanes"]

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


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH, inline="always")
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


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH, inline="always")
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


@numba.njit(cache=True, error_model="numpy", inline="always")
def _argmin_first(values: NDArray) -> int:
    """Index of the first smallest value; a select chain (no data-dependent branch to mispredict)."""
    best = values[0]
    first = 0
    for t in range(1, values.shape[0]):
        v = values[t]
        take = v < best
        best = v if take else best
        first = t if take else first
    return first


@numba.njit(cache=True, error_model="numpy", inline="always")
def _argmax_first(values: NDArray) -> int:
    """Index of the first largest value; a select chain."""
    best = values[0]
    first = 0
    for t in range(1, values.shape[0]):
        v = values[t]
        take = v > best
        best = v if take else best
        first = t if take else first
    return first


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _nearest_labels(X: NDArray, centres: NDArray, labels: NDArray, best: NDArray, dist: NDArray) -> None:
    _sq_dist_to(X, centres[0], best)
    labels[:] = 0
    for k in range(1, centres.shape[0]):
        _sq_dist_to(X, centres[k], dist)
        for t in range(X.shape[1]):
            if dist[t] < best[t]:
                labels[t] = k
                best[t] = dist[t]


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
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
    first = _argmin_first(nearest)
    for c in range(n_channels):
        centres[0, c] = X[c, first]
    _sq_dist_to(X, centres[0], nearest)
    for k in range(1, n_components):
        far = _argmax_first(nearest)
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
    for j in range(weights.shape[0]):
        k = order[j]
        weights_out[p, j] = weights[k]
        means_out[p, j] = means[k]
        cov_out[p, j] = cov[k]
        prec_out[p, j] = prec[k]


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


def runs_in_lanes(n_channels: int, dtype: np.dtype, keep_history: bool) -> bool:
    """Whether :func:`fit_full` runs the float32 lane kernel (reading the samples in place) for
    samples of ``n_channels`` and ``dtype``, rather than the per-pixel kernel on a float64 copy."""
    return n_channels == 3 and not keep_history and np.dtype(dtype) in (np.uint8, np.float32, np.float64)


def fit_full(
    samples: NDArray,
    n_components: int,
    *,
    tol: float,
    reg_covar: float,
    max_iter: int,
    init: tuple[NDArray, NDArray, NDArray] | None = None,
    keep_history: bool = False,
    out: dict[str, NDArray] | None = None,
) -> dict[str, NDArray]:
    """EM with full covariances of every pixel of ``samples (T, P, C)``; results sorted by weight.

    Parameters
    ----------
    samples : ndarray of shape (T, P, C)
        Samples on the 0-255 scale; uint8, float32 or float64 with C = 3 are read as they are (the
        float32 lane kernel), anything else as a C-contiguous float64 copy (one pixel per thread).
    n_components : int
    tol, reg_covar, max_iter
        As :class:`bgsub.gmm.PixelGaussianMixture`.
    init : tuple of ndarray, optional
        ``(weights (P, K), means (P, K, C), precisions_cholesky (P, K, C, C))`` float64 initial
        parameters; None runs the deterministic k-means initialisation in the kernel.
    keep_history : bool
        Also fill ``history (P, max_iter)``.
    out : dict of ndarray, optional
        Arrays to fill (float32 or float64 parameters; views of larger arrays are fine), with the
        keys and shapes below; None allocates them (float32 parameters).

    Returns
    -------
    dict
        ``weights (P, K)``, ``means (P, K, C)``, ``covariances (P, K, C, C)``, ``precisions_cholesky
        (P, K, C, C)``, each pixel's components by descending weight (ties in component order, as
        ``np.argsort(-weights, kind="stable")``); ``converged (P,)`` bool, ``n_iter (P,)`` int32,
        ``lower_bound (P,)`` float64, ``history (P, max_iter)`` float64 or None.
    """
    samples = np.asarray(samples)
    lanes = runs_in_lanes(samples.shape[2], samples.dtype, keep_history)
    if not lanes:
        samples = np.ascontiguousarray(samples, dtype=np.float64)
    n_frames, n_pixels, n_channels = samples.shape
    k = n_components
    if out is None:
        out = {
            "weights": np.empty((n_pixels, k), dtype=np.float32),
            "means": np.empty((n_pixels, k, n_channels), dtype=np.float32),
            "covariances": np.empty((n_pixels, k, n_channels, n_channels), dtype=np.float32),
            "precisions_cholesky": np.empty((n_pixels, k, n_channels, n_channels), dtype=np.float32),
            "converged": np.empty(n_pixels, dtype=np.bool_),
            "n_iter": np.empty(n_pixels, dtype=np.int32),
            "lower_bound": np.empty(n_pixels),
            "history": np.empty((n_pixels, max_iter)) if keep_history else None,
        }
    history = out["history"] if keep_history else np.empty((1, max_iter))
    if init is None:
        w0, m0, p0 = np.empty((1, k)), np.empty((1, k, n_channels)), np.empty((1, k, n_channels, n_channels))
    else:
        w0, m0, p0 = (np.ascontiguousarray(a, dtype=np.float64) for a in init)
    if lanes:
        _fit3_lanes(samples, init, float(tol), float(reg_covar), int(max_iter), keep_history, w0, m0, p0,
                    out, history)  # fmt: skip
        return out
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
    return out


# ----------------------------------------------------------------------------------------------
# C = 3: pixels as SIMD lanes (float32 math, float64 accumulators)
# ----------------------------------------------------------------------------------------------
#
# A thread owns an engine of _LANES lanes, one pixel per lane, struct of arrays (``X[c, t, lane]``,
# ``mu[k, c, lane]``...), so every inner loop is a fixed _LANES-wide loop over lanes that LLVM turns
# into vector instructions. One pass over the samples per EM iteration does
# the E-step and the M-step's sums together: the sums are taken about the means of the E-step
# (``z = x - mu_old``, already computed for the distances) and shifted to the new means in float64
# afterwards, which is exact algebra and keeps the float32 sums small. Sums run in float32 over
# _T_BLOCK samples and are added into float64. When a lane's pixel converges (its own rule, its own
# iteration count, as the reference), its results are written out and the lane takes the next
# pixel: no lane waits for the slowest pixel of a block.

_LANES = 64
_T_BLOCK = 32


@numba.njit(cache=True, error_model="numpy", inline="always")
def _sample_block(n_components: int) -> int:
    """Samples per float32 block of :func:`_lanes_pass`: ``_T_BLOCK``, or fewer when the product of the
    block's totals (each in [1, K]) could exceed float32's range (K >= 16); always even."""
    bits = math.log2(max(n_components, 2))
    return max(2, min(_T_BLOCK, 2 * int(63.0 / bits)))


#: Row length of the sample slab: a lane's samples (one per row) are loaded one by one, and with rows
#: 256 bytes apart they fall into a quarter of the L1 sets and evict each other (loading took 2.5x as long).
_SAMPLE_ROW = _LANES + 16
#: A second pass when a sum of squares about the old mean exceeds this multiple of the centred one
#: (float32 sums keep about 1e-7 of the former; the M-step is stationary, so errors enter squared).
_CANCEL_RATIO = 64.0
#: ... and exceeds it by more than this many squared grey levels per unit of weight.
_CANCEL_SLACK = 1e-6
_F32_HALF = np.float32(0.5)
_F32_ONE = np.float32(1.0)
_F32_ZERO = np.float32(0.0)
_EXP32_MIN = np.float32(-87.0)
#: 1.5 * 2**23: adding it to a float32 of magnitude < 2**22 rounds it to an integer (round to nearest).
_EXP32_SHIFTER = np.float32(12582912.0)
_LOG2E32 = np.float32(1.4426950408889634)
_LN2_HI32 = np.float32(0.693359375)
_LN2_LO32 = np.float32(-2.12194440e-4)
_EXP32_P = tuple(
    np.float32(v)
    for v in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1)
)
_HALF_LOG_2PI3 = 1.5 * _LOG_2PI
_TINY = float(np.finfo(np.float64).tiny)
_SQRT2 = math.sqrt(2.0)
_LN2 = math.log(2.0)


@intrinsic
def _minus_shifter(typingctx, v):  # type: ignore[no-untyped-def]
    """``v - _EXP32_SHIFTER`` in strict float32: a subtraction without fast-math flags, which LLVM may
    not fold with the addition that made ``v`` (``(a + s) - s -> a`` would undo the rounding)."""
    if not isinstance(v, types.Float) or v.bitwidth != 32:
        return None
    sig = types.float32(types.float32)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.fsub(args[0], ir.Constant(ir.FloatType(), float(_EXP32_SHIFTER)))

    return sig, codegen


@intrinsic
def _scale_by_rounded(typingctx, y, v):  # type: ignore[no-untyped-def]
    """``y * 2**n`` for float32 ``y`` and ``v = n + _EXP32_SHIFTER`` (``n`` integral, in the low bits of
    ``v``'s mantissa): ``n << 23`` added to ``y``'s bits (the shifter's own bits shift out); the result
    must stay a normal number. Two integer instructions, vectorised."""
    if not all(isinstance(a, types.Float) and a.bitwidth == 32 for a in (y, v)):
        return None
    sig = types.float32(types.float32, types.float32)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        i32 = ir.IntType(32)
        shift = builder.shl(builder.bitcast(args[1], i32), ir.Constant(i32, 23))
        return builder.bitcast(builder.add(builder.bitcast(args[0], i32), shift), ir.FloatType())

    return sig, codegen


@intrinsic
def _float64_bits(typingctx, x):  # type: ignore[no-untyped-def]
    """The bits of a float64 as an int64 (one LLVM bitcast; vectorises)."""
    if not isinstance(x, types.Float) or x.bitwidth != 64:
        return None
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


@numba.njit(cache=True, error_model="numpy", inline="always")
def _ix(row: int, lane: int) -> np.uint64:
    """Flat index of ``(row, lane)`` in a lane slab; unsigned, so numba adds no negative-index
    wrap-around and LLVM sees addresses affine in ``lane`` (the loops over lanes vectorise)."""
    return np.uint64(row * _LANES) + np.uint64(lane)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _ixs(row: int, lane: int) -> np.uint64:
    """:func:`_ix` in the sample slab, whose rows are ``_SAMPLE_ROW`` values apart."""
    return np.uint64(row * _SAMPLE_ROW) + np.uint64(lane)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _ixn(row: int, lanes: int, lane: int) -> np.uint64:
    """:func:`_ix` for a slab of ``lanes`` lanes."""
    return np.uint64(row * lanes) + np.uint64(lane)


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH, inline="always")
def _exp32_nonpositive(x: np.float32) -> np.float32:
    """float32 ``exp(x)`` for ``x <= 0`` (0 below -87): Cephes' expf polynomial (about 1 ulp)."""
    xc = x if x > _EXP32_MIN else _EXP32_MIN
    v = xc * _LOG2E32 + _EXP32_SHIFTER  # rounds x log2(e) to the nearest integer n, kept in v's low bits
    n = _minus_shifter(v)
    r = (xc - n * _LN2_HI32) - n * _LN2_LO32  # in [-ln2 / 2, ln2 / 2], as Cephes' floor(x log2e + 1/2)
    p = _EXP32_P[0]
    p = p * r + _EXP32_P[1]
    p = p * r + _EXP32_P[2]
    p = p * r + _EXP32_P[3]
    p = p * r + _EXP32_P[4]
    p = p * r + _EXP32_P[5]
    y = (p * r * r + r) + _F32_ONE
    return _scale_by_rounded(y, v) if x > _EXP32_MIN else _F32_ZERO  # n >= -126: y 2**n stays normal


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH, inline="always")
def _log_positive(x: float) -> float:
    """float64 ``log(x)`` for normal ``x > 0``: exponent bits plus the atanh series of the mantissa
    (error below 1e-16 relative), branch free so a loop of it vectorises unlike libm's log."""
    bits = _float64_bits(x)
    e = ((bits >> 52) & 0x7FF) - 1023
    m = _int64_bits_as_float64((bits & 0xFFFFFFFFFFFFF) | (1023 << 52))  # [1, 2)
    big = m > _SQRT2
    m = m * 0.5 if big else m
    ef = np.float64(e) + (1.0 if big else 0.0)
    s = (m - 1.0) / (m + 1.0)
    s2 = s * s
    p = 1.0 / 23.0
    p = p * s2 + 1.0 / 21.0
    p = p * s2 + 1.0 / 19.0
    p = p * s2 + 1.0 / 17.0
    p = p * s2 + 1.0 / 15.0
    p = p * s2 + 1.0 / 13.0
    p = p * s2 + 1.0 / 11.0
    p = p * s2 + 1.0 / 9.0
    p = p * s2 + 1.0 / 7.0
    p = p * s2 + 1.0 / 5.0
    p = p * s2 + 1.0 / 3.0
    p = p * s2 + 1.0
    return 2.0 * s * p + ef * _LN2


# Lane state lives in two slabs, rows of _LANES values, so that LLVM sees one object per precision
# (separate arrays defeat its alias analysis and the lane loops would stay scalar).
# float32 slab S, rows per component k at k * _RS: mean (3), upper factor 00 01 02 11 12 22 (6),
# log weight + log det - 3/2 log 2 pi (1), log-probability then responsibility of the first and of the
# second sample of a pair (1 + 1), centre of the sums (3). The float32 block sums (r, r z (3), r z z^T
# (6, order 00 10 11 20 21 22) per k) are the slab A.
_RS = 15
_S_MU, _S_U, _S_OFF, _S_LP, _S_LP2, _S_C = 0, 3, 9, 10, 11, 12
# float64 slab D, rows per k at k * _RD: sums (10), means (3), covariance 00 10 20 11 21 22 (6),
# upper factor (6), weight (1), second-pass flag (1); then rows total weight, summed log-likelihood, product of totals,
# per k the rounding of the float32 offset (offset - float32(offset)), and the lane's second-pass flag.
_RD = 27
_D_ACC, _D_MEAN, _D_COV, _D_PREC, _D_W, _D_BAD = 0, 10, 13, 19, 25, 26


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _lanes_pass(X: NDArray, n_frames: int, n_components: int, S: NDArray, A: NDArray, D: NDArray) -> None:
    """E-step and the M-step's sums of every lane in one pass over the samples ``X (3, T, L)``.

    Reads the float32 parameters of slab ``S``; writes the sums ``r, r z_a, r z_a z_b`` (``z = x - mu``)
    into the float64 rows of ``D`` and the summed log-likelihood of each lane. ``n_components`` is a
    compile-time constant (a literal from :func:`_fit3_lanes_kernel`): the loops over components unroll
    inside one loop over lanes per sample, whose rows are then at constant offsets (it vectorises, and
    the sample, the maximum, the total and its inverse stay in registers).
    """
    bound = n_components * _RD + 1
    top_sum = 10 * n_components  # rows of A after the sums: sum of (top - ref), product of the totals
    top_prod = top_sum + 1
    ref = n_components * _RS  # row of S: the lane's largest offset, a reference for its maxima
    block = _sample_block(n_components)
    for k in range(n_components):
        for j in range(10):
            for lane in range(_LANES):
                D[_ix(k * _RD + _D_ACC + j, lane)] = 0.0
    for lane in range(_LANES):
        D[_ix(bound, lane)] = 0.0
        S[_ix(ref, lane)] = S[_ix(_S_OFF, lane)]
    for k in range(1, n_components):
        for lane in range(_LANES):
            off = S[_ix(k * _RS + _S_OFF, lane)]
            S[_ix(ref, lane)] = off if off > S[_ix(ref, lane)] else S[_ix(ref, lane)]
    for t0 in range(0, n_frames, block):
        for j in range(10 * n_components + 1):
            for lane in range(_LANES):
                A[_ix(j, lane)] = _F32_ZERO
        for lane in range(_LANES):
            A[_ix(top_prod, lane)] = _F32_ONE
        last = min(t0 + block, n_frames) - 1
        for t in range(t0, last + 1, 2):
            # samples in pairs: the sums are read and written once per two samples; at an odd end the
            # second sample repeats the first with weight 0 (it adds exact zeros, and 1 to the product)
            u = t + 1 if t < last else t
            wu = _F32_ONE if t < last else _F32_ZERO
            for lane in range(_LANES):
                x0 = X[_ixs(t, lane)]
                x1 = X[_ixs(n_frames + t, lane)]
                x2 = X[_ixs(2 * n_frames + t, lane)]
                z0 = X[_ixs(u, lane)]
                z1 = X[_ixs(n_frames + u, lane)]
                z2 = X[_ixs(2 * n_frames + u, lane)]
                top = _F32_ZERO
                top2 = _F32_ZERO
                for k in range(n_components):
                    b = k * _RS
                    m0, m1, m2 = S[_ix(b, lane)], S[_ix(b + 1, lane)], S[_ix(b + 2, lane)]
                    u00, u01, u02 = S[_ix(b + 3, lane)], S[_ix(b + 4, lane)], S[_ix(b + 5, lane)]
                    u11, u12, u22 = S[_ix(b + 6, lane)], S[_ix(b + 7, lane)], S[_ix(b + 8, lane)]
                    off = S[_ix(b + _S_OFF, lane)]
                    d0 = x0 - m0
                    d1 = x1 - m1
                    d2 = x2 - m2
                    y0 = d0 * u00
                    y1 = d0 * u01 + d1 * u11
                    y2 = d0 * u02 + d1 * u12 + d2 * u22
                    v = off - _F32_HALF * (y0 * y0 + y1 * y1 + y2 * y2)
                    S[_ix(b + _S_LP, lane)] = v
                    top = v if (k == 0 or v > top) else top
                    d0 = z0 - m0
                    d1 = z1 - m1
                    d2 = z2 - m2
                    y0 = d0 * u00
                    y1 = d0 * u01 + d1 * u11
                    y2 = d0 * u02 + d1 * u12 + d2 * u22
                    v = off - _F32_HALF * (y0 * y0 + y1 * y1 + y2 * y2)
                    S[_ix(b + _S_LP2, lane)] = v
                    top2 = v if (k == 0 or v > top2) else top2
                tot = _F32_ZERO
                tot2 = _F32_ZERO
                for k in range(n_components):
                    b = k * _RS
                    e = _exp32_nonpositive(S[_ix(b + _S_LP, lane)] - top)
                    S[_ix(b + _S_LP, lane)] = e
                    tot += e
                    e = _exp32_nonpositive(S[_ix(b + _S_LP2, lane)] - top2)
                    S[_ix(b + _S_LP2, lane)] = e
                    tot2 += e
                inv = _F32_ONE / tot
                inv2 = wu / tot2
                # float32 within the block (float64 here took a quarter of the pass): the maxima about a
                # reference near them, so the sum stays small; the totals lie in [1, K], multiplied
                r_top = S[_ix(ref, lane)]
                A[_ix(top_sum, lane)] += (top - r_top) + wu * (top2 - r_top)
                A[_ix(top_prod, lane)] *= tot * (tot2 if t < last else _F32_ONE)
                for k in range(n_components):
                    b = k * _RS
                    a = k * 10
                    c0, c1, c2 = S[_ix(b + _S_C, lane)], S[_ix(b + _S_C + 1, lane)], S[_ix(b + _S_C + 2, lane)]
                    r = S[_ix(b + _S_LP, lane)] * inv
                    d0 = x0 - c0
                    d1 = x1 - c1
                    d2 = x2 - c2
                    r0 = r * d0
                    r1 = r * d1
                    r2 = r * d2
                    q = S[_ix(b + _S_LP2, lane)] * inv2
                    e0 = z0 - c0
                    e1 = z1 - c1
                    e2 = z2 - c2
                    q0 = q * e0
                    q1 = q * e1
                    q2 = q * e2
                    A[_ix(a, lane)] += r + q
                    A[_ix(a + 1, lane)] += r0 + q0
                    A[_ix(a + 2, lane)] += r1 + q1
                    A[_ix(a + 3, lane)] += r2 + q2
                    A[_ix(a + 4, lane)] += r0 * d0 + q0 * e0
                    A[_ix(a + 5, lane)] += r1 * d0 + q1 * e0
                    A[_ix(a + 6, lane)] += r1 * d1 + q1 * e1
                    A[_ix(a + 7, lane)] += r2 * d0 + q2 * e0
                    A[_ix(a + 8, lane)] += r2 * d1 + q2 * e1
                    A[_ix(a + 9, lane)] += r2 * d2 + q2 * e2
        for k in range(n_components):
            for j in range(10):
                for lane in range(_LANES):
                    D[_ix(k * _RD + _D_ACC + j, lane)] += np.float64(A[_ix(k * 10 + j, lane)])
        n_block = np.float64(last + 1 - t0)
        for lane in range(_LANES):
            D[_ix(bound, lane)] += (
                np.float64(A[_ix(top_sum, lane)])
                + n_block * np.float64(S[_ix(ref, lane)])
                + _log_positive(np.float64(A[_ix(top_prod, lane)]))
            )
    # the float32 offsets are rounded: add back sum_t r_tk (offset_k - float32(offset_k)) = s0_k * residual_k
    for k in range(n_components):
        res = n_components * _RD + 3 + k
        for lane in range(_LANES):
            D[_ix(bound, lane)] += D[_ix(res, lane)] * D[_ix(k * _RD, lane)]


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _lanes_m_step(reg_covar: float, n_components: int, S: NDArray, D: NDArray) -> int:
    """New parameters of every lane from the sums of :func:`_lanes_pass` about the centres of ``S``, in
    float64, vectorised over lanes: means, covariances, weights and upper Cholesky factors into ``D``.

    Returns the number of (lane, component) whose sums were taken about a centre so far from the new
    mean that float32 lost digits (their sums are to be taken again about the new means).
    """
    total = n_components * _RD
    lane_flag = total + 3 + n_components
    # each lane loop reads and writes rows at constant offsets from one base (k * _RD) of D, so LLVM
    # knows their distances and vectorises it without runtime alias checks
    for k in range(n_components):
        a = k * _RD
        s = k * _RS
        for lane in range(_LANES):
            s0 = D[_ix(a, lane)]
            n = s0 + _EPS10
            inv = 1.0 / n
            c0 = np.float64(S[_ix(s + _S_C, lane)])
            c1 = np.float64(S[_ix(s + _S_C + 1, lane)])
            c2 = np.float64(S[_ix(s + _S_C + 2, lane)])
            z0 = D[_ix(a + 1, lane)]
            z1 = D[_ix(a + 2, lane)]
            z2 = D[_ix(a + 3, lane)]
            m0 = (z0 + s0 * c0) / n
            m1 = (z1 + s0 * c1) / n
            m2 = (z2 + s0 * c2) / n
            e0 = m0 - c0
            e1 = m1 - c1
            e2 = m2 - c2
            # sum r (z - e)(z - e)^T = S2 - e z^T - z e^T + s0 e e^T, e = new mean - old mean
            v00 = (D[_ix(a + 4, lane)] - 2.0 * e0 * z0 + s0 * e0 * e0) * inv + reg_covar
            v10 = (D[_ix(a + 5, lane)] - e1 * z0 - z1 * e0 + s0 * e1 * e0) * inv
            v11 = (D[_ix(a + 6, lane)] - 2.0 * e1 * z1 + s0 * e1 * e1) * inv + reg_covar
            v20 = (D[_ix(a + 7, lane)] - e2 * z0 - z2 * e0 + s0 * e2 * e0) * inv
            v21 = (D[_ix(a + 8, lane)] - e2 * z1 - z2 * e1 + s0 * e2 * e1) * inv
            v22 = (D[_ix(a + 9, lane)] - 2.0 * e2 * z2 + s0 * e2 * e2) * inv + reg_covar
            # float32 sums about a centre far from the new mean lose digits: flag for a second pass
            s00 = D[_ix(a + 4, lane)]
            s11 = D[_ix(a + 6, lane)]
            s22 = D[_ix(a + 9, lane)]
            slack = _CANCEL_SLACK * s0
            bad = (  # | not "or": no branches in the lane loop
                (s00 > _CANCEL_RATIO * (v00 - reg_covar) * n + slack)
                | (s11 > _CANCEL_RATIO * (v11 - reg_covar) * n + slack)
                | (s22 > _CANCEL_RATIO * (v22 - reg_covar) * n + slack)
            )
            D[_ix(a + _D_BAD, lane)] = 1.0 if bad else 0.0
            D[_ix(a + _D_MEAN, lane)] = m0
            D[_ix(a + _D_MEAN + 1, lane)] = m1
            D[_ix(a + _D_MEAN + 2, lane)] = m2
            D[_ix(a + _D_COV, lane)] = v00
            D[_ix(a + _D_COV + 1, lane)] = v10
            D[_ix(a + _D_COV + 2, lane)] = v20
            D[_ix(a + _D_COV + 3, lane)] = v11
            D[_ix(a + _D_COV + 4, lane)] = v21
            D[_ix(a + _D_COV + 5, lane)] = v22
            D[_ix(a + _D_W, lane)] = n
            # Cholesky with the pivot floor, then U = inv(L).T (the order of bgsub.gmm)
            l00 = math.sqrt(v00 if v00 > _PIVOT_FLOOR else _PIVOT_FLOOR)
            l10 = v10 / l00
            l20 = v20 / l00
            p11 = v11 - l10 * l10
            l11 = math.sqrt(p11 if p11 > _PIVOT_FLOOR else _PIVOT_FLOOR)
            l21 = (v21 - l20 * l10) / l11
            p22 = v22 - l20 * l20 - l21 * l21
            l22 = math.sqrt(p22 if p22 > _PIVOT_FLOOR else _PIVOT_FLOOR)
            u00 = 1.0 / l00
            u11 = 1.0 / l11
            u22 = 1.0 / l22
            u01 = -(l10 * u00) / l11
            D[_ix(a + _D_PREC, lane)] = u00
            D[_ix(a + _D_PREC + 1, lane)] = u01
            D[_ix(a + _D_PREC + 2, lane)] = -(l20 * u00 + l21 * u01) / l22
            D[_ix(a + _D_PREC + 3, lane)] = u11
            D[_ix(a + _D_PREC + 4, lane)] = -(l21 * u11) / l22
            D[_ix(a + _D_PREC + 5, lane)] = u22
    for lane in range(_LANES):
        D[_ix(total, lane)] = 0.0
        D[_ix(lane_flag, lane)] = 0.0
    for k in range(n_components):
        a = k * _RD
        for lane in range(_LANES):
            D[_ix(total, lane)] += D[_ix(a + _D_W, lane)]
            D[_ix(lane_flag, lane)] += D[_ix(a + _D_BAD, lane)]
    flag = 0.0
    for lane in range(_LANES):
        flag += D[_ix(lane_flag, lane)]
    for k in range(n_components):
        a = k * _RD
        for lane in range(_LANES):
            w = D[_ix(a + _D_W, lane)] / D[_ix(total, lane)]
            D[_ix(a + _D_W, lane)] = w
    return int(flag)


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _lanes_publish(n_components: int, S: NDArray, D: NDArray) -> None:
    """float32 copies of the new parameters into ``S`` (means also as the centres of the next sums),
    log weight + log det, and its float32 rounding into ``D``."""
    for k in range(n_components):
        a = k * _RD
        s = k * _RS
        for lane in range(_LANES):
            w = D[_ix(a + _D_W, lane)]
            det = D[_ix(a + _D_PREC, lane)] * D[_ix(a + _D_PREC + 3, lane)] * D[_ix(a + _D_PREC + 5, lane)]
            offset = _log_positive(w * det) - _HALF_LOG_2PI3
            offset32 = np.float32(offset)
            S[_ix(s + _S_OFF, lane)] = offset32
            D[_ix(n_components * _RD + 3 + k, lane)] = offset - np.float64(offset32)
        for j in range(3):
            for lane in range(_LANES):
                value = np.float32(D[_ix(a + _D_MEAN + j, lane)])
                S[_ix(s + _S_MU + j, lane)] = value
                S[_ix(s + _S_C + j, lane)] = value
        for j in range(6):
            for lane in range(_LANES):
                S[_ix(s + _S_U + j, lane)] = np.float32(D[_ix(a + _D_PREC + j, lane)])


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _lanes_recentre(n_components: int, S: NDArray, D: NDArray) -> None:
    """Centres of the next sums := float32 of the new means, in the lanes flagged by :func:`_lanes_m_step`
    only: the other lanes repeat their sums bit for bit, so a pixel's result never depends on the pixels
    that share its engine (hence not on the thread count or the chunking)."""
    lane_flag = n_components * _RD + 3 + n_components
    for k in range(n_components):
        for j in range(3):
            for lane in range(_LANES):
                value = np.float32(D[_ix(k * _RD + _D_MEAN + j, lane)])
                old = S[_ix(k * _RS + _S_C + j, lane)]
                S[_ix(k * _RS + _S_C + j, lane)] = value if D[_ix(lane_flag, lane)] != 0.0 else old


# Initial parameters of a batch of _LANES pixels: k-means with pixels as float64 lanes (every lane runs
# as many Lloyd iterations as the slowest pixel of the batch; still 2.3x faster at K = 2, 1.9x at K = 3,
# than one pixel at a time with the time axis as SIMD axis), then the M-step on the one-hot labels.
# Slab ``W`` rows of _LANES values: the k-means centres (3K rows, k * 3 + c), then the label of every
# sample (T rows, as floats).
# The centres during the iterations (3K rows), counts and sums (4K rows), centred moments (6K rows), the
# seeding's distances (T rows) and select chain (4 rows) have slabs of their own, so that the loops that
# write them read no other row of the same array (they vectorise without alias checks). The passes over
# the samples take four per step, so that each step loads and stores its accumulators once.


@numba.njit(cache=True, error_model="numpy", inline="always")
def _km_rows(n_components: int) -> int:
    """First label row of the k-means slab."""
    return 3 * n_components


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH, inline="always")
def _chol_upper3(
    v00: float, v10: float, v11: float, v20: float, v21: float, v22: float
) -> tuple[float, float, float, float, float, float]:
    """Upper ``U`` (00 01 02 11 12 22) with ``inv(V) = U @ U.T``: Cholesky with the pivot floor, then
    ``U = inv(L).T`` by forward substitution (the order of ``bgsub.gmm``); branch free."""
    l00 = math.sqrt(v00 if v00 > _PIVOT_FLOOR else _PIVOT_FLOOR)
    l10 = v10 / l00
    l20 = v20 / l00
    p11 = v11 - l10 * l10
    l11 = math.sqrt(p11 if p11 > _PIVOT_FLOOR else _PIVOT_FLOOR)
    l21 = (v21 - l20 * l10) / l11
    p22 = v22 - l20 * l20 - l21 * l21
    l22 = math.sqrt(p22 if p22 > _PIVOT_FLOOR else _PIVOT_FLOOR)
    u00 = 1.0 / l00
    u11 = 1.0 / l11
    u22 = 1.0 / l22
    u01 = -(l10 * u00) / l11
    u02 = -(l20 * u00 + l21 * u01) / l22
    u12 = -(l21 * u11) / l22
    return u00, u01, u02, u11, u12, u22


#: Fused multiply-adds but no reassociation: the moments are inexact sums, in the order of one sample per step.
_KM_MOMENTS_FASTMATH = {"contract"}


@numba.njit(cache=True, error_model="numpy", fastmath=_KM_MOMENTS_FASTMATH, inline="always")
def _km_moment_add(
    acc: tuple[float, float, float, float, float, float], r: float, d0: float, d1: float, d2: float
) -> tuple[float, float, float, float, float, float]:
    """``acc`` (00 10 11 20 21 22) plus ``r`` times the products of the centred sample ``d``; the
    roundings of the one-sample loop this replaced (which LLVM compiled to ``r (d0 d0)`` for 00)."""
    r0 = r * (d0 * d0)
    r1 = r * d1
    r2 = r * d2
    return acc[0] + r0, acc[1] + r1 * d0, acc[2] + r1 * d1, acc[3] + r2 * d0, acc[4] + r2 * d1, acc[5] + r2 * d2


@numba.njit(cache=True, error_model="numpy", fastmath=_KM_MOMENTS_FASTMATH, inline="always")
def _km_moment_step(
    X: NDArray,
    n_frames: int,
    W: NDArray,
    rows: int,
    kf: float,
    mu0: float,
    mu1: float,
    mu2: float,
    t: int,
    lane: int,
    acc: tuple[float, float, float, float, float, float],
) -> tuple[float, float, float, float, float, float]:
    """:func:`_km_moment_add` of sample ``t`` of ``lane`` if its label is ``kf``, about the mean ``mu``."""
    r = 1.0 if W[_ix(rows + t, lane)] == kf else 0.0
    d0 = X[_ix(t, lane)] - mu0
    d1 = X[_ix(n_frames + t, lane)] - mu1
    d2 = X[_ix(2 * n_frames + t, lane)] - mu2
    return _km_moment_add(acc, r, d0, d1, d2)


@numba.njit(cache=True, error_model="numpy", fastmath=_KM_MOMENTS_FASTMATH)
def _km_estimate_lanes(
    X: NDArray, n_frames: int, n_components: int, W: NDArray, sums: NDArray, moments: NDArray
) -> None:
    """M-step on the one-hot labels (``bgsub.gmm._estimate_parameters``): from the member counts and
    sums in ``sums (4 K L)`` (as :func:`_kmeans_lanes` leaves them), per component the count + 10 eps
    and the means into ``sums``, the sums of centred products into ``moments (6 K L)``.

    Four samples per step (the moments are loaded and stored once per step), each moment added up
    sample by sample in time order: no reassociation, so the sums are those of one sample per step."""
    rows = _km_rows(n_components)
    for k in range(n_components):
        s = 4 * k
        for lane in range(_LANES):
            n = sums[_ix(s, lane)] + _EPS10
            sums[_ix(s, lane)] = n
            for c in range(3):
                sums[_ix(s + 1 + c, lane)] = sums[_ix(s + 1 + c, lane)] / n
        for j in range(6):
            for lane in range(_LANES):
                moments[_ix(6 * k + j, lane)] = 0.0
    n_steps = n_frames // 4
    for step in range(n_steps):
        t = 4 * step
        for k in range(n_components):  # outside the lane loop: a small body, which LLVM vectorises for any K
            s = 4 * k
            m = 6 * k
            kf = np.float64(k)
            for lane in range(_LANES):
                mu0 = sums[_ix(s + 1, lane)]
                mu1 = sums[_ix(s + 2, lane)]
                mu2 = sums[_ix(s + 3, lane)]
                acc = (
                    moments[_ix(m, lane)], moments[_ix(m + 1, lane)], moments[_ix(m + 2, lane)],
                    moments[_ix(m + 3, lane)], moments[_ix(m + 4, lane)], moments[_ix(m + 5, lane)],
                )  # fmt: skip
                acc = _km_moment_step(X, n_frames, W, rows, kf, mu0, mu1, mu2, t, lane, acc)  # unrolled by hand
                acc = _km_moment_step(X, n_frames, W, rows, kf, mu0, mu1, mu2, t + 1, lane, acc)
                acc = _km_moment_step(X, n_frames, W, rows, kf, mu0, mu1, mu2, t + 2, lane, acc)
                acc = _km_moment_step(X, n_frames, W, rows, kf, mu0, mu1, mu2, t + 3, lane, acc)
                for j in range(6):
                    moments[_ix(m + j, lane)] = acc[j]
    for t in range(4 * n_steps, n_frames):
        for lane in range(_LANES):
            for k in range(n_components):
                s = 4 * k
                m = 6 * k
                r = 1.0 if W[_ix(rows + t, lane)] == np.float64(k) else 0.0
                acc = (
                    moments[_ix(m, lane)], moments[_ix(m + 1, lane)], moments[_ix(m + 2, lane)],
                    moments[_ix(m + 3, lane)], moments[_ix(m + 4, lane)], moments[_ix(m + 5, lane)],
                )  # fmt: skip
                d0 = X[_ix(t, lane)] - sums[_ix(s + 1, lane)]
                d1 = X[_ix(n_frames + t, lane)] - sums[_ix(s + 2, lane)]
                d2 = X[_ix(2 * n_frames + t, lane)] - sums[_ix(s + 3, lane)]
                acc = _km_moment_add(acc, r, d0, d1, d2)
                for j in range(6):
                    moments[_ix(m + j, lane)] = acc[j]


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH, inline="always")
def _d2_3(x0: float, x1: float, x2: float, c0: float, c1: float, c2: float) -> float:
    """Squared distance of a sample to a centre, summed channel 0, then 1, then 2 (as :func:`_sq_dist_to`)."""
    e0 = x0 - c0
    e1 = x1 - c1
    e2 = x2 - c2
    d = e0 * e0
    d += e1 * e1
    d += e2 * e2
    return d


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH, inline="always")
def _km_pick(
    X: NDArray,
    n_frames: int,
    k: int,
    cen: NDArray,
    near: NDArray,
    t: int,
    lane: int,
    state: tuple[float, float, float, float],
) -> tuple[float, float, float, float]:
    """One link of the select chain that seeds centre ``k`` (see :func:`_km_seed_lanes`): sample ``t`` of
    ``lane`` against ``state`` (best distance, its sample), updating its distance ``near`` to the nearest
    centre so far."""
    x0 = X[_ix(t, lane)]
    x1 = X[_ix(n_frames + t, lane)]
    x2 = X[_ix(2 * n_frames + t, lane)]
    j = 3 * (k - 1) if k > 0 else 0
    d = _d2_3(x0, x1, x2, cen[_ix(j, lane)], cen[_ix(j + 1, lane)], cen[_ix(j + 2, lane)])
    old = near[_ix(t, lane)]  # for k < 2 a value from before, ignored: no branch, so the loop vectorises
    d = d if (k < 2) | (d < old) else old
    near[_ix(t, lane)] = d
    best = state[0]
    take = d < best if k == 0 else d > best
    return (d if take else best, x0 if take else state[1], x1 if take else state[2], x2 if take else state[3])


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _km_seed_lanes(X: NDArray, n_frames: int, n_components: int, cen: NDArray, near: NDArray, pick: NDArray) -> None:
    """Maximin seeding of :func:`_kmeans` in every lane of ``X (3 T L)``: the sample nearest the temporal
    mean, then each time the sample farthest from the centres so far (first index on ties), into ``cen
    (3 K L)`` rows ``3 k + c``. ``near (T L)`` keeps each sample's distance to the nearest centre and
    ``pick (4 L)`` the select chain's best distance and sample."""
    for c in range(3):
        for lane in range(_LANES):
            cen[_ix(c, lane)] = 0.0
    for t in range(n_frames):
        for lane in range(_LANES):
            cen[_ix(0, lane)] += X[_ix(t, lane)]
            cen[_ix(1, lane)] += X[_ix(n_frames + t, lane)]
            cen[_ix(2, lane)] += X[_ix(2 * n_frames + t, lane)]
    for c in range(3):
        for lane in range(_LANES):
            cen[_ix(c, lane)] = cen[_ix(c, lane)] / n_frames
    n_steps = n_frames // 4
    for k in range(n_components):
        # k = 0: nearest to the mean (strict <, from +inf); k > 0: farthest from centres 0 .. k-1 (strict >,
        # from -1: every distance is >= 0, so the chain starts at the first sample either way); four samples
        # per step, so that the chain's state is loaded and stored once per step
        for lane in range(_LANES):
            pick[_ix(0, lane)] = np.inf if k == 0 else -1.0
        for step in range(n_steps):
            t = 4 * step
            for lane in range(_LANES):
                state = (pick[_ix(0, lane)], pick[_ix(1, lane)], pick[_ix(2, lane)], pick[_ix(3, lane)])
                state = _km_pick(X, n_frames, k, cen, near, t, lane, state)  # unrolled by hand: LLVM may not
                state = _km_pick(X, n_frames, k, cen, near, t + 1, lane, state)  # (then the lane loop stays scalar)
                state = _km_pick(X, n_frames, k, cen, near, t + 2, lane, state)
                state = _km_pick(X, n_frames, k, cen, near, t + 3, lane, state)
                for j in range(4):
                    pick[_ix(j, lane)] = state[j]
        for t in range(4 * n_steps, n_frames):
            for lane in range(_LANES):
                state = (pick[_ix(0, lane)], pick[_ix(1, lane)], pick[_ix(2, lane)], pick[_ix(3, lane)])
                state = _km_pick(X, n_frames, k, cen, near, t, lane, state)
                for j in range(4):
                    pick[_ix(j, lane)] = state[j]
        for c in range(3):
            for lane in range(_LANES):
                cen[_ix(3 * k + c, lane)] = pick[_ix(1 + c, lane)]


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH, inline="always")
def _km_nearest(
    X: NDArray, n_frames: int, n_components: int, cen: NDArray, t: int, lane: int
) -> tuple[float, float, float, float]:
    """Nearest centre of ``cen (3 K L)`` (first on ties, as :func:`_nearest_labels`) of sample ``t`` of
    ``lane`` of ``X (3 T L)``: its label (as a float) and the sample."""
    x0 = X[_ix(t, lane)]
    x1 = X[_ix(n_frames + t, lane)]
    x2 = X[_ix(2 * n_frames + t, lane)]
    best = _d2_3(x0, x1, x2, cen[_ix(0, lane)], cen[_ix(1, lane)], cen[_ix(2, lane)])
    label = 0.0
    for k in range(1, n_components):
        d = _d2_3(x0, x1, x2, cen[_ix(3 * k, lane)], cen[_ix(3 * k + 1, lane)], cen[_ix(3 * k + 2, lane)])
        closer = d < best
        best = d if closer else best
        label = np.float64(k) if closer else label
    return label, x0, x1, x2


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH, inline="always")
def _km_member_add(
    acc: tuple[float, float, float, float], member: bool, x0: float, x1: float, x2: float
) -> tuple[float, float, float, float]:
    """``acc`` (count, sums of the three channels) plus the sample ``x`` if ``member``: products by 0 or
    1, not selects, so that the lane loop vectorises."""
    r = 1.0 if member else 0.0
    return acc[0] + r, acc[1] + r * x0, acc[2] + r * x1, acc[3] + r * x2


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _km_label_lanes(X: NDArray, n_frames: int, n_components: int, cen: NDArray, W: NDArray, sums: NDArray) -> None:
    """Nearest centre of every sample of ``X (3 T L)`` into the label rows of ``W``, and in the same pass
    the member counts and sums of the new labels into ``sums (4 K L)`` (each over the samples in time
    order: exact for integer samples, as the sums of :func:`_kmeans`).

    Four samples per step, so that each step loads and stores the sums once (stores bound the loop)."""
    rows = _km_rows(n_components)
    for j in range(4 * n_components):
        for lane in range(_LANES):
            sums[_ix(j, lane)] = 0.0
    n_steps = n_frames // 4
    for step in range(n_steps):
        t = 4 * step
        for lane in range(_LANES):
            la, a0, a1, a2 = _km_nearest(X, n_frames, n_components, cen, t, lane)
            lb, b0, b1, b2 = _km_nearest(X, n_frames, n_components, cen, t + 1, lane)
            lc, c0, c1, c2 = _km_nearest(X, n_frames, n_components, cen, t + 2, lane)
            ld, d0, d1, d2 = _km_nearest(X, n_frames, n_components, cen, t + 3, lane)
            W[_ix(rows + t, lane)] = la
            W[_ix(rows + t + 1, lane)] = lb
            W[_ix(rows + t + 2, lane)] = lc
            W[_ix(rows + t + 3, lane)] = ld
            for k in range(n_components):
                kf = np.float64(k)
                acc = (sums[_ix(4 * k, lane)], sums[_ix(4 * k + 1, lane)],
                       sums[_ix(4 * k + 2, lane)], sums[_ix(4 * k + 3, lane)])  # fmt: skip
                acc = _km_member_add(acc, la == kf, a0, a1, a2)
                acc = _km_member_add(acc, lb == kf, b0, b1, b2)
                acc = _km_member_add(acc, lc == kf, c0, c1, c2)
                acc = _km_member_add(acc, ld == kf, d0, d1, d2)
                for j in range(4):
                    sums[_ix(4 * k + j, lane)] = acc[j]
    for t in range(4 * n_steps, n_frames):
        for lane in range(_LANES):
            la, a0, a1, a2 = _km_nearest(X, n_frames, n_components, cen, t, lane)
            W[_ix(rows + t, lane)] = la
            for k in range(n_components):
                acc = (sums[_ix(4 * k, lane)], sums[_ix(4 * k + 1, lane)],
                       sums[_ix(4 * k + 2, lane)], sums[_ix(4 * k + 3, lane)])  # fmt: skip
                acc = _km_member_add(acc, la == np.float64(k), a0, a1, a2)
                for j in range(4):
                    sums[_ix(4 * k + j, lane)] = acc[j]


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _km_centres_lanes(n_components: int, sums: NDArray, cen: NDArray) -> float:
    """Centres := means of their members (``sums (4 K L)``); an empty cluster keeps its centre. Returns
    how many centre coordinates changed."""
    changed = 0.0
    for k in range(n_components):
        for c in range(3):
            for lane in range(_LANES):
                n = sums[_ix(4 * k, lane)]
                old = cen[_ix(3 * k + c, lane)]
                mean = sums[_ix(4 * k + 1 + c, lane)] / (n if n > 0.0 else 1.0)
                new = mean if n > 0.0 else old
                changed += 1.0 if new != old else 0.0
                cen[_ix(3 * k + c, lane)] = new
    return changed


@numba.njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _kmeans_lanes(
    X: NDArray, n_frames: int, n_components: int, W: NDArray, cen: NDArray, near: NDArray, pick: NDArray, sums: NDArray
) -> int:
    """:func:`_kmeans` of every lane of ``X (3 T L)``: centres into ``W`` rows ``3 k + c``, labels (as
    floats) into its rows ``3 K + t``; ``cen (3 K L)``, ``near (T L)``, ``pick (4 L)``, ``sums (4 K L)``
    scratch. Returns the number of label passes after the first (those of the batch's slowest pixel).

    All lanes run until no lane changes: a lane whose labels stopped changing is at a fixed point (same
    labels, same centres, same labels), so its result is that of :func:`_kmeans`. The test is on the
    centres, before the label pass: :func:`_kmeans` stops at the first iteration ``i`` with labels
    ``L_i = L_(i-1)``, so ``C_(i+1) = C_i``; conversely ``C_i = C_(i-1)`` gives ``L_i = L_(i-1)``, the
    labels already in ``W``. So the same passes run, without comparing every label."""
    _km_seed_lanes(X, n_frames, n_components, cen, near, pick)
    _km_label_lanes(X, n_frames, n_components, cen, W, sums)
    n_iter = 0
    for _ in range(_KMEANS_MAX_ITER):
        if _km_centres_lanes(n_components, sums, cen) == 0.0:
            break
        n_iter += 1
        _km_label_lanes(X, n_frames, n_components, cen, W, sums)
    for j in range(3 * n_components):
        for lane in range(_LANES):
            W[_ix(j, lane)] = cen[_ix(j, lane)]
    return n_iter


@numba.njit(cache=True, error_model="numpy")
def _km_precisions_lanes(n_components: int, reg_covar: float, sums: NDArray, moments: NDArray) -> None:
    """Per component and lane, the upper Cholesky factor of the precision (:func:`_chol_upper3` of the
    centred moments over the count + 10 eps of ``sums (4 K L)``, plus ``reg_covar`` on the diagonal)
    in place of the moments ``(6 K L)``, as 00 01 02 11 12 22. No fastmath, as :func:`_init_batch`."""
    for k in range(n_components):
        m = 6 * k
        for lane in range(_LANES):
            n = sums[_ix(4 * k, lane)]
            u = _chol_upper3(
                moments[_ix(m, lane)] / n + reg_covar, moments[_ix(m + 1, lane)] / n,
                moments[_ix(m + 2, lane)] / n + reg_covar, moments[_ix(m + 3, lane)] / n,
                moments[_ix(m + 4, lane)] / n, moments[_ix(m + 5, lane)] / n + reg_covar,
            )  # fmt: skip
            for j in range(6):
                moments[_ix(m + j, lane)] = u[j]


@numba.njit(cache=True, error_model="numpy")
def _init_batch(
    samples: NDArray,
    n_components: int,
    start: int,
    count: int,
    reg_covar: float,
    Xd: NDArray,
    W: NDArray,
    km: tuple[NDArray, NDArray, NDArray],
    sums: NDArray,
    moments: NDArray,
    w_out: NDArray,
    m_out: NDArray,
    p_out: NDArray,
) -> None:
    """k-means initial parameters (as :func:`_fit_pixel`) of pixels ``start .. start + count - 1``
    into ``w_out (L, K)``, ``m_out (L, K, 3)``, ``p_out (L, K, 3, 3)``; ``Xd`` float64 ``3 T L`` and
    ``W`` float64 ``(3 K + T) L``, ``km`` the scratch ``cen, near, pick`` of :func:`_kmeans_lanes`,
    ``sums (4 K L)`` and ``moments (6 K L)`` float64 scratch slabs; idle lanes fit a constant zero pixel."""
    n_frames = samples.shape[0]
    for t in range(n_frames):  # frame by frame: each reads a run of contiguous pixels
        for i in range(count):
            for c in range(3):
                Xd[_ix(c * n_frames + t, i)] = np.float64(samples[t, np.uint64(start + i), c])
        for c in range(3):
            for i in range(count, _LANES):
                Xd[_ix(c * n_frames + t, i)] = 0.0
    cen, near, pick = km
    _kmeans_lanes(Xd, n_frames, n_components, W, cen, near, pick, sums)
    _km_estimate_lanes(Xd, n_frames, n_components, W, sums, moments)
    _km_precisions_lanes(n_components, reg_covar, sums, moments)
    for i in range(count):
        for k in range(n_components):
            s = 4 * k
            m = 6 * k
            n = sums[_ix(s, i)]
            empty = n == _EPS10  # an empty cluster keeps its k-means centre
            for c in range(3):
                m_out[i, k, c] = W[_ix(3 * k + c, i)] if empty else sums[_ix(s + 1 + c, i)]
            w_out[i, k] = n / n_frames
            p = p_out[i, k]
            p[0, 0] = moments[_ix(m, i)]
            p[0, 1] = moments[_ix(m + 1, i)]
            p[0, 2] = moments[_ix(m + 2, i)]
            p[1, 1] = moments[_ix(m + 3, i)]
            p[1, 2] = moments[_ix(m + 4, i)]
            p[2, 2] = moments[_ix(m + 5, i)]
            p[1, 0] = p[2, 0] = p[2, 1] = 0.0


@numba.njit(cache=True, error_model="numpy")
def _lanes_load(
    samples: NDArray,
    p: int,
    lane: int,
    weights: NDArray,
    means: NDArray,
    prec: NDArray,
    X: NDArray,
    S: NDArray,
    D: NDArray,
) -> None:
    """Put pixel ``p`` into ``lane``: its samples, and its initial parameters ``weights (K,)``,
    ``means (K, 3)``, ``prec (K, 3, 3)``."""
    n_frames = samples.shape[0]
    n_components = weights.shape[0]
    for t in range(n_frames):
        for c in range(3):
            X[_ixs(c * n_frames + t, lane)] = np.float32(samples[t, p, c])
    for k in range(n_components):
        pk = prec[k]
        s = k * _RS
        # one log of the product, as _lanes_publish (libm's log is not inlined: four calls cost more
        # than the rest of the load); a zero weight gives about -745, whose exp is 0 like log(0)'s
        scaled = weights[k] * (pk[0, 0] * pk[1, 1] * pk[2, 2])
        offset = _log_positive(scaled if scaled > _TINY else _TINY) - _HALF_LOG_2PI3
        S[_ix(s + _S_OFF, lane)] = np.float32(offset)
        D[_ix(n_components * _RD + 3 + k, lane)] = offset - np.float64(np.float32(offset))
        for c in range(3):
            S[_ix(s + _S_MU + c, lane)] = np.float32(means[k, c])
            S[_ix(s + _S_C + c, lane)] = np.float32(means[k, c])
        S[_ix(s + _S_U, lane)] = np.float32(pk[0, 0])
        S[_ix(s + _S_U + 1, lane)] = np.float32(pk[0, 1])
        S[_ix(s + _S_U + 2, lane)] = np.float32(pk[0, 2])
        S[_ix(s + _S_U + 3, lane)] = np.float32(pk[1, 1])
        S[_ix(s + _S_U + 4, lane)] = np.float32(pk[1, 2])
        S[_ix(s + _S_U + 5, lane)] = np.float32(pk[2, 2])


@numba.njit(cache=True, error_model="numpy")
def _lanes_store(
    p: int,
    lane: int,
    D: NDArray,
    order: NDArray,
    weights_out: NDArray,
    means_out: NDArray,
    cov_out: NDArray,
    prec_out: NDArray,
) -> None:
    """Write the parameters of ``lane`` as pixel ``p``'s results (full 3x3 matrices), components by
    descending weight (``order (K,)`` int64 and ``weights (K,)`` float64 scratch at its side)."""
    n_components = weights_out.shape[1]
    keys = np.empty(n_components)
    for k in range(n_components):
        keys[k] = D[_ix(k * _RD + _D_W, lane)]
    _weight_order(keys, order)
    for j in range(n_components):
        a = order[j] * _RD
        weights_out[p, j] = keys[order[j]]
        for c in range(3):
            means_out[p, j, c] = D[_ix(a + _D_MEAN + c, lane)]
        v = a + _D_COV
        q = a + _D_PREC
        co = cov_out[p, j]
        po = prec_out[p, j]
        co[0, 0] = D[_ix(v, lane)]
        co[1, 0] = co[0, 1] = D[_ix(v + 1, lane)]
        co[2, 0] = co[0, 2] = D[_ix(v + 2, lane)]
        co[1, 1] = D[_ix(v + 3, lane)]
        co[2, 1] = co[1, 2] = D[_ix(v + 4, lane)]
        co[2, 2] = D[_ix(v + 5, lane)]
        po[0, 0] = D[_ix(q, lane)]
        po[0, 1] = D[_ix(q + 1, lane)]
        po[0, 2] = D[_ix(q + 2, lane)]
        po[1, 1] = D[_ix(q + 3, lane)]
        po[1, 2] = D[_ix(q + 4, lane)]
        po[2, 2] = D[_ix(q + 5, lane)]
        po[1, 0] = po[2, 0] = po[2, 1] = 0.0


@numba.njit(cache=True, error_model="numpy")
def _lanes_run(
    samples: NDArray,
    n_components: int,
    engine: int,
    n_engines: int,
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
    """EM on one engine of _LANES lanes of the pixel batches ``engine, engine + n_engines, ...`` (batches of
    _LANES pixels), refilling lanes as pixels converge: one engine per thread, so each thread has one
    tail (lanes idle once its last pixels are in) however many pixels there are."""
    n_frames = samples.shape[0]
    X = np.zeros(3 * n_frames * _SAMPLE_ROW, dtype=np.float32)
    # k-means initialisation of the next _LANES pixels, handed to lanes as they free up
    Xd = np.empty(3 * n_frames * _LANES)
    W = np.empty((3 * n_components + n_frames) * _LANES)
    sums = np.empty(4 * n_components * _LANES)
    moments = np.empty(6 * n_components * _LANES)
    km = (np.empty(3 * n_components * _LANES), np.empty(n_frames * _LANES), np.empty(4 * _LANES))
    # initial parameters: given (indexed by pixel), or of the k-means batch (indexed by slot)
    w0, m0, p0 = w_init, m_init, p_init
    if not have_init:
        w0 = np.empty((_LANES, n_components))
        m0 = np.empty((_LANES, n_components, 3))
        p0 = np.empty((_LANES, n_components, 3, 3))
    slot = 0
    in_batch = 0
    S = np.zeros((n_components * _RS + 1) * _LANES, dtype=np.float32)
    for k in range(n_components):  # idle lanes compute on harmless values
        S[(k * _RS + _S_U) * _LANES : (k * _RS + _S_U + 6) * _LANES] = 1.0
    D = np.zeros((n_components * (_RD + 1) + 4) * _LANES)
    A = np.zeros((n_components * 10 + 2) * _LANES, dtype=np.float32)
    pixel = np.full(_LANES, -1, dtype=np.int64)
    order = np.empty(n_components, dtype=np.int64)
    it = np.zeros(_LANES, dtype=np.int64)
    previous = np.zeros(_LANES)
    bound = n_components * _RD + 1
    n_pixels = samples.shape[1]
    following = engine * _LANES
    stop = min(following + _LANES, n_pixels)  # end of the current batch
    while True:
        busy = False
        for lane in range(_LANES):  # free lanes take the next pixels (all lanes, the first time)
            if pixel[lane] < 0 and following < stop:
                q = following
                if not have_init:
                    if slot == in_batch:
                        in_batch = min(_LANES, stop - following)
                        slot = 0
                        _init_batch(
                            samples, n_components, following, in_batch, reg_covar, Xd, W, km, sums, moments, w0, m0, p0
                        )
                    q = slot
                    slot += 1
                _lanes_load(samples, following, lane, w0[q], m0[q], p0[q], X, S, D)
                pixel[lane] = following
                it[lane] = 0
                previous[lane] = -np.inf
                following += 1
                if following == stop:  # next batch of this engine
                    following += (n_engines - 1) * _LANES
                    stop = min(following + _LANES, n_pixels)
            busy |= pixel[lane] >= 0
        if not busy:
            break
        _lanes_pass(X, n_frames, n_components, S, A, D)
        if _lanes_m_step(reg_covar, n_components, S, D):
            _lanes_recentre(n_components, S, D)  # same E-step, sums about the new means
            _lanes_pass(X, n_frames, n_components, S, A, D)
            _lanes_m_step(reg_covar, n_components, S, D)
        _lanes_publish(n_components, S, D)
        for lane in range(_LANES):
            p = pixel[lane]
            if p < 0:
                continue
            it[lane] += 1
            value = D[_ix(bound, lane)] / n_frames
            change = value - previous[lane]
            previous[lane] = value
            if keep_history:
                history[p, it[lane] - 1] = value
            done = abs(change) < tol
            if not (done or it[lane] == max_iter):
                continue
            _lanes_store(p, lane, D, order, weights, means, cov, prec)
            converged[p] = done
            n_iter[p] = it[lane]
            lower_bound[p] = value
            if keep_history:
                for i in range(it[lane], max_iter):
                    history[p, i] = value
            pixel[lane] = -1

_LANES_KERNELS: dict[int, object] = {}


def _fit3_lanes_kernel(n_components: int) -> object:
    """The parallel lane kernel for ``n_components`` components, compiled (or loaded from the disk
    cache, whose key includes the closure's K) on first use.

    K is a closure constant, so it reaches :func:`_lanes_run` and :func:`_lanes_pass` as a literal:
    the loops over components unroll inside the loops over lanes. (``numba.literally`` would give the
    same code but re-types the kernel on every call, ~20 ms.)
    """
    if n_components not in _LANES_KERNELS:

        @numba.njit(cache=True, error_model="numpy", parallel=True)
        def kernel(
            samples: NDArray,
            n_engines: int,
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
            for engine in prange(n_engines):
                _lanes_run(
                    samples, n_components, engine, n_engines, have_init, w_init, m_init, p_init, tol,
                    reg_covar, max_iter, keep_history, weights, means, cov, prec, converged, n_iter,
                    lower_bound, history,
                )  # fmt: skip

        _LANES_KERNELS[n_components] = kernel
    return _LANES_KERNELS[n_components]


def _fit3_lanes(
    samples: NDArray,
    init: object,
    tol: float,
    reg_covar: float,
    max_iter: int,
    keep_history: bool,
    w0: NDArray,
    m0: NDArray,
    p0: NDArray,
    out: dict[str, NDArray],
    history: NDArray,
) -> None:
    """Run :func:`_fit3_lanes_kernel`, one engine per thread."""
    n_batches = -(-samples.shape[1] // _LANES)
    n_engines = max(1, min(numba.get_num_threads(), n_batches))
    previous = numba.set_parallel_chunksize(1)
    try:
        _fit3_lanes_kernel(out["weights"].shape[1])(  # type: ignore[operator]
            samples, n_engines, init is not None, w0, m0, p0, tol, reg_covar, max_iter, keep_history,
            out["weights"], out["means"], out["covariances"], out["precisions_cholesky"],
            out["converged"], out["n_iter"], out["lower_bound"], history,
        )  # fmt: skip
    finally:
        numba.set_parallel_chunksize(previous)


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
    """``is_background (N, K)`` as :func:`bgsub.gmm.rank_components` then
    :func:`bgsub.gmm.background_mask` (float64, stable order, same sums in the same order)."""
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
        As ``rank_components`` then ``background_mask`` of :mod:`bgsub.gmm`.
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
