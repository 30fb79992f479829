"""Batch per-pixel Gaussian mixture models fitted by EM, vectorised over pixels.

Every pixel of a ``(T, H, W, C)`` clip gets its own Gaussian mixture over its ``T`` colour
samples. :class:`PixelGaussianMixture` runs the EM algorithm of scikit-learn's
``GaussianMixture`` on all pixels of a chunk at once (one set of array operations per EM
iteration, no Python loop over pixels), and keeps scikit-learn's names and meanings with the
pixel grid in front: ``weights_ (H, W, K)``, ``means_ (H, W, K, C)``, ``covariances_``,
``precisions_cholesky_``, ``converged_ (H, W)``, ``n_iter_ (H, W)``, ``lower_bound_ (H, W)``.

Pixels are processed in chunks of ``chunk_size`` pixels so peak memory is bounded whatever the
frame size; every pixel's computation is independent of the others, so chunked and unchunked
fits give the same bytes.

Internally a chunk of ``P`` pixels is stored channel-first, ``X (C, P, T) float64``, and the
parameters pixel-last (``means (K, C, P)``, full covariances ``(K, C, C, P)``...), so every
operation is an element-wise operation on ``(P, T)`` slabs or a reduction over the contiguous
time axis.

The module also holds the background-subtraction pieces built on the mixture
(:func:`rank_components`, :func:`background_mask`, :func:`squared_mahalanobis`,
:func:`min_background_mahalanobis`) and the two methods of the registry,
:class:`GMMBackgroundMethod` (kind ``gmm_background``) and :class:`GMMMethod` (kind ``gmm``).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import NDArray

from bgsub.base import BackgroundMethod
from bgsub.kernels import Backend, resolve_backend
from bgsub.ranking import chi2_threshold

try:  # scikit-learn's class when it is installed, so users can filter one warning class
    from sklearn.exceptions import ConvergenceWarning
except ImportError:  # pragma: no cover - sklearn is in the project environment

    class ConvergenceWarning(UserWarning):  # type: ignore[no-redef]
        """Raised when EM did not converge for some pixels."""


__all__ = [
    "DEFAULT_BACKGROUND_RATIO",
    "DEFAULT_RANK_BY",
    "DEFAULT_REG_COVAR",
    "DEFAULT_THRESHOLD",
    "ConvergenceWarning",
    "GMMBackgroundMethod",
    "GMMMethod",
    "PixelGaussianMixture",
    "background_mask",
    "chi2_threshold",
    "min_background_mahalanobis",
    "rank_components",
    "squared_mahalanobis",
]

logger = logging.getLogger(__name__)

CovarianceType = Literal["full", "diag", "spherical"]
RankBy = Literal["weight", "weight_over_sigma"]

COVARIANCE_TYPES: tuple[str, ...] = ("full", "diag", "spherical")
RANKINGS: tuple[str, ...] = ("weight", "weight_over_sigma")

#: Default covariance floor, intensity units squared: MOG2's ``fVarMin`` (a standard deviation
#: of 2 grey levels), so that JPEG noise on a near-constant road pixel is not foreground.
DEFAULT_REG_COVAR = 4.0
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
#: Pixels per call of the compiled EM, at least, when the initial parameters are computed here
#: (given or random: ~0.6 KB per pixel at K=3, plus the float64 samples of the random M-step); with
#: the k-means initialisation the kernel reads the frames in place and runs all pixels in one call.
_COMPILED_CHUNK = 1 << 14


#: Default threshold of the ``gmm`` method (squared Mahalanobis units): the 0.999 quantile of
#: the chi-square law with 3 degrees of freedom (16.27; MOG2's ``varThreshold=16`` is 4 sigma
#: squared). Use :func:`chi2_threshold` for other channel counts.
DEFAULT_THRESHOLD = chi2_threshold(3, 0.999)
#: Default ``background_ratio`` (MOG2's ``backgroundRatio``).
DEFAULT_BACKGROUND_RATIO = 0.9
#: Default ranking of components for the background, measured on CDnet highway (K=3 full, fitted
#: on frames 1-469, F at the default threshold on validation frames 470-899 only):
#: "weight_over_sigma" F=0.364 vs "weight" F=0.331 (``benchmarks/bench_gmm.py --highway``).
DEFAULT_RANK_BY: RankBy = "weight_over_sigma"


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


# ----------------------------------------------------------------------------------------------
# The estimator
# ----------------------------------------------------------------------------------------------


class PixelGaussianMixture:
    """A Gaussian mixture per pixel, fitted by EM on all pixels of a chunk at once.

    The EM is scikit-learn's ``GaussianMixture`` (``n_init=1``) applied to every pixel's samples
    ``frames[:, i, j, :]``: log-space E-step, ``reg_covar`` added to the covariance diagonal in
    the M-step, precisions kept as Cholesky factors, a pixel stops when its lower bound (mean
    per-sample log-likelihood) changes by less than ``tol``. Converged pixels are frozen, which
    is what a per-pixel EM gives.

    Parameters
    ----------
    n_components : int, default=2
        Components per pixel, K.
    covariance_type : {"full", "diag", "spherical"}, default="full"
    tol : float, default=1e-3
        Convergence threshold on the change of the lower bound.
    reg_covar : float, default=4.0
        Added to the covariance diagonal, in intensity units squared (frames on 0-255).
        4.0 is MOG2's ``fVarMin`` (a standard deviation of 2 grey levels): road pixels of
        compressed video barely vary during training, and scikit-learn's 1e-6 would make a
        near-singular covariance turn JPEG noise into foreground. It also keeps constant and
        saturated pixels well defined.
    max_iter : int, default=100
        EM iterations per pixel at most.
    init_params : {"kmeans", "random"}, default="kmeans"
        ``"kmeans"``: deterministic per-pixel k-means (maximin seeding, Lloyd iterations; no
        randomness). ``"random"``: random responsibilities from a counter-based hash of
        ``(random_state, pixel, frame, component)``. Either way the first parameters come from
        an M-step on those responsibilities, with weights ``n_k / T`` as scikit-learn.
    weights_init : ndarray of shape (H, W, K), optional
    means_init : ndarray of shape (H, W, K, C), optional
    precisions_init : ndarray, optional
        Full ``(H, W, K, C, C)``, diag ``(H, W, K, C)``, spherical ``(H, W, K)``. Initial
        parameters override the ones from ``init_params``, as in scikit-learn.
    random_state : int, optional
        Seed of ``init_params="random"``; None draws one.
    chunk_size : int or None, default=4096
        Pixels per chunk (None: all pixels at once). Peak memory of a chunk is about
        ``chunk_size * T * (3K + C + 4) * 8`` bytes; results do not depend on it.
    keep_lower_bounds : bool, default=False
        Record ``lower_bounds_ (H, W, max_iter)``, the lower bound after every iteration;
        entries past ``n_iter_`` repeat the last value.
    backend : {"auto", "numpy", "numba"}, default="auto"
        Where full-covariance EM and :func:`min_background_mahalanobis` run: ``"numpy"`` is the
        reference code of this module, ``"numba"`` the compiled kernels of
        :mod:`bgsub.kernels.em` (same results within rounding; pixels as SIMD lanes, see there),
        ``"auto"`` numba when installed (``BGSUB_BACKEND`` overrides it, see
        :func:`bgsub.kernels.resolve_backend`). Diagonal and spherical covariances always use
        numpy.

    Attributes
    ----------
    weights_ : ndarray of shape (H, W, K), float32
        Sorted in descending order per pixel (the other attributes follow the same order).
    means_ : ndarray of shape (H, W, K, C), float32
    covariances_ : ndarray, float32
        Full ``(H, W, K, C, C)``, diag ``(H, W, K, C)``, spherical ``(H, W, K)``.
    precisions_cholesky_ : ndarray, float32
        Same shapes; for full, upper triangular ``U`` with ``inv(covariance) = U @ U.T``.
    converged_ : ndarray of shape (H, W), bool
    n_iter_ : ndarray of shape (H, W), int32
    lower_bound_ : ndarray of shape (H, W), float64
        Mean per-sample log-likelihood computed at the last iteration's E-step.
    lower_bounds_ : ndarray of shape (H, W, max_iter), float64
        Only with ``keep_lower_bounds=True``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> frames = np.where(rng.random((60, 2, 3, 1)) < 0.5, 50.0, 200.0) + rng.normal(0, 3, (60, 2, 3, 1))
    >>> gmm = PixelGaussianMixture(2, random_state=0).fit(frames)
    >>> gmm.means_.shape, bool(gmm.converged_.all())
    ((2, 3, 2, 1), True)
    >>> sorted(np.round(gmm.means_[0, 0, :, 0], -1).tolist())
    [50.0, 200.0]
    """

    def __init__(
        self,
        n_components: int = 2,
        *,
        covariance_type: CovarianceType = "full",
        tol: float = 1e-3,
        reg_covar: float = DEFAULT_REG_COVAR,
        max_iter: int = 100,
        init_params: Literal["kmeans", "random"] = "kmeans",
        weights_init: NDArray | None = None,
        means_init: NDArray | None = None,
        precisions_init: NDArray | None = None,
        random_state: int | None = None,
        chunk_size: int | None = DEFAULT_CHUNK_SIZE,
        keep_lower_bounds: bool = False,
        backend: Backend = "auto",
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.chunk_size = chunk_size
        self.keep_lower_bounds = keep_lower_bounds
        self.backend = backend

    # -- checks ----------------------------------------------------------------------------------

    def _check_parameters(self, grid: tuple[int, int], n_channels: int) -> None:
        if int(self.n_components) < 1:
            raise ValueError(f"n_components must be >= 1, got {self.n_components}")
        _cov_shape(self.covariance_type, 1, 1)
        if self.tol < 0 or self.reg_covar < 0:
            raise ValueError(f"tol and reg_covar must be >= 0, got {self.tol}, {self.reg_covar}")
        if int(self.max_iter) < 1:
            raise ValueError(f"max_iter must be >= 1, got {self.max_iter}")
        if self.init_params not in ("kmeans", "random"):
            raise ValueError(f"init_params must be 'kmeans' or 'random', got {self.init_params!r}")
        if self.chunk_size is not None and int(self.chunk_size) < 1:
            raise ValueError(f"chunk_size must be >= 1 or None, got {self.chunk_size}")
        k = self.n_components
        expected = {
            "weights_init": grid + (k,),
            "means_init": grid + (k, n_channels),
            "precisions_init": grid + _cov_shape(self.covariance_type, k, n_channels),
        }
        for name, shape in expected.items():
            value = getattr(self, name)
            if value is not None and np.shape(value) != shape:
                raise ValueError(f"{name} has shape {np.shape(value)}, expected {shape} for these frames")

    def _seed(self) -> int:
        if self.random_state is None:
            return int(np.random.default_rng().integers(2**63))
        return int(self.random_state) % 2**64

    # -- fitting -----------------------------------------------------------------------------------

    def _initial_parameters(
        self, X: NDArray[np.float64], pixels: slice, seed: int
    ) -> dict[str, NDArray[np.float64]]:
        """First parameters of a chunk (chunk layout), as scikit-learn's ``_initialize``."""
        n_channels, n_pixels, n_frames = X.shape
        k = self.n_components
        params: dict[str, NDArray[np.float64]] = {}
        if self.weights_init is None or self.means_init is None or self.precisions_init is None:
            if self.init_params == "kmeans":
                resp, centres = _kmeans_resp(X, k)
            else:
                resp = _random_resp(seed, np.arange(pixels.start, pixels.stop), n_frames, k)
                centres = None
            est = _estimate_parameters(X, resp, self.reg_covar, self.covariance_type)
            if centres is not None:  # an empty k-means cluster keeps its centre, not sklearn's 0
                empty = resp.sum(axis=-1) == 0
                est["means"] = np.where(empty[:, None, :], centres, est["means"])
            params["weights"] = est["nk"] / n_frames
            params["means"] = est["means"]
            params["covariances"] = est["covariances"]
            params["precisions_cholesky"] = _precision_cholesky(est["covariances"], self.covariance_type)
        else:
            params["covariances"] = np.zeros((*_cov_shape(self.covariance_type, k, n_channels), n_pixels))
        if self.weights_init is not None:
            params["weights"] = _to_chunk(np.reshape(self.weights_init, (-1, k)), pixels)
        if self.means_init is not None:
            params["means"] = _to_chunk(np.reshape(self.means_init, (-1, k, n_channels)), pixels)
        if self.precisions_init is not None:
            shape = _cov_shape(self.covariance_type, k, n_channels)
            prec = _to_chunk(np.reshape(self.precisions_init, (-1, *shape)), pixels)
            params["precisions_cholesky"] = _precision_cholesky_from_precisions(prec, self.covariance_type)
        return params

    def _fit_chunk(
        self, X: NDArray[np.float64], pixels: slice, seed: int
    ) -> tuple[dict[str, NDArray[np.float64]], NDArray, NDArray, NDArray, NDArray | None]:
        """EM on one chunk; returns (params in chunk layout, converged, n_iter, lower_bound, history)."""
        n_pixels = X.shape[1]
        current = self._initial_parameters(X, pixels, seed)
        final = {name: np.empty_like(value) for name, value in current.items()}
        lower_bound = np.full(n_pixels, -np.inf)
        n_iter = np.zeros(n_pixels, dtype=np.int32)
        converged = np.zeros(n_pixels, dtype=bool)
        history = np.empty((n_pixels, self.max_iter)) if self.keep_lower_bounds else None
        active = np.arange(n_pixels)
        Xa = X
        for it in range(1, self.max_iter + 1):
            new_bound, resp = _e_step(Xa, current, self.covariance_type)
            current = _m_step(Xa, resp, self.reg_covar, self.covariance_type)
            del resp
            change = new_bound - lower_bound[active]
            lower_bound[active] = new_bound
            n_iter[active] = it
            if history is not None:
                history[active, it - 1 :] = new_bound[:, None]
            done = np.abs(change) < self.tol
            if not done.any():
                continue
            converged[active[done]] = True
            for name, value in current.items():
                final[name][..., active[done]] = value[..., done]
            keep = ~done
            active = active[keep]
            if active.size == 0:
                break
            Xa = np.ascontiguousarray(Xa[:, keep])
            current = {name: np.ascontiguousarray(value[..., keep]) for name, value in current.items()}
        for name, value in current.items():
            if active.size:
                final[name][..., active] = value
        return final, converged, n_iter, lower_bound, history

    def _use_compiled(self) -> bool:
        """Whether EM and scoring of this model run in the compiled kernels."""
        return self.covariance_type == "full" and resolve_backend(self.backend) == "numba"

    def _fit_chunk_compiled(self, flat: NDArray, pixels: slice, seed: int, out: dict[str, NDArray]) -> None:
        """:meth:`_fit_chunk` in the compiled kernel, which writes the results of ``pixels`` straight
        into ``out`` (views of the model's arrays; components already sorted by weight)."""
        from bgsub.kernels import em

        init = None
        given = (self.weights_init, self.means_init, self.precisions_init)
        if self.init_params != "kmeans" or any(value is not None for value in given):
            params = self._initial_parameters(_chunk_samples(flat, pixels), pixels, seed)
            init = tuple(_from_chunk(params[name]) for name in ("weights", "means", "precisions_cholesky"))
        em.fit_full(
            flat[:, pixels],
            self.n_components,
            tol=self.tol,
            reg_covar=self.reg_covar,
            max_iter=self.max_iter,
            init=init,  # type: ignore[arg-type]
            keep_history=self.keep_lower_bounds,
            out={name: value[pixels] if value is not None else None for name, value in out.items()},
        )

    def fit(self, frames: NDArray) -> PixelGaussianMixture:
        """Fit every pixel's mixture by EM.

        Parameters
        ----------
        frames : ndarray of shape (T, H, W, C)
            uint8, or float on the 0-255 scale.

        Returns
        -------
        self

        Warns
        -----
        ConvergenceWarning
            Once, with the number of pixels that did not converge within ``max_iter``.
        """
        frames = _check_frames(frames)
        n_frames, height, width, n_channels = frames.shape
        self._check_parameters((height, width), n_channels)
        k = self.n_components
        n_pixels = height * width
        flat = frames.reshape(n_frames, n_pixels, n_channels)
        cov_shape = _cov_shape(self.covariance_type, k, n_channels)
        weights = np.empty((n_pixels, k), dtype=np.float32)
        means = np.empty((n_pixels, k, n_channels), dtype=np.float32)
        covariances = np.empty((n_pixels, *cov_shape), dtype=np.float32)
        prec_chol = np.empty((n_pixels, *cov_shape), dtype=np.float32)
        converged = np.empty(n_pixels, dtype=bool)
        n_iter = np.empty(n_pixels, dtype=np.int32)
        lower_bound = np.empty(n_pixels, dtype=np.float64)
        history = np.empty((n_pixels, self.max_iter)) if self.keep_lower_bounds else None
        seed = self._seed()
        compiled = self._use_compiled()
        chunk_size = self.chunk_size
        if compiled and chunk_size:
            # the lane kernel (C = 3, no history) reads the frames in place and writes the results in
            # place: chunks only bound the initial parameters computed here (given or random) and the
            # float64 copy of the samples the per-pixel kernel makes
            given = (self.weights_init, self.means_init, self.precisions_init)
            kmeans = self.init_params == "kmeans" and all(value is None for value in given)
            from bgsub.kernels.em import runs_in_lanes

            lanes = runs_in_lanes(n_channels, frames.dtype, self.keep_lower_bounds)
            chunk_size = None if kmeans and lanes else max(chunk_size, _COMPILED_CHUNK)
        results = {
            "weights": weights, "means": means, "covariances": covariances, "precisions_cholesky": prec_chol,
            "converged": converged, "n_iter": n_iter, "lower_bound": lower_bound, "history": history,
        }  # fmt: skip
        for pixels in _pixel_chunks(n_pixels, chunk_size):
            if compiled:
                self._fit_chunk_compiled(flat, pixels, seed, results)
                continue
            params, conv, nit, bound, hist = self._fit_chunk(_chunk_samples(flat, pixels), pixels, seed)
            order = np.argsort(-params["weights"], axis=0, kind="stable")  # (K, P)
            weights[pixels] = _from_chunk(np.take_along_axis(params["weights"], order, axis=0))
            means[pixels] = _from_chunk(np.take_along_axis(params["means"], order[:, None], axis=0))
            index = order.reshape(order.shape[:1] + (1,) * (len(cov_shape) - 1) + order.shape[1:])
            covariances[pixels] = _from_chunk(np.take_along_axis(params["covariances"], index, axis=0))
            prec_chol[pixels] = _from_chunk(np.take_along_axis(params["precisions_cholesky"], index, axis=0))
            converged[pixels], n_iter[pixels], lower_bound[pixels] = conv, nit, bound
            if history is not None:
                history[pixels] = hist
            logger.debug("fitted pixels %d-%d of %d", pixels.start, pixels.stop, n_pixels)
        grid = (height, width)
        self.weights_ = weights.reshape(grid + (k,))
        self.means_ = means.reshape(grid + (k, n_channels))
        self.covariances_ = covariances.reshape(grid + cov_shape)
        self.precisions_cholesky_ = prec_chol.reshape(grid + cov_shape)
        self.converged_ = converged.reshape(grid)
        self.n_iter_ = n_iter.reshape(grid)
        self.lower_bound_ = lower_bound.reshape(grid)
        if history is not None:
            self.lower_bounds_ = history.reshape(grid + (self.max_iter,))
        n_failed = int(n_pixels - converged.sum())
        if n_failed:
            warnings.warn(
                f"EM did not converge for {n_failed} of {n_pixels} pixels within max_iter={self.max_iter} "
                f"(tol={self.tol}); try increasing max_iter or tol.",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    # -- scoring -------------------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "weights_"):
            raise RuntimeError("this PixelGaussianMixture is not fitted yet; call fit(frames) first")

    def score_samples(self, frames: NDArray) -> NDArray[np.float32]:
        """Log-likelihood of every sample under its pixel's mixture (higher = background-like).

        Parameters
        ----------
        frames : ndarray of shape (T, H, W, C)
            Same H, W, C as the training frames.

        Returns
        -------
        log_likelihood : ndarray of shape (T, H, W), float32
        """
        self._check_fitted()
        frames = _check_frames(frames)
        _check_grid(frames, self.means_)
        cov_type = self.covariance_type
        out = np.empty(frames.shape[:3], dtype=np.float32)
        for X, pixels, frame_block, chunk in _scoring_blocks(frames, self.means_, self.chunk_size):
            wlp = _weighted_log_prob(
                X,
                _to_chunk(chunk(self.weights_), slice(None)),
                _to_chunk(chunk(self.means_), slice(None)),
                _to_chunk(chunk(self.precisions_cholesky_), slice(None)),
                cov_type,
            )
            out.reshape(frames.shape[0], -1)[frame_block, pixels] = _logsumexp_components(wlp).T
        return out

    def score(self, frames: NDArray) -> NDArray[np.float64]:
        """Mean per-sample log-likelihood per pixel, ``(H, W)`` float64 (scikit-learn's ``score``)."""
        return self.score_samples(frames).astype(np.float64).mean(axis=0)


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


# ----------------------------------------------------------------------------------------------
# Background model functions
# ----------------------------------------------------------------------------------------------


def rank_components(
    weights: NDArray,
    covariances: NDArray,
    covariance_type: CovarianceType,
    *,
    by: RankBy = "weight",
) -> NDArray[np.intp]:
    """Order of each pixel's components, most background-like first.

    Parameters
    ----------
    weights : ndarray of shape (H, W, K)
    covariances : ndarray
        Full ``(H, W, K, C, C)``, diag ``(H, W, K, C)``, spherical ``(H, W, K)``.
    covariance_type : {"full", "diag", "spherical"}
    by : {"weight", "weight_over_sigma"}
        ``"weight"``: descending weight. ``"weight_over_sigma"``: descending ``w / sigma`` as
        Stauffer and Grimson, with ``sigma = sqrt(trace(Sigma) / C)`` (the root mean variance
        per channel), so a broad light component ranks below a narrow one of equal weight.

    Returns
    -------
    order : ndarray of shape (H, W, K), intp
        ``np.take_along_axis(weights, order, -1)`` lists the components in rank order; ties
        keep the stored order.

    Examples
    --------
    >>> w = np.array([[[0.5, 0.5]]]); var = np.array([[[100.0, 4.0]]])
    >>> rank_components(w, var, "spherical", by="weight_over_sigma")[0, 0].tolist()
    [1, 0]
    """
    weights = np.asarray(weights, dtype=np.float64)
    if by == "weight":
        key = weights
    elif by == "weight_over_sigma":
        covariances = np.asarray(covariances, dtype=np.float64)
        if covariance_type == "full":
            mean_var = np.trace(covariances, axis1=-2, axis2=-1) / covariances.shape[-1]
        elif covariance_type == "diag":
            mean_var = covariances.mean(axis=-1)
        elif covariance_type == "spherical":
            mean_var = covariances
        else:
            raise ValueError(f"covariance_type must be one of {COVARIANCE_TYPES}, got {covariance_type!r}")
        key = weights / np.sqrt(np.maximum(mean_var, _PIVOT_FLOOR))
    else:
        raise ValueError(f"by must be one of {RANKINGS}, got {by!r}")
    return np.argsort(-key, axis=-1, kind="stable")


def background_mask(weights_sorted: NDArray, background_ratio: float) -> NDArray[np.bool_]:
    """Which ranked components form the background.

    The first components whose cumulative weight reaches ``background_ratio``: component k is
    background when the weights ranked before it sum to less than the ratio, so the component
    that crosses the ratio is included, and the first component always is.

    Parameters
    ----------
    weights_sorted : ndarray of shape (H, W, K)
        Weights in rank order.
    background_ratio : float
        In (0, 1]; MOG2's ``backgroundRatio``.

    Returns
    -------
    mask : ndarray of shape (H, W, K), bool

    Examples
    --------
    >>> background_mask(np.array([0.6, 0.35, 0.05]), 0.9).tolist()
    [True, True, False]
    """
    weights_sorted = np.asarray(weights_sorted, dtype=np.float64)
    before = np.cumsum(weights_sorted, axis=-1) - weights_sorted
    mask = before < background_ratio
    mask[..., 0] = True
    return mask


def squared_mahalanobis(
    frames: NDArray,
    means: NDArray,
    precisions_cholesky: NDArray,
    covariance_type: CovarianceType,
    *,
    chunk_size: int | None = DEFAULT_CHUNK_SIZE,
) -> NDArray[np.float32]:
    """Squared Mahalanobis distance of every sample to every component of its pixel.

    Parameters
    ----------
    frames : ndarray of shape (T, H, W, C)
    means : ndarray of shape (H, W, K, C)
    precisions_cholesky : ndarray
        Full ``(H, W, K, C, C)``, diag ``(H, W, K, C)``, spherical ``(H, W, K)``, as
        :attr:`PixelGaussianMixture.precisions_cholesky_`.
    covariance_type : {"full", "diag", "spherical"}
    chunk_size : int or None
        Pixels per chunk.

    Returns
    -------
    d2 : ndarray of shape (T, H, W, K), float32
    """
    frames = _check_frames(frames)
    means = np.asarray(means)
    _check_grid(frames, means)
    n_frames = frames.shape[0]
    n_components = means.shape[2]
    out = np.empty(frames.shape[:3] + (n_components,), dtype=np.float32)
    flat_out = out.reshape(n_frames, -1, n_components)
    for X, pixels, block, chunk in _scoring_blocks(frames, means, chunk_size):
        d2 = _squared_mahalanobis_chunk(
            X,
            _to_chunk(chunk(means), slice(None)),
            _to_chunk(chunk(np.asarray(precisions_cholesky)), slice(None)),
            covariance_type,
        )
        flat_out[block, pixels] = np.transpose(d2, (2, 1, 0))
    return out


def min_background_mahalanobis(
    frames: NDArray,
    model: PixelGaussianMixture,
    *,
    background_ratio: float = DEFAULT_BACKGROUND_RATIO,
    rank_by: RankBy = DEFAULT_RANK_BY,
    chunk_size: int | None = DEFAULT_CHUNK_SIZE,
) -> NDArray[np.float32]:
    """Squared Mahalanobis distance of every sample to the nearest background component.

    Parameters
    ----------
    frames : ndarray of shape (T, H, W, C)
    model : PixelGaussianMixture
        Fitted on frames of the same size.
    background_ratio : float
        See :func:`background_mask`.
    rank_by : {"weight", "weight_over_sigma"}
        See :func:`rank_components`.
    chunk_size : int or None
        Pixels per chunk.

    Returns
    -------
    d2 : ndarray of shape (T, H, W), float32
        Higher = more likely foreground.
    """
    model._check_fitted()
    frames = _check_frames(frames)
    _check_grid(frames, model.means_)
    cov_type = model.covariance_type
    if model._use_compiled():  # ranking, background selection and distances in compiled kernels
        from bgsub.kernels import em

        n_frames, height, width, n_channels = frames.shape
        k = model.means_.shape[2]
        n = height * width
        d2 = em.min_background_d2_ranked(
            frames.reshape(n_frames, n, n_channels),
            model.weights_.reshape(n, k),
            model.means_.reshape(n, k, n_channels),
            model.covariances_.reshape(n, k, n_channels, n_channels),
            model.precisions_cholesky_.reshape(n, k, n_channels, n_channels),
            background_ratio,
            rank_by,
        )
        return d2.reshape(frames.shape[:3])
    order = rank_components(model.weights_, model.covariances_, cov_type, by=rank_by)
    ranked = background_mask(np.take_along_axis(model.weights_, order, axis=-1), background_ratio)
    is_background = np.zeros_like(ranked)
    np.put_along_axis(is_background, order, ranked, axis=-1)
    out = np.empty(frames.shape[:3], dtype=np.float32)
    flat_out = out.reshape(frames.shape[0], -1)
    for X, pixels, block, chunk in _scoring_blocks(frames, model.means_, chunk_size):
        d2 = _squared_mahalanobis_chunk(
            X,
            _to_chunk(chunk(model.means_), slice(None)),
            _to_chunk(chunk(model.precisions_cholesky_), slice(None)),
            cov_type,
        )
        bg = _to_chunk(chunk(is_background), slice(None)).astype(bool)  # (K, P)
        d2[~bg] = np.inf
        flat_out[block, pixels] = d2.min(axis=0).T
    return out


# ----------------------------------------------------------------------------------------------
# Methods of the registry
# ----------------------------------------------------------------------------------------------

#: Training frames (taken evenly) that :meth:`GMMMethod.calibrate` scores to measure the dynamics.
_DYNAMICS_FRAMES = 150

_STATE_KEYS = (
    "weights_",
    "means_",
    "covariances_",
    "precisions_cholesky_",
    "converged_",
    "n_iter_",
    "lower_bound_",
)


class _PixelGMMMethod(BackgroundMethod):
    """Shared settings, fitting and state of the two GMM methods."""

    def __init__(
        self,
        *,
        n_components: int = 3,
        covariance_type: CovarianceType = "full",
        reg_covar: float = DEFAULT_REG_COVAR,
        tol: float = 1e-3,
        max_iter: int = 100,
        init_params: Literal["kmeans", "random"] = "kmeans",
        random_state: int | None = 0,
        background_ratio: float = DEFAULT_BACKGROUND_RATIO,
        rank_by: RankBy = DEFAULT_RANK_BY,
        chunk_size: int | None = DEFAULT_CHUNK_SIZE,
    ) -> None:
        if rank_by not in RANKINGS:
            raise ValueError(f"rank_by must be one of {RANKINGS}, got {rank_by!r}")
        if not 0.0 < background_ratio <= 1.0:
            raise ValueError(f"background_ratio must be in (0, 1], got {background_ratio}")
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.tol = tol
        self.max_iter = max_iter
        self.init_params = init_params
        self.random_state = random_state
        self.background_ratio = background_ratio
        self.rank_by = rank_by
        self.chunk_size = chunk_size
        self.model_: PixelGaussianMixture | None = None

    def get_params(self) -> dict[str, Any]:
        """Return the constructor settings."""
        return {
            "n_components": self.n_components,
            "covariance_type": self.covariance_type,
            "reg_covar": self.reg_covar,
            "tol": self.tol,
            "max_iter": self.max_iter,
            "init_params": self.init_params,
            "random_state": self.random_state,
            "background_ratio": self.background_ratio,
            "rank_by": self.rank_by,
            "chunk_size": self.chunk_size,
        }

    def _new_model(self) -> PixelGaussianMixture:
        return PixelGaussianMixture(
            self.n_components,
            covariance_type=self.covariance_type,
            tol=self.tol,
            reg_covar=self.reg_covar,
            max_iter=self.max_iter,
            init_params=self.init_params,
            random_state=self.random_state,
            chunk_size=self.chunk_size,
        )

    def fit(self, frames: NDArray) -> _PixelGMMMethod:
        """Fit the per-pixel mixtures on training frames ``(T, H, W, C)``; return self."""
        self.model_ = self._new_model().fit(frames)
        return self

    def _fitted(self) -> PixelGaussianMixture:
        if self.model_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted yet; call fit(frames) or set_state()")
        return self.model_

    def _first_ranked_means(self) -> NDArray[np.float32]:
        """Means of each pixel's first-ranked component, ``(H, W, C)`` float32."""
        model = self._fitted()
        order = rank_components(model.weights_, model.covariances_, model.covariance_type, by=self.rank_by)
        return np.take_along_axis(model.means_, order[..., :1, None], axis=2)[:, :, 0, :]

    def background_image(self) -> NDArray[np.uint8]:
        """Means of the first-ranked components, ``(H, W, C)`` uint8 (rounded, clipped)."""
        return np.clip(np.rint(self._first_ranked_means()), 0, 255).astype(np.uint8)

    def get_state(self) -> dict[str, NDArray]:
        """Fitted arrays: ``weights_``, ``means_``, ``covariances_``, ``precisions_cholesky_``,
        ``converged_``, ``n_iter_``, ``lower_bound_``."""
        model = self._fitted()
        return {key: np.asarray(getattr(model, key)) for key in _STATE_KEYS}

    def set_state(self, state: dict[str, NDArray]) -> _PixelGMMMethod:
        """Restore the arrays of :meth:`get_state`; return self."""
        missing = [key for key in _STATE_KEYS if key not in state]
        if missing:
            raise ValueError(f"state lacks {missing}")
        model = self._new_model()
        weights = np.asarray(state["weights_"])
        if weights.ndim != 3 or weights.shape[2] != self.n_components:
            raise ValueError(f"weights_ has shape {weights.shape}, expected (H, W, {self.n_components})")
        height, width, k = weights.shape
        n_channels = np.asarray(state["means_"]).shape[-1]
        expected = {
            "means_": (height, width, k, n_channels),
            "covariances_": (height, width) + _cov_shape(self.covariance_type, k, n_channels),
            "precisions_cholesky_": (height, width) + _cov_shape(self.covariance_type, k, n_channels),
            "converged_": (height, width),
            "n_iter_": (height, width),
            "lower_bound_": (height, width),
        }
        for key, shape in expected.items():
            if np.shape(state[key]) != shape:
                raise ValueError(f"{key} has shape {np.shape(state[key])}, expected {shape}")
        for key in _STATE_KEYS:
            setattr(model, key, np.array(state[key]))
        self.model_ = model
        return self


class GMMBackgroundMethod(_PixelGMMMethod):
    """Background image = mean of each pixel's first-ranked component; score = RGB distance to it.

    Kind ``gmm_background``. Scores are Euclidean distances in intensity units (0-441 for RGB),
    like the ``mean`` and ``median`` methods. ``background_ratio`` is accepted for a uniform
    configuration but not used.

    Parameters
    ----------
    n_components, covariance_type, reg_covar, tol, max_iter, init_params, random_state, chunk_size
        As :class:`PixelGaussianMixture`.
    background_ratio : float, default=0.9
        Unused here.
    rank_by : {"weight", "weight_over_sigma"}
        Which component is first (see :func:`rank_components`).
    """

    kind: ClassVar[str] = "gmm_background"

    def foreground_scores(self, frames: NDArray) -> NDArray[np.float32]:
        """Euclidean distance of frames ``(T, H, W, C)`` to the background image, ``(T, H, W)`` float32."""
        frames = _check_frames(frames)
        background = self._first_ranked_means()
        _check_grid(frames, background[:, :, None, :])
        out = np.empty(frames.shape[:3], dtype=np.float32)
        for start in range(0, frames.shape[0], _SCORE_FRAMES_PER_BLOCK):
            block = slice(start, start + _SCORE_FRAMES_PER_BLOCK)
            diff = frames[block].astype(np.float32) - background
            out[block] = np.sqrt(np.einsum("thwc,thwc->thw", diff, diff))
        return out


class GMMMethod(_PixelGMMMethod):
    """Per-pixel GMM background; score = squared Mahalanobis distance to the nearest background component.

    Kind ``gmm``. Each pixel's components are ranked (``rank_by``) and the first ones whose
    weights add up to ``background_ratio`` are background (:func:`background_mask`). The score
    of a test sample is its smallest squared Mahalanobis distance to those components.

    Default threshold: :data:`DEFAULT_THRESHOLD` = 16.27, the 0.999 quantile of the chi-square
    law with 3 degrees of freedom (the law of the squared Mahalanobis distance of an RGB sample
    of a Gaussian component); for grey frames use ``chi2_threshold(1)`` = 10.83.

    The scoring levers below (all off by default) are applied by :func:`bgsub.spatial.score_frames`;
    with all of them off the scores are those of :func:`min_background_mahalanobis`.

    Parameters
    ----------
    n_components, covariance_type, reg_covar, tol, max_iter, init_params, random_state, chunk_size
        As :class:`PixelGaussianMixture`.
    background_ratio : float, default=0.9
        MOG2's ``backgroundRatio``.
    rank_by : {"weight", "weight_over_sigma"}
        See :func:`rank_components`.
    var_min, var_max : float or None
        Bounds on the covariance eigenvalues at scoring time, intensity units squared (MOG2's
        ``fVarMin``/``fVarMax`` are 4 and 75); None = unbounded.
    spatial_radius : int, default=0
        Score a pixel against the background components of its ``(2r+1) x (2r+1)`` neighbours too
        and keep the smallest distance (ViBe/SuBSENSE-style spatial context).
    gain_compensation : bool, default=False
        Divide each frame by its robust global illumination gain first.
    shadow_tau : float or None
        Shadow suppression (pixels that are a darker copy of a background component, brightness
        ratio in ``[shadow_tau, 1)``, score 0); None = off. MOG2's ``shadowThreshold`` is 0.5.
    shadow_var_threshold : float, default=16.0
        Colour-distortion bound of the shadow test in (bounded) variances, MOG2's ``Tb``.
    shadow_texture : float or None
        With ``shadow_tau``: a shadow must also keep the background's texture: the pixel's own
        brightness ratio times the background explains its 3x3 window up to a mean squared
        residual of this many variances, so a dark object with a texture of its own is not a
        shadow. None = off. The colour-distortion bound is then not scaled by the squared
        brightness ratio (sensor noise does not darken with the light).
    shadow_max : float, default=1.0
        Upper end of the shadow's brightness ratio band ``[shadow_tau, shadow_max)``.
    spatial_gate : float or None
        With ``spatial_radius``: use the neighbours' components only at pixels whose background
        is dynamic, i.e. where at least this fraction of the training frames was called
        foreground by the pixel's own components and explained by a neighbour's
        (:func:`bgsub.spatial.training_dynamics`). None = at every pixel.
    adaptive_threshold : float or None
        Per-pixel thresholds: each pixel's score is divided by
        ``clip(q / dynamics_threshold, 1, adaptive_threshold)``, with ``q`` the
        ``adaptive_quantile`` of its own training scores, so a pixel whose background
        often scored high during training needs a larger distance. None = off.
    adaptive_quantile : float, default=0.9
        Level of that per-pixel quantile.
    dynamics_threshold : float, default=7.81
        Squared distance above which a training sample counts as unexplained (the chi-square 0.95
        quantile for 3 channels).
    learning_rate : float, default=0.0
        Selective running-average update of the matched background means while scoring; a
        positive rate makes the method adaptive (frames must come in order, once).
    update_threshold : float
        Squared Mahalanobis distance under which a pixel updates its model.
    """

    kind: ClassVar[str] = "gmm"
    default_threshold: ClassVar[float] = DEFAULT_THRESHOLD

    def __init__(
        self,
        *,
        var_min: float | None = None,
        var_max: float | None = None,
        spatial_radius: int = 0,
        gain_compensation: bool = False,
        shadow_tau: float | None = None,
        shadow_var_threshold: float = 16.0,
        learning_rate: float = 0.0,
        update_threshold: float = DEFAULT_THRESHOLD,
        shadow_texture: float | None = None,
        shadow_max: float = 1.0,
        spatial_gate: float | None = None,
        adaptive_threshold: float | None = None,
        adaptive_quantile: float = 0.9,
        dynamics_threshold: float = 7.81,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        if spatial_gate is not None and not 0.0 <= spatial_gate <= 1.0:
            raise ValueError(f"spatial_gate must be in [0, 1] or None, got {spatial_gate}")
        if adaptive_threshold is not None and adaptive_threshold < 1.0:
            raise ValueError(f"adaptive_threshold must be >= 1 or None, got {adaptive_threshold}")
        if not 0.0 < adaptive_quantile < 1.0:
            raise ValueError(f"adaptive_quantile must be in (0, 1), got {adaptive_quantile}")
        if shadow_texture is not None and shadow_texture <= 0:
            raise ValueError(f"shadow_texture must be positive or None, got {shadow_texture}")
        if var_min is not None and var_max is not None and var_max < var_min:
            raise ValueError(f"var_max ({var_max}) must not be below var_min ({var_min})")
        if int(spatial_radius) != spatial_radius or spatial_radius < 0:
            raise ValueError(f"spatial_radius must be a non-negative integer, got {spatial_radius}")
        if not 0.0 <= learning_rate <= 1.0:
            raise ValueError(f"learning_rate must be in [0, 1], got {learning_rate}")
        if shadow_tau is not None and not 0.0 < shadow_tau < shadow_max <= 1.0:
            raise ValueError(f"need 0 < shadow_tau < shadow_max <= 1, got {shadow_tau}, {shadow_max}")
        self.var_min = None if var_min is None else float(var_min)
        self.var_max = None if var_max is None else float(var_max)
        self.spatial_radius = int(spatial_radius)
        self.gain_compensation = bool(gain_compensation)
        self.shadow_tau = None if shadow_tau is None else float(shadow_tau)
        self.shadow_var_threshold = float(shadow_var_threshold)
        self.learning_rate = float(learning_rate)
        self.update_threshold = float(update_threshold)
        self.shadow_texture = None if shadow_texture is None else float(shadow_texture)
        self.shadow_max = float(shadow_max)
        self.spatial_gate = None if spatial_gate is None else float(spatial_gate)
        self.adaptive_threshold = None if adaptive_threshold is None else float(adaptive_threshold)
        self.adaptive_quantile = float(adaptive_quantile)
        self.dynamics_threshold = float(dynamics_threshold)
        self._scoring: Any = None
        self.dynamics_: dict[str, NDArray[np.float32]] | None = None

    @property
    def tileable(self) -> bool:
        """False when scoring looks across pixels (global gain, spatial neighbourhood, training dynamics)."""
        return not (self.gain_compensation or self.spatial_radius > 0 or self.needs_dynamics)

    @property
    def adaptive(self) -> bool:  # type: ignore[override]
        """True when the model keeps learning while it scores (``learning_rate > 0``)."""
        return self.learning_rate > 0

    def get_params(self) -> dict[str, Any]:
        """Return the constructor settings."""
        return {
            **super().get_params(),
            "var_min": self.var_min,
            "var_max": self.var_max,
            "spatial_radius": self.spatial_radius,
            "gain_compensation": self.gain_compensation,
            "shadow_tau": self.shadow_tau,
            "shadow_var_threshold": self.shadow_var_threshold,
            "learning_rate": self.learning_rate,
            "update_threshold": self.update_threshold,
            "shadow_texture": self.shadow_texture,
            "shadow_max": self.shadow_max,
            "spatial_gate": self.spatial_gate,
            "adaptive_threshold": self.adaptive_threshold,
            "adaptive_quantile": self.adaptive_quantile,
            "dynamics_threshold": self.dynamics_threshold,
        }

    @property
    def needs_dynamics(self) -> bool:
        """True when scoring reads the training dynamics (:meth:`calibrate`)."""
        return (self.spatial_gate is not None and self.spatial_radius > 0) or self.adaptive_threshold is not None

    def _levers_on(self) -> bool:
        return (
            self.var_min is not None or self.var_max is not None or self.spatial_radius > 0
            or self.gain_compensation or self.shadow_tau is not None or self.learning_rate > 0
            or self.adaptive_threshold is not None
        )

    def fit(self, frames: NDArray) -> GMMMethod:
        """Fit the per-pixel mixtures on training frames ``(T, H, W, C)``; return self."""
        self._scoring = None
        self.dynamics_ = None
        super().fit(frames)
        if self.needs_dynamics:
            self.calibrate(frames)
        return self

    def _new_scoring(self) -> Any:
        from bgsub.spatial import scoring_model  # lazy: spatial imports this module

        model = self._fitted()
        return scoring_model(
            model.weights_, model.means_, model.covariances_, model.covariance_type,
            background_ratio=self.background_ratio, rank_by=self.rank_by,
            var_min=self.var_min, var_max=self.var_max,
        )

    def calibrate(self, frames: NDArray, max_frames: int = _DYNAMICS_FRAMES) -> GMMMethod:
        """Measure how dynamic each pixel's background is on training frames ``(T, H, W, C)``; return self.

        Sets :attr:`dynamics_` (``rescued`` and ``score_quantile``, ``(H, W)`` float32, see
        :func:`bgsub.spatial.training_dynamics`) from at most ``max_frames`` frames taken evenly.
        """
        from bgsub.spatial import training_dynamics

        frames = _check_frames(frames)
        _check_grid(frames, self._fitted().means_)
        pick = np.unique(np.linspace(0, len(frames) - 1, min(len(frames), max_frames)).round().astype(int))
        rescued, quantile = training_dynamics(
            frames[pick], self._new_scoring(), radius=max(self.spatial_radius, 1), gain=self.gain_compensation,
            threshold=self.dynamics_threshold, quantile=self.adaptive_quantile,
        )
        self.dynamics_ = {"rescued": rescued, "score_quantile": quantile}
        return self

    def get_state(self) -> dict[str, NDArray]:
        """Fitted arrays of the mixture, plus ``dynamics_rescued``/``dynamics_score_quantile`` when calibrated."""
        state = super().get_state()
        if self.dynamics_ is not None:
            state.update({f"dynamics_{key}": value for key, value in self.dynamics_.items()})
        return state

    def set_state(self, state: dict[str, NDArray]) -> GMMMethod:
        """Restore the arrays of :meth:`get_state`; return self."""
        self._scoring = None
        super().set_state(state)
        keys = ("rescued", "score_quantile")
        if all(f"dynamics_{key}" in state for key in keys):
            self.dynamics_ = {key: np.asarray(state[f"dynamics_{key}"], np.float32) for key in keys}
        else:
            self.dynamics_ = None
        return self

    def _dynamics(self) -> dict[str, NDArray[np.float32]]:
        if self.dynamics_ is None:
            raise RuntimeError("spatial_gate/adaptive_threshold need the training dynamics: fit() or calibrate()")
        return self.dynamics_

    def _spatial_gate(self) -> NDArray[np.bool_] | None:
        if self.spatial_gate is None or self.spatial_radius == 0:
            return None
        return self._dynamics()["rescued"] >= max(self.spatial_gate, 1e-6)

    def _score_scale(self) -> NDArray[np.float32] | None:
        if self.adaptive_threshold is None:
            return None
        ratio = self._dynamics()["score_quantile"] / np.float32(self.dynamics_threshold)
        return np.clip(ratio, 1.0, self.adaptive_threshold).astype(np.float32)

    def foreground_scores(self, frames: NDArray) -> NDArray[np.float32]:
        """Squared Mahalanobis distance to the nearest background component, ``(T, H, W)`` float32."""
        model = self._fitted()
        if not self._levers_on():
            return min_background_mahalanobis(
                frames,
                model,
                background_ratio=self.background_ratio,
                rank_by=self.rank_by,
                chunk_size=self.chunk_size,
            )
        from bgsub.spatial import score_frames  # lazy: spatial imports this module

        frames = _check_frames(frames)
        _check_grid(frames, model.means_)
        if self._scoring is None:  # kept across calls: an adaptive model goes on from where it was
            self._scoring = self._new_scoring()
        return score_frames(
            frames, self._scoring, radius=self.spatial_radius, spatial_gate=self._spatial_gate(),
            gain=self.gain_compensation, shadow_tau=self.shadow_tau,
            shadow_var_threshold=self.shadow_var_threshold, shadow_texture=self.shadow_texture,
            shadow_min_score=self.dynamics_threshold, shadow_max=self.shadow_max,
            score_scale=self._score_scale(), learning_rate=self.learning_rate,
            update_threshold=self.update_threshold,
        )
