"""Batch per-pixel Gaussian mixture models fitted by EM, vectorised over pixels.

Every pixel of a ``(T, H, W, C)`` clip gets its own Gaussian mixture over its ``T`` colour
samples. :class:`PixelGaussianMixture` runs the EM algorithm of scikit-learn's
``GaussianMixture`` on all pixels of a chunk at once (one set of array operations per EM
iteration, no Python loop over pixels), and keeps scikit-learn's names and meanings with the
pixel grid in front: ``weights_ (H, W, K)``, ``means_ (H, W, K, C)``, ``covariances_``,
``precisions_cholesky_``, ``converged_ (H, W)``, ``n_iter_ (H, W)``, ``lower_bound_ (H, W)``.

Pixels are processed in chunks of ``chunk_size`` pixels so peak memory is bounded whatever the
frame size; every pixel's computation is independent of the others, so chunked and unchunked
fits give the same bytes. The numpy EM math lives in :mod:`bgsub.mixture_em`, the compiled
kernels in :mod:`bgsub.kernels.em`.
"""

from __future__ import annotations

import copy
import logging
import warnings
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from bgsub.kernels import Backend, resolve_backend
from bgsub.kernels import em as em_kernels
from bgsub.mixture_em import (
    DEFAULT_CHUNK_SIZE,
    CovarianceType,
    _check_frames,
    _check_grid,
    _chunk_samples,
    _cov_shape,
    _e_step,
    _estimate_parameters,
    _from_chunk,
    _kmeans_resp,
    _logsumexp_components,
    _m_step,
    _pixel_chunks,
    _precision_cholesky,
    _precision_cholesky_from_precisions,
    _random_resp,
    _scoring_blocks,
    _to_chunk,
    _weighted_log_prob,
    precisions_cholesky_of,
)

__all__ = [
    "ConvergenceWarning",
    "DEFAULT_REG_COVAR",
    "PixelGaussianMixture",
    "keep_heaviest",
]

logger = logging.getLogger(__name__)


class ConvergenceWarning(UserWarning):
    """Raised when EM did not converge for some pixels (scikit-learn's name; bgsub's own class, since importing
    scikit-learn for it took 0.9 s of every workflow job's start)."""

#: Default covariance floor, intensity units squared: MOG2's ``fVarMin`` (a standard deviation
#: of 2 grey levels), so that JPEG noise on a near-constant road pixel is not foreground.
DEFAULT_REG_COVAR = 4.0

#: Pixels per call of the compiled EM, at least, when the initial parameters are computed here
#: (given or random: ~0.6 KB per pixel at K=3, plus the float64 samples of the random M-step); with
#: the k-means initialisation the kernel reads the frames in place and runs all pixels in one call.
_COMPILED_CHUNK = 1 << 14

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
        Where full-covariance EM and :func:`bgsub.ranking.min_background_mahalanobis` run: ``"numpy"`` is the
        reference code of :mod:`bgsub.mixture_em`, ``"numba"`` the compiled kernels of
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
        Same shapes; for full, upper triangular ``U`` with ``inv(covariance) = U @ U.T``. Those of the
        float32 ``covariances_`` (:func:`~bgsub.mixture_em.precisions_cholesky_of`), so the two agree
        to the bit and a saved model can leave them out.
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
        init = None
        given = (self.weights_init, self.means_init, self.precisions_init)
        if self.init_params != "kmeans" or any(value is not None for value in given):
            params = self._initial_parameters(_chunk_samples(flat, pixels), pixels, seed)
            init = tuple(_from_chunk(params[name]) for name in ("weights", "means", "precisions_cholesky"))
        em_kernels.fit_full(
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
            lanes = em_kernels.runs_in_lanes(n_channels, frames.dtype, self.keep_lower_bounds)
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
        self.precisions_cholesky_ = precisions_cholesky_of(self.covariances_, self.covariance_type, self.chunk_size)
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


def keep_heaviest(model: PixelGaussianMixture, n_components: int) -> PixelGaussianMixture:
    """The ``n_components`` heaviest components of each pixel of a fitted ``model``, as a new model.

    EM with more components than are kept separates what a few would merge: three flickering
    background colours and a passing object need four components, and with three, two of the colours
    share one broad component. Keeping the heaviest afterwards drops the light ones (passers-by)
    and leaves a model of ``n_components`` to score with.

    Parameters
    ----------
    model : PixelGaussianMixture
        Fitted; its components are sorted by decreasing weight at each pixel, as :meth:`~PixelGaussianMixture.fit`
        leaves them.
    n_components : int
        How many to keep, from 1 to ``model.n_components``.

    Returns
    -------
    PixelGaussianMixture
        A copy with ``n_components`` components whose weights are renormalized to sum to 1 at each pixel.
        ``converged_``, ``n_iter_``, ``lower_bound_`` (and ``lower_bounds_`` when kept) describe the fit of the
        larger mixture.

    Examples
    --------
    >>> frames = np.zeros((40, 1, 1, 3), np.uint8)
    >>> frames[:20], frames[20:32], frames[32:] = 50, 150, 250   # 50 %, 30 %, 20 % of the frames
    >>> kept = keep_heaviest(PixelGaussianMixture(3, reg_covar=4.0).fit(frames), 2)
    >>> kept.n_components, np.round(kept.weights_[0, 0], 3).tolist(), kept.means_[0, 0, :, 0].round().tolist()
    (2, [0.625, 0.375], [50.0, 150.0])
    """
    if not hasattr(model, "weights_"):
        raise RuntimeError("keep_heaviest needs a fitted PixelGaussianMixture; call fit(frames) first")
    if not 1 <= n_components <= model.n_components:
        raise ValueError(f"n_components must be from 1 to the model's {model.n_components}, got {n_components}")
    kept = copy.copy(model)
    kept.n_components = int(n_components)
    weights = model.weights_[..., :n_components]
    kept.weights_ = (weights / weights.sum(axis=-1, keepdims=True)).astype(model.weights_.dtype)
    kept.means_ = model.means_[..., :n_components, :].copy()
    # the covariances' own axes after the component axis: 2 (full), 1 (diag) or none (spherical)
    index = (..., slice(0, n_components)) + (slice(None),) * (model.covariances_.ndim - model.weights_.ndim)
    kept.covariances_ = model.covariances_[index].copy()
    kept.precisions_cholesky_ = model.precisions_cholesky_[index].copy()
    return kept
