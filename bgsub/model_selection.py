"""Per-pixel choice of the number of mixture components by the Bayesian information criterion.

A still pixel's training samples are one Gaussian; a pixel under swaying leaves or a passing car
needs more. :func:`fit_by_bic` fits mixtures of ``1 .. max_components`` components to every pixel and
keeps, per pixel, the one of lowest BIC (scikit-learn's :meth:`~sklearn.mixture.GaussianMixture.bic`:
``-2 n mean_loglik + n_parameters log n``, ties to fewer components). The result is one
:class:`~bgsub.mixture.PixelGaussianMixture` of ``max_components`` components, so everything
downstream reads the usual arrays: where fewer were chosen, the missing components repeat the pixel's
heaviest one with the weight scikit-learn gives an empty component (``10 eps / n``), so they change
neither the likelihood nor the background that :func:`bgsub.ranking.background_mask` selects (they
rank last and never reach ``background_ratio``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from bgsub.mixture import PixelGaussianMixture

__all__ = ["n_parameters", "pixel_bic", "fit_by_bic"]

logger = logging.getLogger(__name__)

#: The fitted arrays of a :class:`~bgsub.mixture.PixelGaussianMixture`, and those with a component axis.
_FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_", "converged_", "n_iter_", "lower_bound_")
_PER_COMPONENT = ("means_", "covariances_", "precisions_cholesky_")


def n_parameters(n_components: int, n_channels: int, covariance_type: str) -> int:
    """Free parameters of a mixture (scikit-learn's ``GaussianMixture._n_parameters``).

    Examples
    --------
    >>> n_parameters(3, 3, "full"), n_parameters(1, 3, "diag"), n_parameters(2, 3, "spherical")
    (29, 6, 9)
    """
    c = n_channels
    covariance = {
        "full": n_components * c * (c + 1) // 2,
        "diag": n_components * c,
        "spherical": n_components,
    }[covariance_type]
    return covariance + n_components * c + n_components - 1


def pixel_bic(model: PixelGaussianMixture, frames: NDArray) -> NDArray[np.float64]:
    """BIC of every pixel's mixture on its samples ``frames (T, H, W, C)``: ``(H, W)`` float64, lower is better."""
    n_samples = frames.shape[0]
    n_params = n_parameters(model.n_components, frames.shape[-1], model.covariance_type)
    return -2.0 * n_samples * model.score(frames) + n_params * np.log(n_samples)


def _padded(values: NDArray, n_components: int, heaviest: NDArray[np.intp]) -> NDArray:
    """``values (H, W, k, ...)`` with components ``k .. n_components - 1`` copies of each pixel's ``heaviest``."""
    missing = n_components - values.shape[2]
    if missing == 0:
        return values
    index = heaviest.reshape(heaviest.shape + (1,) * (values.ndim - 2))
    copy = np.take_along_axis(values, index, axis=2)
    return np.concatenate([values] + [copy] * missing, axis=2)


def fit_by_bic(
    make_model: Callable[[int], PixelGaussianMixture], frames: NDArray, max_components: int,
) -> tuple[PixelGaussianMixture, NDArray[np.int64]]:
    """Fit ``make_model(k)`` for ``k = 1 .. max_components`` and keep each pixel's lowest-BIC mixture.

    Parameters
    ----------
    make_model : callable
        ``k -> PixelGaussianMixture`` with ``k`` components (every other setting the same).
    frames : ndarray of shape (T, H, W, C)
        Training frames.
    max_components : int

    Returns
    -------
    model : PixelGaussianMixture
        ``max_components`` components per pixel (see the module docstring for the unused ones).
    n_components : ndarray of shape (H, W), int64
        The number of components chosen at each pixel.
    """
    fits = [make_model(k).fit(frames) for k in range(1, max_components + 1)]
    bic = np.stack([pixel_bic(fit, frames) for fit in fits])
    choice = np.argmin(bic, axis=0)  # the first minimum: ties go to fewer components
    model = fits[-1]  # its arrays become the result, pixel by pixel
    floor = np.float32(10 * np.finfo(np.float32).eps / frames.shape[0])
    for k, fit in enumerate(fits[:-1], start=1):
        here = choice == k - 1
        if not here.any():
            continue
        heaviest = np.argmax(fit.weights_, axis=2)
        for name in _FITTED:
            value = getattr(fit, name)
            if name == "weights_":
                value = np.concatenate([value, np.full(value.shape[:2] + (max_components - k,), floor, value.dtype)],
                                       axis=2)
                value = value / value.sum(axis=2, keepdims=True, dtype=np.float64).astype(value.dtype)
            elif name in _PER_COMPONENT:
                value = _padded(value, max_components, heaviest)
            getattr(model, name)[here] = value[here]
    counts = np.bincount(choice.ravel(), minlength=max_components)
    logger.info("components chosen by BIC (1..%d): %s of the pixels", max_components,
                ", ".join(f"{c / choice.size:.0%}" for c in counts))
    return model, (choice + 1).astype(np.int64)
