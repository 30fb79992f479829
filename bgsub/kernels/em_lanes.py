"""EM with full covariances for C = 3: pixels as SIMD lanes, float32 sums into float64 (see
:mod:`bgsub.kernels.em` for the design).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange
from numpy.typing import NDArray

from bgsub.kernels.em_pixel import _weight_order
from bgsub.kernels.kmeans import _init_batch
from bgsub.kernels.lanes import _LANES, _SAMPLE_ROW, _ix, _ixs
from bgsub.kernels.vecmath import (
    _EPS10,
    _F32_HALF,
    _F32_ONE,
    _F32_ZERO,
    _FASTMATH,
    _HALF_LOG_2PI3,
    _PIVOT_FLOOR,
    _TINY,
    _exp32_nonpositive,
    _log_positive,
)

__all__ = []

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


_T_BLOCK = 32


@numba.njit(cache=True, error_model="numpy", inline="always")
def _sample_block(n_components: int) -> int:
    """Samples per float32 block of :func:`_lanes_pass`: ``_T_BLOCK``, or fewer when the product of the
    block's totals (each in [1, K]) could exceed float32's range (K >= 16); always even."""
    bits = math.log2(max(n_components, 2))
    return max(2, min(_T_BLOCK, 2 * int(63.0 / bits)))



#: A second pass when a sum of squares about the old mean exceeds this multiple of the centred one
#: (float32 sums keep about 1e-7 of the former; the M-step is stationary, so errors enter squared).
_CANCEL_RATIO = 64.0
#: ... and exceeds it by more than this many squared grey levels per unit of weight.
_CANCEL_SLACK = 1e-6



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
            # Cholesky with the pivot floor, then U = inv(L).T (the order of bgsub.mixture_em)
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
                # prange's index is int64 where numba types the loop and uint64 in the parallel body: one type
                # compiles _lanes_run once, not twice
                _lanes_run(
                    samples, n_components, np.int64(engine), n_engines, have_init, w_init, m_init, p_init, tol,
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
