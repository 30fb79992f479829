"""The adaptive per-pixel Gaussian mixture (Stauffer-Grimson 1999, Zivkovic 2004/2006).

This is the algorithm of OpenCV's ``BackgroundSubtractorMOG2``
(``modules/video/src/bgfg_gaussmix2.cpp``), written again in numpy and
vectorised over the pixels of a frame (the only Python loops run over the
``K`` mixture components). Parameters carry MOG2's names and meanings, so
settings carry over:

==================================  ========================  ========
here                                OpenCV MOG2               default
==================================  ========================  ========
``history``                         ``history``               500
``var_threshold``                   ``varThreshold`` (Tb)     16
``n_mixtures``                      ``nmixtures``             5
``background_ratio``                ``backgroundRatio`` (TB)  0.9
``var_threshold_gen``               ``varThresholdGen`` (Tg)  9
``var_init``                        ``fVarInit``              15
``var_min``, ``var_max``            ``fVarMin``, ``fVarMax``  4, 75
``complexity_reduction_threshold``  ``fCT``                   0.05
``detect_shadows``                  ``detectShadows``         True
``shadow_value``                    ``shadowValue``           127
``shadow_threshold``                ``shadowThreshold`` (tau)  0.5
==================================  ========================  ========

One frame, per pixel, with learning rate ``alpha``:

1. Every component ``k`` (in order of decreasing weight) decays,
   ``w_k <- (1 - alpha) w_k - alpha * fCT``. The first component whose squared
   distance ``d2_k = |x - mu_k|^2`` is below ``Tg * var_k`` is *matched*: its
   weight gains ``alpha``, its mean and variance move towards ``x`` with rate
   ``alpha / w_k`` (variance clipped to ``[var_min, var_max]``) and it moves up
   to keep the weights sorted. Components whose weight falls below
   ``alpha * fCT`` are pruned. Weights are then renormalised.
2. If no component matched, a new one (mean ``x``, variance ``var_init``,
   weight ``alpha``) is added, or replaces the weakest when there are already
   ``n_mixtures``.
3. The pixel is background when one of the components tested before the
   match, whose preceding weights sum to less than ``background_ratio``, has
   ``d2_k < Tb * var_k``. Otherwise it is foreground, and a shadow when it is
   a darker copy of a background component (brightness ratio in
   ``[shadow_threshold, 1]``, colour distortion below ``Tb * var_k * a^2``).

The learning rate ``-1`` means automatic, as in MOG2:
``alpha = 1 / min(2 * n, history)`` where ``n`` is the number of frames seen
including the current one (note the factor 2, which is OpenCV's). The first
frame of a model always uses the automatic rate, and a rate ``>= 1`` restarts
the model from the frame, as MOG2 does.

Scores
------
:meth:`AdaptiveGaussianMixture.apply_scores` returns, per pixel, the squared
Mahalanobis distance that MOG2 tests against ``var_threshold``::

    score = min over k in E of  d2_k / var_k

where ``E`` holds the components that MOG2's test visits and that are
background components: the components in weight order up to and including
the first one matched under ``var_threshold_gen``, whose preceding (decayed)
weights sum to less than ``background_ratio``. A pixel with no such
component (only a pixel with no model yet, i.e. the first frame of a cold
start) scores ``float32 max``. The foreground decision of :meth:`apply` is
``score > var_threshold``, computed from the same numbers, so the two agree
exactly. (MOG2 itself tests ``d2_k < Tb * var_k``; the two forms differ only in
float32 rounding of the ratio, which the tests measure.)

State
-----
Struct-of-arrays, float32, components sorted by weight: ``weights (K, N)``,
``variances (K, N)``, ``means (K, C, N)`` as the numpy code sees them (views of
arrays stored pixel-major, ``(N, K)`` and ``(N, K, C)``, for the compiled kernel), with
``n_modes (N,)`` the number of components in use at each of the ``N = H * W``
pixels and ``n_frames`` the number of frames learned. Memory is
``O(H * W * K * C)`` whatever the length of the video.
"""


from __future__ import annotations

import logging
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from bgsub.kernels import BACKENDS, Backend, resolve_backend
from bgsub.kernels import online as online_kernel
from bgsub.online_reference import _F32, _FLT_EPSILON, NO_MODEL_SCORE, MOG2NumpyUpdate
from bgsub.params import BOOLEAN, Interval, Options, Parametrised

__all__ = ["AdaptiveGaussianMixture", "NO_MODEL_SCORE"]

logger = logging.getLogger(__name__)


def _check_frame(frame: NDArray) -> NDArray:
    """Validate a frame ``(H, W)`` or ``(H, W, C)``; return it as ``(H, W, C)``."""
    frame = np.asarray(frame)
    if frame.ndim == 2:
        frame = frame[..., None]
    if frame.ndim != 3 or frame.shape[2] < 1 or frame.shape[0] == 0 or frame.shape[1] == 0:
        raise ValueError(f"a frame must have shape (H, W) or (H, W, C); got {frame.shape}")
    if frame.dtype.kind not in "iuf":  # signed, unsigned integer or float
        raise ValueError(f"a frame must be integer or float on the 0-255 scale; got dtype {frame.dtype}")
    return frame


def _check_finite(data: NDArray, frame: NDArray) -> None:
    if frame.dtype.kind == "f" and not np.isfinite(data).all():
        raise ValueError("a frame has NaN or infinite values")


def _frame_to_data(frame: NDArray) -> NDArray[np.float32]:
    """Turn a frame ``(H, W, C)`` into channel-major data ``(C, H * W)`` float32 (the numpy path)."""
    h, w, c = frame.shape
    data = np.ascontiguousarray(frame.reshape(h * w, c).T, dtype=np.float32)
    _check_finite(data, frame)
    return data


def _frame_to_pixels(frame: NDArray) -> NDArray[np.uint8] | NDArray[np.float32]:
    """Turn a frame ``(H, W, C)`` into pixel-major data ``(H * W, C)`` (the compiled path).

    uint8 frames are passed as they are (a view when the frame is contiguous); other dtypes become
    float32, as the numpy path converts them (uint8 to float32 is exact, so both see the same values).
    """
    h, w, c = frame.shape
    dtype = np.uint8 if frame.dtype == np.uint8 else np.float32
    data = np.ascontiguousarray(frame.reshape(h * w, c), dtype=dtype)
    _check_finite(data, frame)
    return data


class AdaptiveGaussianMixture(Parametrised, MOG2NumpyUpdate):
    """Adaptive per-pixel Gaussian mixture background model (OpenCV's MOG2 algorithm).

    Parameters
    ----------
    history : int
        Length of the history; the automatic learning rate is
        ``1 / min(2 * n_frames, history)``.
    var_threshold : float
        Squared Mahalanobis distance below which a pixel is background (Tb).
    n_mixtures : int
        Maximum number of components per pixel (K).
    background_ratio : float
        The components whose preceding weights sum to less than this are background (TB).
    var_threshold_gen : float
        Squared Mahalanobis distance below which a sample updates a component (Tg).
    var_init, var_min, var_max : float
        Variance of a new component and the bounds of every variance, in intensity units squared.
    complexity_reduction_threshold : float
        Prior weight that prunes components not supported by enough samples (fCT).
    detect_shadows : bool
        Label foreground pixels that look like shadows with ``shadow_value``.
    shadow_value : int
        Mask value of shadow pixels.
    shadow_threshold : float
        Lowest brightness ratio of a shadow to its background (tau).
    backend : {"auto", "numpy", "numba"}
        Where the per-frame update runs: the numpy code of :mod:`bgsub.online_reference`, the
        compiled kernel :func:`bgsub.kernels.online.update` (same bytes; frames of 32768 pixels or
        more are split over ``bgsub.kernels.set_num_threads`` threads), or numba when installed
        (``"auto"``; ``BGSUB_BACKEND`` overrides it). Not a model parameter: not in
        :meth:`get_params`.

    Attributes
    ----------
    weights_ : ndarray of shape (K, N), float32
        Component weights, sorted decreasing along axis 0 at every pixel.
    means_ : ndarray of shape (K, C, N), float32
    variances_ : ndarray of shape (K, N), float32
        ``weights_``, ``means_`` and ``variances_`` are component-major views (writable, read-only
        attributes) of the state, which is stored pixel-major (``(N, K)``, ``(N, K, C)``), each
        pixel's components contiguous as in MOG2, for the compiled kernel.
    n_modes_ : ndarray of shape (N,), uint8
        Number of components in use at each pixel.
    n_frames_ : int
        Frames learned so far (drives the automatic learning rate).
    frame_shape_ : tuple of int or None
        ``(H, W, C)`` of the frames the model was built for; None before the first frame.

    Examples
    --------
    >>> import numpy as np
    >>> model = AdaptiveGaussianMixture(detect_shadows=False)
    >>> frame = np.full((4, 5, 3), 100, dtype=np.uint8)
    >>> for _ in range(10):
    ...     mask = model.apply(frame)
    >>> int(mask.max())
    0
    >>> frame[1, 2] = 250
    >>> int(model.apply(frame)[1, 2])
    255
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "history": [Interval(Integral, 1, None)],
        "var_threshold": [Interval(Real, None, None)],
        "n_mixtures": [Interval(Integral, 1, 255)],
        "background_ratio": [Interval(Real, None, None)],
        "var_threshold_gen": [Interval(Real, None, None)],
        "var_init": [Interval(Real, 0, None, closed="neither")],
        "var_min": [Interval(Real, 0, None, closed="neither")],
        "var_max": [Interval(Real, 0, None, closed="neither")],
        "complexity_reduction_threshold": [Interval(Real, None, None)],
        "detect_shadows": [BOOLEAN],
        "shadow_value": [Interval(Integral, 0, 255)],
        "shadow_threshold": [Interval(Real, None, None)],
        "backend": [Options(*BACKENDS)],
    }
    _non_params: ClassVar[tuple[str, ...]] = ("backend",)

    def __init__(
        self,
        history: int = 500,
        var_threshold: float = 16.0,
        n_mixtures: int = 5,
        background_ratio: float = 0.9,
        var_threshold_gen: float = 9.0,
        var_init: float = 15.0,
        var_min: float = 4.0,
        var_max: float = 75.0,
        complexity_reduction_threshold: float = 0.05,
        detect_shadows: bool = True,
        shadow_value: int = 127,
        shadow_threshold: float = 0.5,
        backend: Backend = "auto",
    ) -> None:
        self.history = int(history)
        self.var_threshold = float(var_threshold)
        self.n_mixtures = int(n_mixtures)
        self.background_ratio = float(background_ratio)
        self.var_threshold_gen = float(var_threshold_gen)
        self.var_init = float(var_init)
        # MOG2 swaps the bounds if they are given the wrong way round.
        self.var_min = float(min(var_min, var_max))
        self.var_max = float(max(var_min, var_max))
        self.complexity_reduction_threshold = float(complexity_reduction_threshold)
        self.detect_shadows = bool(detect_shadows)
        self.shadow_value = int(shadow_value)
        self.shadow_threshold = float(shadow_threshold)
        self.backend = backend
        resolve_backend(backend)  # BGSUB_BACKEND must be valid, and numba installed if asked for
        self.frame_shape_: tuple[int, int, int] | None = None
        self.n_frames_ = 0

    # ------------------------------------------------------------------ parameters and state
    def reset(self, frame_shape: tuple[int, int, int]) -> AdaptiveGaussianMixture:
        """Forget everything and prepare an empty model for frames of shape ``(H, W, C)``."""
        h, w, c = (int(s) for s in frame_shape)
        k, n = self.n_mixtures, h * w
        self.frame_shape_ = (h, w, c)
        self._weights = np.zeros((n, k), dtype=np.float32)
        self._variances = np.full((n, k), self.var_init, dtype=np.float32)
        self._means = np.zeros((n, k, c), dtype=np.float32)
        self.n_modes_ = np.zeros(n, dtype=np.uint8)
        self.n_frames_ = 0
        return self

    def get_state(self) -> dict[str, NDArray]:
        """Return the model state as plain arrays (see :meth:`set_state`).

        Returns
        -------
        state : dict of str to ndarray
            ``weights (K, H, W)``, ``variances (K, H, W)``, ``means (K, C, H, W)`` float32,
            ``n_modes (H, W)`` uint8, ``n_frames ()`` int64.
        """
        self._check_fitted()
        h, w, c = self.frame_shape_  # type: ignore[misc]
        k = self.n_mixtures
        return {
            "weights": np.array(self.weights_, order="C").reshape(k, h, w),
            "variances": np.array(self.variances_, order="C").reshape(k, h, w),
            "means": np.array(self.means_, order="C").reshape(k, c, h, w),
            "n_modes": self.n_modes_.reshape(h, w).copy(),
            "n_frames": np.asarray(self.n_frames_, dtype=np.int64),
        }

    def set_state(self, state: dict[str, NDArray]) -> AdaptiveGaussianMixture:
        """Restore a state returned by :meth:`get_state`; return self."""
        means = np.asarray(state["means"], dtype=np.float32)
        if means.ndim != 4 or means.shape[0] != self.n_mixtures:
            raise ValueError(
                f"state means must have shape (K={self.n_mixtures}, C, H, W); got {means.shape}"
            )
        k, c, h, w = means.shape
        n = h * w
        weights = np.asarray(state["weights"], dtype=np.float32)
        variances = np.asarray(state["variances"], dtype=np.float32)
        n_modes = np.asarray(state["n_modes"])
        for name, arr, shape in (("weights", weights, (k, h, w)), ("variances", variances, (k, h, w)),
                                 ("n_modes", n_modes, (h, w))):
            if arr.shape != shape:
                raise ValueError(f"state {name} must have shape {shape}; got {arr.shape}")
        self.frame_shape_ = (h, w, c)
        self._weights = np.array(weights.reshape(k, n).T, order="C")  # copies: never the caller's arrays
        self._variances = np.array(variances.reshape(k, n).T, order="C")
        self._means = np.array(means.reshape(k, c, n).transpose(2, 0, 1), order="C")
        self.n_modes_ = np.clip(n_modes, 0, k).astype(np.uint8).reshape(n)
        self.n_frames_ = int(state["n_frames"])
        return self

    @property
    def weights_(self) -> NDArray[np.float32]:
        """Component weights ``(K, N)`` (a view of the pixel-major state)."""
        return self._weights.T

    @property
    def variances_(self) -> NDArray[np.float32]:
        """Component variances ``(K, N)`` (a view of the pixel-major state)."""
        return self._variances.T

    @property
    def means_(self) -> NDArray[np.float32]:
        """Component means ``(K, C, N)`` (a view of the pixel-major state)."""
        return self._means.transpose(1, 2, 0)

    def _check_fitted(self) -> None:
        if self.frame_shape_ is None:
            raise RuntimeError("the model has seen no frame yet; call apply() or warm_start() first")

    # ------------------------------------------------------------------ warm start
    def warm_start(
        self,
        weights: NDArray,
        means: NDArray,
        covariances: NDArray,
        n_frames: int | None = None,
    ) -> AdaptiveGaussianMixture:
        """Start from a fitted batch mixture instead of an empty model.

        Components are sorted by decreasing weight (MOG2's order), the
        ``n_mixtures`` heaviest are kept, those of zero weight are dropped,
        weights are renormalised to sum to 1 and variances clipped to
        ``[var_min, var_max]``.

        Parameters
        ----------
        weights : ndarray of shape (H, W, K')
            Mixture weights per pixel.
        means : ndarray of shape (H, W, K', C)
            Component means on the 0-255 scale.
        covariances : ndarray of shape (H, W, K'), (H, W, K', C) or (H, W, K', C, C)
            Spherical variances, diagonal variances (their mean is used) or full
            covariances (``trace / C`` is used), in intensity units squared.
        n_frames : int, optional
            Frames the model counts as seen; the automatic learning rate goes on
            from ``1 / min(2 * (n_frames + 1), history)``. Default ``history``
            (the batch model is trusted like a model that saw a full history).

        Returns
        -------
        self
        """
        weights = np.asarray(weights, dtype=np.float64)
        means = np.asarray(means, dtype=np.float64)
        cov = np.asarray(covariances, dtype=np.float64)
        if weights.ndim != 3 or means.ndim != 4 or means.shape[:3] != weights.shape:
            raise ValueError(
                f"weights must be (H, W, K) and means (H, W, K, C); got {weights.shape} and {means.shape}"
            )
        h, w, kb, c = means.shape
        if cov.shape == (h, w, kb):
            var = cov
        elif cov.shape == (h, w, kb, c):
            var = cov.mean(axis=-1)
        elif cov.shape == (h, w, kb, c, c):
            var = np.trace(cov, axis1=-2, axis2=-1) / c
        else:
            raise ValueError(
                f"covariances must be (H, W, K), (H, W, K, C) or (H, W, K, C, C) with H, W, K, C = "
                f"{(h, w, kb, c)}; got {cov.shape}"
            )
        if not (np.isfinite(weights).all() and np.isfinite(means).all() and np.isfinite(var).all()):
            raise ValueError("warm start arrays have NaN or infinite values")
        weights = np.clip(weights, 0.0, None)
        order = np.argsort(-weights, axis=-1, kind="stable")[..., : self.n_mixtures]
        weights = np.take_along_axis(weights, order, axis=-1)
        means = np.take_along_axis(means, order[..., None], axis=-2)
        var = np.take_along_axis(var, order, axis=-1)
        kk = order.shape[-1]
        n_modes = (weights > 0).sum(axis=-1)
        total = weights.sum(axis=-1, keepdims=True)
        weights = np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)
        var = np.clip(var, self.var_min, self.var_max)

        self.reset((h, w, c))
        n = h * w
        self._weights[:, :kk] = weights.reshape(n, kk)
        self._variances[:, :kk] = var.reshape(n, kk)
        self._means[:, :kk] = means.reshape(n, kk, c)
        self.n_modes_[:] = n_modes.reshape(n)
        # At least 1: a model with no frame seen would restart at the automatic rate 1/2.
        self.n_frames_ = max(1, self.history if n_frames is None else int(n_frames))
        logger.debug("warm start from %d batch components per pixel, n_frames=%d", kb, self.n_frames_)
        return self

    @classmethod
    def from_batch(
        cls,
        weights: NDArray,
        means: NDArray,
        covariances: NDArray,
        n_frames: int | None = None,
        **params: Any,
    ) -> AdaptiveGaussianMixture:
        """Build a model from a fitted batch mixture; see :meth:`warm_start` for the arrays."""
        return cls(**params).warm_start(weights, means, covariances, n_frames=n_frames)

    # ------------------------------------------------------------------ per-frame update
    def learning_rate_for_next_frame(self, learning_rate: float = -1.0) -> float:
        """Learning rate MOG2 would use for the next frame (after the frame count is advanced)."""
        n = self.n_frames_ + 1
        if learning_rate >= 0 and n > 1:
            return float(learning_rate)
        return 1.0 / min(2 * n, self.history)

    def apply(self, frame: NDArray, learning_rate: float = -1.0) -> NDArray[np.uint8]:
        """Learn one frame and return its mask, as MOG2's ``apply``.

        Parameters
        ----------
        frame : ndarray of shape (H, W) or (H, W, C)
            uint8 or float on the 0-255 scale.
        learning_rate : float
            -1 for automatic; ``>= 1`` restarts the model from this frame.

        Returns
        -------
        mask : ndarray of shape (H, W), uint8
            255 foreground, ``shadow_value`` shadow, 0 background.
        """
        frame = _check_frame(frame)
        scores, mask, shadow = self._step(frame, learning_rate)
        if mask is None:
            mask = np.where(scores > _F32(self.var_threshold), np.uint8(255), np.uint8(0))
            mask[shadow] = self.shadow_value
        return mask.reshape(frame.shape[:2])

    def apply_scores(
        self, frame: NDArray, learning_rate: float = -1.0
    ) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
        """Learn one frame and return its foreground scores and shadow flags.

        Parameters
        ----------
        frame : ndarray of shape (H, W) or (H, W, C)
            uint8 or float on the 0-255 scale.
        learning_rate : float
            -1 for automatic; ``>= 1`` restarts the model from this frame.

        Returns
        -------
        scores : ndarray of shape (H, W), float32
            Squared Mahalanobis distance to the nearest tested background
            component (module docstring); ``scores > var_threshold`` is the
            foreground of :meth:`apply`.
        shadow : ndarray of shape (H, W), bool
            Foreground pixels that pass the shadow test (exactly where :meth:`apply`
            writes ``shadow_value``); all False when ``detect_shadows`` is off.
        """
        frame = _check_frame(frame)
        scores, _, shadow = self._step(frame, learning_rate)
        return scores.reshape(frame.shape[:2]), shadow.reshape(frame.shape[:2])

    def _step(
        self, frame: NDArray, learning_rate: float
    ) -> tuple[NDArray[np.float32], NDArray[np.uint8] | None, NDArray[np.bool_]]:
        """Learn a checked frame ``(H, W, C)``; return its scores, its mask (compiled path only, else
        None) and its shadow flags, each ``(N,)``."""
        if resolve_backend(self.backend) == "numba":  # update, shadow test and mask in one compiled pass
            pixels = _frame_to_pixels(frame)
            return self._update_compiled(pixels, self._start_frame(frame.shape, learning_rate))
        data = _frame_to_data(frame)
        return self._update_numpy(data, self._start_frame(frame.shape, learning_rate))

    def _start_frame(self, shape: tuple[int, int, int], learning_rate: float) -> float:
        """Restart the model if the frame shape changed or the rate asks it; count the frame and
        return its learning rate."""
        if self.frame_shape_ != shape or learning_rate >= 1:
            if self.frame_shape_ is not None and self.frame_shape_ != shape:
                logger.info("frame shape changed from %s to %s: model restarted", self.frame_shape_, shape)
            self.reset(shape)
        alpha = self.learning_rate_for_next_frame(learning_rate)
        self.n_frames_ += 1
        return alpha

    def _update_compiled(
        self, data: NDArray[np.uint8] | NDArray[np.float32], alpha: float
    ) -> tuple[NDArray[np.float32], NDArray[np.uint8], NDArray[np.bool_]]:
        """:meth:`_update_numpy` and the mask of :meth:`apply` of ``data (N, C)`` in the compiled
        kernel (same float32 operations, same order); returns the scores, mask and shadow flags ``(N,)``."""
        constants = np.array(
            [
                alpha,
                _F32(1) - _F32(alpha),
                -alpha * float(_F32(self.complexity_reduction_threshold)),
                self.background_ratio,
                self.var_threshold_gen,
                self.var_min,
                self.var_max,
                self.var_init,
                _FLT_EPSILON,
                NO_MODEL_SCORE,
                self.shadow_threshold,
                self.var_threshold,
                1.0 if self.detect_shadows else 0.0,
                self.shadow_value,
            ],
            dtype=np.float32,
        )
        return online_kernel.update(data, self._weights, self._variances, self._means, self.n_modes_, constants)

    # ------------------------------------------------------------------ outputs
    def background_image(self) -> NDArray[np.uint8]:
        """Return the background image as MOG2's ``getBackgroundImage``.

        The weighted mean of the first components until their weights exceed
        ``background_ratio``, rounded to the nearest integer.

        Returns
        -------
        image : ndarray of shape (H, W, C), uint8
        """
        self._check_fitted()
        h, w, c = self.frame_shape_  # type: ignore[misc]
        k_max = self.n_mixtures
        weights = self.weights_
        before = np.zeros_like(weights)
        np.cumsum(weights[:-1], axis=0, out=before[1:])
        use = (np.arange(k_max)[:, None] < self.n_modes_) & (before <= _F32(self.background_ratio))
        wu = np.where(use, weights, _F32(0))
        total = wu.sum(axis=0)
        acc = (wu[:, None, :] * self.means_).sum(axis=0)
        inv = np.divide(_F32(1), total, out=np.zeros_like(total), where=np.abs(total) > _FLT_EPSILON)
        mean = acc * inv
        image = np.clip(np.rint(mean), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(image.T.reshape(h, w, c))
