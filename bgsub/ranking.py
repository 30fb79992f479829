"""Which components of a pixel's mixture are background, and how far a sample is from them.

Components are ranked (:func:`rank_components`, Stauffer and Grimson's ``w / sigma`` or the weight),
the first ones whose weights reach ``background_ratio`` are background (:func:`background_mask`),
and a sample's score is its squared Mahalanobis distance to the nearest of them
(:func:`min_background_mahalanobis`), whose law under the model gives the threshold
(:func:`chi2_threshold`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.special
from numpy.typing import NDArray

from bgsub.kernels import classify
from bgsub.mixture import PixelGaussianMixture
from bgsub.mixture_em import (
    _PIVOT_FLOOR,
    COVARIANCE_TYPES,
    DEFAULT_CHUNK_SIZE,
    CovarianceType,
    _check_frames,
    _check_grid,
    _scoring_blocks,
    _squared_mahalanobis_chunk,
    _to_chunk,
)

__all__ = [
    "DEFAULT_BACKGROUND_RATIO",
    "DEFAULT_RANK_BY",
    "RANKINGS",
    "RankBy",
    "background_mask",
    "chi2_threshold",
    "min_background_mahalanobis",
    "rank_components",
    "squared_mahalanobis",
]

RankBy = Literal["weight", "weight_over_sigma"]

RANKINGS: tuple[str, ...] = ("weight", "weight_over_sigma")

#: Default ``background_ratio`` (MOG2's ``backgroundRatio``).
DEFAULT_BACKGROUND_RATIO = 0.9
#: Default ranking of components for the background, measured on CDnet highway (K=3 full, fitted
#: on frames 1-469, F at the default threshold on validation frames 470-899 only):
#: "weight_over_sigma" F=0.364 vs "weight" F=0.331 (``benchmarks/bench_gmm.py --highway``).
DEFAULT_RANK_BY: RankBy = "weight_over_sigma"

def chi2_threshold(n_channels: int = 3, quantile: float = 0.999) -> float:
    """Chi-square quantile with ``n_channels`` degrees of freedom.

    A background pixel drawn from a Gaussian component has a squared Mahalanobis distance that
    follows a chi-square law with C degrees of freedom, so this quantile is the threshold whose
    per-pixel false-positive rate is ``1 - quantile`` under the model.

    Parameters
    ----------
    n_channels : int
        Degrees of freedom C (1 for grey, 3 for RGB).
    quantile : float
        Probability in (0, 1).

    Returns
    -------
    float

    Examples
    --------
    >>> round(chi2_threshold(3, 0.999), 2)
    16.27
    """
    if n_channels < 1 or not 0.0 < quantile < 1.0:
        raise ValueError(f"need n_channels >= 1 and 0 < quantile < 1, got {n_channels}, {quantile}")
    return float(2.0 * scipy.special.gammaincinv(n_channels / 2.0, quantile))

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
        n_frames, height, width, n_channels = frames.shape
        k = model.means_.shape[2]
        n = height * width
        d2 = classify.min_background_d2_ranked(
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
