"""The numpy EM of :class:`bgsub.mixture.PixelGaussianMixture` on a chunk of pixels (the reference code).

Small module-level functions on arrays, as scikit-learn's ``_gaussian_mixture.py``: chunk layout
and checks, batched Cholesky algebra, the log-space E-step and the M-step, and the two
initialisations (deterministic k-means, counter-based random responsibilities).

A chunk of ``P`` pixels is stored channel-first, ``X (C, P, T) float64``, and the parameters
pixel-last (``means (K, C, P)``, full covariances ``(K, C, C, P)``...), so every operation is an
element-wise operation on ``(P, T)`` slabs or a reduction over the contiguous time axis.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "COVARIANCE_TYPES",
    "CovarianceType",
    "DEFAULT_CHUNK_SIZE",
    "precisions_cholesky_of",
]

CovarianceType = Literal["full", "diag", "spherical"]

COVARIANCE_TYPES: tuple[str, ...] = ("full", "diag", "spherical")

#: Default pixels per chunk; memory per chunk is about ``chunk_size * T * (3K + C + 4) * 8`` bytes.
DEFAULT_CHUNK_SIZE = 4096
#: Frames per block when scoring (scoring is independent per frame and pixel).
_SCORE_FRAMES_PER_BLOCK = 256
#: Lloyd iterations of the deterministic k-means initialisation.
_KMEANS_MAX_ITER = 20
#: Smallest pivot of the batched Cholesky factorisation (intensity units squared); only reached
#: with ``reg_covar=0`` on a degenerate pixel, where scikit-learn would raise instead.
_PIVOT_FLOOR = 1e-12
_LOG_2PI = math.log(2.0 * math.pi)
_EPS10 = 10.0 * np.finfo(np.float64).eps


# ----------------------------------------------------------------------------------------------
# Validation and layout helpers
# ----------------------------------------------------------------------------------------------


def _check_frames(frames: NDArray, name: str = "frames") -> NDArray:
    """Validate frames ``(T, H, W, C)`` on the 0-255 scale; return them as an ndarray."""
    frames = np.asarray(frames)
    if frames.ndim != 4:
        raise ValueError(f"{name} must have shape (T, H, W, C), got shape {frames.shape}")
    if min(frames.shape) < 1:
        raise ValueError(f"{name} has an empty axis: shape {frames.shape}")
    if frames.dtype.kind not in "uif":
        raise ValueError(f"{name} must be uint8 or float on the 0-255 scale, got dtype {frames.dtype}")
    if frames.dtype.kind == "f" and not np.all(np.isfinite(frames)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return frames


def _pixel_chunks(n_pixels: int, chunk_size: int | None) -> Iterator[slice]:
    """Yield slices of flat pixel indices of at most ``chunk_size`` pixels."""
    step = n_pixels if chunk_size is None else max(1, int(chunk_size))
    for start in range(0, n_pixels, step):
        yield slice(start, min(start + step, n_pixels))


def _chunk_samples(flat_frames: NDArray, pixels: slice) -> NDArray[np.float64]:
    """Samples of a pixel chunk, channel first.

    Parameters
    ----------
    flat_frames : ndarray of shape (T, N, C)
    pixels : slice of the N axis (P pixels)

    Returns
    -------
    X : ndarray of shape (C, P, T), float64, C-contiguous
    """
    return np.ascontiguousarray(np.transpose(flat_frames[:, pixels, :], (2, 1, 0)), dtype=np.float64)


def _to_chunk(arr: NDArray, pixels: slice | NDArray) -> NDArray[np.float64]:
    """Per-pixel array ``(N, ...)`` -> chunk layout ``(..., P)`` float64."""
    return np.ascontiguousarray(np.moveaxis(np.asarray(arr[pixels], dtype=np.float64), 0, -1))


def _from_chunk(arr: NDArray) -> NDArray:
    """Chunk layout ``(..., P)`` -> per-pixel layout ``(P, ...)``."""
    return np.moveaxis(arr, -1, 0)


def _cov_shape(covariance_type: str, n_components: int, n_channels: int) -> tuple[int, ...]:
    """Per-pixel shape of covariances (and precision Cholesky factors)."""
    if covariance_type == "full":
        return (n_components, n_channels, n_channels)
    if covariance_type == "diag":
        return (n_components, n_channels)
    if covariance_type == "spherical":
        return (n_components,)
    raise ValueError(f"covariance_type must be one of {COVARIANCE_TYPES}, got {covariance_type!r}")


# ----------------------------------------------------------------------------------------------
# Batched linear algebra (matrices stored (C, C, ...) with the batch axes last)
# ----------------------------------------------------------------------------------------------


def _cholesky_lower(a: NDArray[np.float64]) -> NDArray[np.float64]:
    """Batched lower Cholesky factor of symmetric positive definite matrices.

    Parameters
    ----------
    a : ndarray of shape (C, C, ...)
        Symmetric matrices, batch axes last.

    Returns
    -------
    L : ndarray of shape (C, C, ...)
        Lower triangular with ``L @ L.T = a``; pivots are floored at ``_PIVOT_FLOOR`` so a
        (numerically) singular matrix gives a finite factor instead of NaN.
    """
    n = a.shape[0]
    low = np.zeros_like(a)
    for j in range(n):
        pivot = a[j, j].copy()
        for k in range(j):
            pivot -= low[j, k] * low[j, k]
        low[j, j] = np.sqrt(np.maximum(pivot, _PIVOT_FLOOR))
        for i in range(j + 1, n):
            off = a[i, j].copy()
            for k in range(j):
                off -= low[i, k] * low[j, k]
            low[i, j] = off / low[j, j]
    return low


def _invert_lower(low: NDArray[np.float64]) -> NDArray[np.float64]:
    """Batched inverse of lower triangular matrices ``(C, C, ...)`` by forward substitution."""
    n = low.shape[0]
    inv = np.zeros_like(low)
    for i in range(n):
        inv[i, i] = 1.0 / low[i, i]
        for j in range(i):
            acc = low[i, j] * inv[j, j]
            for k in range(j + 1, i):
                acc += low[i, k] * inv[k, j]
            inv[i, j] = -acc / low[i, i]
    return inv


def _precision_cholesky(covariances: NDArray[np.float64], covariance_type: str) -> NDArray[np.float64]:
    """Cholesky factors of the precisions, as scikit-learn's ``_compute_precision_cholesky``.

    Parameters
    ----------
    covariances : ndarray
        Chunk layout: full ``(K, C, C, P)``, diag ``(K, C, P)``, spherical ``(K, P)``.
    covariance_type : {"full", "diag", "spherical"}

    Returns
    -------
    precisions_cholesky : ndarray, same shape
        Full: upper triangular ``U`` with ``precision = U @ U.T`` (``U = inv(chol(cov)).T``);
        diag/spherical: ``1 / sqrt(cov)``.
    """
    if covariance_type == "full":
        cov = np.moveaxis(covariances, 0, 2)  # (C, C, K, P)
        inv_low = _invert_lower(_cholesky_lower(cov))
        return np.ascontiguousarray(np.moveaxis(np.swapaxes(inv_low, 0, 1), 2, 0))
    return 1.0 / np.sqrt(np.maximum(covariances, _PIVOT_FLOOR))


def precisions_cholesky_of(
    covariances: NDArray, covariance_type: str, chunk_size: int | None = DEFAULT_CHUNK_SIZE
) -> NDArray[np.float32]:
    """Precision Cholesky factors of stored covariances, per-pixel layout, float32.

    A fitted mixture's ``precisions_cholesky_`` are this function of its float32
    ``covariances_`` (computed in float64, then rounded), so a model file needs only the
    covariances: loading recomputes the same bits.

    Parameters
    ----------
    covariances : ndarray
        Pixel axes first, then full ``(K, C, C)``, diag ``(K, C)`` or spherical ``(K,)``.
    covariance_type : {"full", "diag", "spherical"}
    chunk_size : int or None
        Pixels per float64 chunk (None: all at once).
    """
    cov = np.asarray(covariances)
    per_pixel = len(_cov_shape(covariance_type, 1, 1))
    flat = cov.reshape((-1,) + cov.shape[cov.ndim - per_pixel:])
    out = np.empty(flat.shape, dtype=np.float32)
    for pixels in _pixel_chunks(len(flat), chunk_size):
        out[pixels] = _from_chunk(_precision_cholesky(_to_chunk(flat, pixels), covariance_type))
    return out.reshape(cov.shape)


def _precision_cholesky_from_precisions(
    precisions: NDArray[np.float64], covariance_type: str
) -> NDArray[np.float64]:
    """Upper Cholesky factors ``U`` (``precision = U @ U.T``) from precision matrices.

    As scikit-learn: the lower Cholesky factor of the precision with rows and columns reversed,
    reversed back, so the factor is upper triangular like the ones the M-step produces.

    Parameters
    ----------
    precisions : ndarray
        Chunk layout: full ``(K, C, C, P)``, diag ``(K, C, P)``, spherical ``(K, P)``.
    covariance_type : {"full", "diag", "spherical"}
    """
    if covariance_type == "full":
        prec = np.moveaxis(precisions, 0, 2)[::-1, ::-1]  # (C, C, K, P) flipped
        upper = _cholesky_lower(np.ascontiguousarray(prec))[::-1, ::-1]
        return np.ascontiguousarray(np.moveaxis(upper, 2, 0))
    return np.sqrt(np.maximum(precisions, 0.0))


def _log_det_cholesky(
    precisions_cholesky: NDArray[np.float64], covariance_type: str, n_channels: int
) -> NDArray:
    """Log-determinant of the precision Cholesky factors, ``(K, P)``."""
    if covariance_type == "full":
        diag = np.stack([precisions_cholesky[:, c, c] for c in range(n_channels)])
        return np.log(diag).sum(axis=0)
    if covariance_type == "diag":
        return np.log(precisions_cholesky).sum(axis=1)
    return n_channels * np.log(precisions_cholesky)


# ----------------------------------------------------------------------------------------------
# E-step and M-step on a chunk
# ----------------------------------------------------------------------------------------------


def _squared_mahalanobis_chunk(
    X: NDArray[np.float64],
    means: NDArray[np.float64],
    precisions_cholesky: NDArray[np.float64],
    covariance_type: str,
) -> NDArray[np.float64]:
    """Squared Mahalanobis distances of the samples of a chunk to every component.

    Parameters
    ----------
    X : ndarray of shape (C, P, T)
    means : ndarray of shape (K, C, P)
    precisions_cholesky : ndarray
        Full ``(K, C, C, P)`` (upper triangular), diag ``(K, C, P)``, spherical ``(K, P)``.
    covariance_type : {"full", "diag", "spherical"}

    Returns
    -------
    d2 : ndarray of shape (K, P, T), float64
    """
    n_channels, n_pixels, n_frames = X.shape
    n_components = means.shape[0]
    out = np.empty((n_components, n_pixels, n_frames), dtype=np.float64)
    for k in range(n_components):
        diff = [X[c] - means[k, c][:, None] for c in range(n_channels)]
        acc = out[k]
        if covariance_type == "full":
            for j in range(n_channels):
                y = diff[0] * precisions_cholesky[k, 0, j][:, None]
                for c in range(1, j + 1):
                    y += diff[c] * precisions_cholesky[k, c, j][:, None]
                if j == 0:
                    np.multiply(y, y, out=acc)
                else:
                    acc += y * y
        else:
            for c in range(n_channels):
                scale = (precisions_cholesky[k, c] if covariance_type == "diag" else precisions_cholesky[k])[
                    :, None
                ]
                y = diff[c] * scale
                if c == 0:
                    np.multiply(y, y, out=acc)
                else:
                    acc += y * y
    return out


def _weighted_log_prob(
    X: NDArray[np.float64],
    weights: NDArray[np.float64],
    means: NDArray[np.float64],
    precisions_cholesky: NDArray[np.float64],
    covariance_type: str,
) -> NDArray[np.float64]:
    """``log w_k + log N(x_t | mu_k, Sigma_k)`` for a chunk, ``(K, P, T)`` float64."""
    n_channels = X.shape[0]
    out = _squared_mahalanobis_chunk(X, means, precisions_cholesky, covariance_type)
    offset = _log_det_cholesky(precisions_cholesky, covariance_type, n_channels) + np.log(weights)
    offset -= 0.5 * n_channels * _LOG_2PI
    out *= -0.5
    out += offset[:, :, None]
    return out


def _row_dot(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """``sum_t a[p, t] * b[p, t]`` -> ``(P,)``: one pass, no temporary, each row on its own."""
    return np.einsum("pt,pt->p", a, b)


def _logsumexp_components(wlp: NDArray[np.float64], *, normalise: bool = False) -> NDArray[np.float64]:
    """``log sum_k exp(wlp[k])`` over the first axis, ``(K, P, T) -> (P, T)``.

    With ``normalise=True`` ``wlp`` is overwritten by ``exp(wlp - logsumexp)`` (the
    responsibilities), reusing the exponentials.
    """
    top = wlp[0].copy()
    for k in range(1, wlp.shape[0]):
        np.maximum(top, wlp[k], out=top)
    if normalise:
        wlp -= top
        np.exp(wlp, out=wlp)
        total = wlp[0].copy()
        for k in range(1, wlp.shape[0]):
            total += wlp[k]
        wlp /= total
    else:
        total = np.exp(wlp[0] - top)
        for k in range(1, wlp.shape[0]):
            total += np.exp(wlp[k] - top)
    np.log(total, out=total)
    total += top
    return total


def _e_step(
    X: NDArray[np.float64], params: dict[str, NDArray[np.float64]], covariance_type: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """E-step in log space.

    Returns
    -------
    lower_bound : ndarray of shape (P,)
        Mean per-sample log-likelihood of the current parameters.
    resp : ndarray of shape (K, P, T)
        Responsibilities ``exp(log_resp)``.
    """
    wlp = _weighted_log_prob(
        X, params["weights"], params["means"], params["precisions_cholesky"], covariance_type
    )
    log_norm = _logsumexp_components(wlp, normalise=True)
    return np.einsum("pt->p", log_norm) / log_norm.shape[-1], wlp


def _estimate_parameters(
    X: NDArray[np.float64], resp: NDArray[np.float64], reg_covar: float, covariance_type: str
) -> dict[str, NDArray[np.float64]]:
    """Gaussian parameters from responsibilities, as scikit-learn's ``_estimate_gaussian_parameters``.

    Parameters
    ----------
    X : ndarray of shape (C, P, T)
    resp : ndarray of shape (K, P, T)
    reg_covar : float
        Added to the covariance diagonal.
    covariance_type : {"full", "diag", "spherical"}

    Returns
    -------
    dict with ``nk (K, P)`` (soft counts + 10 eps), ``means (K, C, P)`` and ``covariances``
    (full ``(K, C, C, P)``, diag ``(K, C, P)``, spherical ``(K, P)``).

    Notes
    -----
    The formulas are scikit-learn's: full covariances from the samples centred on the new means;
    diag and spherical variances as ``E[x^2] - mean^2`` (in float64 the cancellation error is
    below 1e-10 for 0-255 data). The difference matters for a near-empty component, whose soft
    count is dominated by the ``10 eps`` guard: keeping the same formula keeps the same EM path.
    """
    n_channels, n_pixels, _ = X.shape
    n_components = resp.shape[0]
    nk = np.einsum("kpt->kp", resp) + _EPS10
    means = np.empty((n_components, n_channels, n_pixels))
    if covariance_type == "full":
        cov = np.empty((n_components, n_channels, n_channels, n_pixels))
    else:
        cov = np.empty((n_components, n_channels, n_pixels))
    for k in range(n_components):
        r = resp[k]
        for c in range(n_channels):
            means[k, c] = _row_dot(r, X[c]) / nk[k]
        if covariance_type == "full":
            diff = [X[c] - means[k, c][:, None] for c in range(n_channels)]
            for a in range(n_channels):
                rd = r * diff[a]
                for b in range(a + 1):
                    value = _row_dot(rd, diff[b]) / nk[k]
                    cov[k, a, b] = value
                    cov[k, b, a] = value
                cov[k, a, a] += reg_covar
        else:
            for c in range(n_channels):
                cov[k, c] = _row_dot(r * X[c], X[c]) / nk[k] - means[k, c] ** 2 + reg_covar
    if covariance_type == "spherical":
        cov = cov.mean(axis=1)
    return {"nk": nk, "means": means, "covariances": cov}


def _m_step(
    X: NDArray[np.float64], resp: NDArray[np.float64], reg_covar: float, covariance_type: str
) -> dict[str, NDArray[np.float64]]:
    """M-step: weights (normalised to sum 1), means, covariances and precision Cholesky factors."""
    est = _estimate_parameters(X, resp, reg_covar, covariance_type)
    nk = est.pop("nk")
    est["weights"] = nk / nk.sum(axis=0)
    est["precisions_cholesky"] = _precision_cholesky(est["covariances"], covariance_type)
    return est


# ----------------------------------------------------------------------------------------------
# Initialisation on a chunk
# ----------------------------------------------------------------------------------------------


def _kmeans_resp(
    X: NDArray[np.float64], n_components: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Deterministic per-pixel k-means (maximin seeding + Lloyd), vectorised over pixels.

    Seeding: the first centre is the sample nearest to the pixel's temporal mean, each next one
    the sample farthest from the centres chosen so far (ties: earliest frame). Then at most
    ``_KMEANS_MAX_ITER`` Lloyd iterations; an empty cluster keeps its centre. Only pixels whose
    labels changed are iterated again: a pixel whose labels stop changing is at a fixed point,
    so each pixel gets the same result as if it were fitted alone.

    Parameters
    ----------
    X : ndarray of shape (C, P, T)
    n_components : int

    Returns
    -------
    resp : ndarray of shape (K, P, T)
        One-hot cluster labels.
    centres : ndarray of shape (K, C, P)
    """
    n_channels, n_pixels, _ = X.shape
    rows = np.arange(n_pixels)
    centres = np.empty((n_components, n_channels, n_pixels))
    first = _sq_dist(X, X.mean(axis=-1)).argmin(axis=-1)
    centres[0] = X[:, rows, first]
    nearest = _sq_dist(X, centres[0])
    for k in range(1, n_components):
        centres[k] = X[:, rows, nearest.argmax(axis=-1)]
        np.minimum(nearest, _sq_dist(X, centres[k]), out=nearest)
    del nearest

    labels = _nearest_centre(X, centres)
    active = rows
    Xa = X
    for _ in range(_KMEANS_MAX_ITER):
        new_centres = _update_centres(Xa, labels[active], centres[..., active])
        new_labels = _nearest_centre(Xa, new_centres)
        centres[..., active] = new_centres
        changed = (new_labels != labels[active]).any(axis=-1)
        labels[active] = new_labels
        if not changed.all():
            active = active[changed]
            if active.size == 0:
                break
            Xa = np.ascontiguousarray(Xa[:, changed])
    resp = np.stack([(labels == k).astype(np.float64) for k in range(n_components)])
    return resp, centres


def _sq_dist(X: NDArray[np.float64], centre: NDArray[np.float64]) -> NDArray[np.float64]:
    """Squared Euclidean distances ``(P, T)`` of samples ``X (C, P, T)`` to one centre ``(C, P)``."""
    d = X[0] - centre[0][:, None]
    d *= d
    for c in range(1, X.shape[0]):
        e = X[c] - centre[c][:, None]
        e *= e
        d += e
    return d


def _nearest_centre(X: NDArray[np.float64], centres: NDArray[np.float64]) -> NDArray[np.intp]:
    """Index ``(P, T)`` of the nearest centre ``(K, C, P)`` to each sample (ties: lowest index)."""
    best = _sq_dist(X, centres[0])
    labels = np.zeros(best.shape, dtype=np.intp)
    for k in range(1, centres.shape[0]):
        dist = _sq_dist(X, centres[k])
        closer = dist < best
        labels[closer] = k
        np.minimum(best, dist, out=best)
    return labels


def _update_centres(
    X: NDArray[np.float64], labels: NDArray[np.intp], centres: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Lloyd update: mean of each cluster ``(K, C, P)``; an empty cluster keeps its centre."""
    new = centres.copy()
    for k in range(centres.shape[0]):
        member = (labels == k).astype(np.float64)
        count = np.einsum("pt->p", member)
        for c in range(X.shape[0]):
            total = _row_dot(member, X[c])
            new[k, c] = np.where(count > 0, total / np.maximum(count, 1.0), centres[k, c])
    return new


def _splitmix64(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """SplitMix64 finaliser, element-wise on uint64 (wrapping arithmetic)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _random_resp(seed: int, pixel_index: NDArray[np.intp], n_frames: int, n_components: int) -> NDArray:
    """Random responsibilities ``(K, P, T)`` from a counter-based hash of (seed, pixel, frame, k).

    Each pixel's numbers depend only on the seed and its flat index, so chunking never changes
    them.
    """
    k = np.arange(n_components, dtype=np.uint64)[:, None, None]
    p = pixel_index.astype(np.uint64)[None, :, None]
    t = np.arange(n_frames, dtype=np.uint64)[None, None, :]
    counter = (p * np.uint64(n_frames) + t) * np.uint64(n_components) + k
    key = _splitmix64(np.asarray([seed], dtype=np.uint64))[0]
    bits = _splitmix64(counter ^ key)
    resp = ((bits >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
    resp /= resp.sum(axis=0)
    return resp



def _check_grid(frames: NDArray, means: NDArray) -> None:
    """Raise if frames ``(T, H, W, C)`` do not match a model with ``means (H, W, K, C)``."""
    if frames.shape[1:3] != means.shape[:2] or frames.shape[3] != means.shape[3]:
        raise ValueError(
            f"frames are {frames.shape[1]}x{frames.shape[2]} with {frames.shape[3]} channels, "
            f"the model is {means.shape[0]}x{means.shape[1]} with {means.shape[3]} channels"
        )


def _scoring_blocks(
    frames: NDArray, means: NDArray, chunk_size: int | None
) -> Iterator[tuple[NDArray[np.float64], slice, slice, Any]]:
    """Yield ``(X (C, P, Tb), pixels, frames_block, chunk)`` over pixel chunks and frame blocks.

    ``chunk(arr)`` selects the chunk's pixels of a per-pixel array ``(H, W, ...)`` as ``(P, ...)``.
    """
    n_frames, height, width, n_channels = frames.shape
    n_pixels = height * width
    flat = frames.reshape(n_frames, n_pixels, n_channels)
    size = DEFAULT_CHUNK_SIZE if chunk_size is None else chunk_size
    for pixels in _pixel_chunks(n_pixels, size):

        def chunk(arr: NDArray, pixels: slice = pixels) -> NDArray:
            return np.reshape(arr, (n_pixels, *arr.shape[2:]))[pixels]

        for start in range(0, n_frames, _SCORE_FRAMES_PER_BLOCK):
            block = slice(start, min(start + _SCORE_FRAMES_PER_BLOCK, n_frames))
            yield _chunk_samples(flat[block], pixels), pixels, block, chunk
