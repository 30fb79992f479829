"""Deterministic k-means initialisation of the compiled EM: one pixel at a time, and a batch of
``_LANES`` pixels as float64 lanes (the numpy reference is :func:`bgsub.mixture_em._kmeans_resp`).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import NDArray

from bgsub.kernels.lanes import _LANES, _ix
from bgsub.kernels.vecmath import _EPS10, _FASTMATH, _PIVOT_FLOOR

__all__ = []

_KMEANS_MAX_ITER = 20


# ----------------------------------------------------------------------------------------------
# k-means initialisation of one pixel (bgsub.mixture_em._kmeans_resp, exactly)
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
    """Maximin seeding + Lloyd iterations (``bgsub.mixture_em._kmeans_resp``) on raw samples ``X (C, T)``."""
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
    ``U = inv(L).T`` by forward substitution (the order of ``bgsub.mixture_em``); branch free."""
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
    """M-step on the one-hot labels (``bgsub.mixture_em._estimate_parameters``): from the member counts and
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
