"""The per-pixel GMM methods of the registry: :class:`GMMBackgroundMethod` (kind ``gmm_background``)
and :class:`GMMMethod` (kind ``gmm``).

Both fit a :class:`bgsub.mixture.PixelGaussianMixture` on the training frames. ``gmm_background``
scores the RGB distance to the mean of each pixel's first-ranked component; ``gmm`` the squared
Mahalanobis distance to the nearest background component (:mod:`bgsub.ranking`), with the scoring
levers of :mod:`bgsub.spatial` when they are on.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from bgsub.alignment import align_frames, camera_motion, shake_distances
from bgsub.base import BackgroundMethod, ResourceCost, mixture_cost
from bgsub.feedback import FeedbackState
from bgsub.mixture import DEFAULT_REG_COVAR, PixelGaussianMixture, keep_heaviest
from bgsub.mixture_em import (
    _SCORE_FRAMES_PER_BLOCK,
    COVARIANCE_TYPES,
    DEFAULT_CHUNK_SIZE,
    CovarianceType,
    _check_frames,
    _check_grid,
    _cov_shape,
    precisions_cholesky_of,
)
from bgsub.model_selection import fit_by_bic
from bgsub.params import BOOLEAN, Interval, Options
from bgsub.persistence import GhostDetector
from bgsub.ranking import (
    DEFAULT_BACKGROUND_RATIO,
    DEFAULT_RANK_BY,
    RANKINGS,
    RankBy,
    chi2_threshold,
    min_background_mahalanobis,
    rank_components,
)
from bgsub.spatial import score_frames, scoring_model, training_dynamics, training_episodes

__all__ = [
    "ALIGN_MAX_SHIFT",
    "ALIGN_MAX_SHIFT_FRACTION",
    "align_max_shift",
    "DEFAULT_THRESHOLD",
    "GMMBackgroundMethod",
    "GMMMethod",
]


#: Default threshold of the ``gmm`` method (squared Mahalanobis units): the 0.999 quantile of
#: the chi-square law with 3 degrees of freedom (16.27; MOG2's ``varThreshold=16`` is 4 sigma
#: squared). Use :func:`chi2_threshold` for other channel counts.
DEFAULT_THRESHOLD = chi2_threshold(3, 0.999)


def align_max_shift(height: int, width: int) -> float:
    """Largest camera shake that ``align`` searches on frames of ``height`` x ``width``, pixels per axis:
    :data:`ALIGN_MAX_SHIFT_FRACTION` of the shorter side, at least :data:`ALIGN_MAX_SHIFT`.

    Examples
    --------
    >>> align_max_shift(120, 160), align_max_shift(240, 320), align_max_shift(480, 640)
    (8.0, 16.0, 32.0)
    """
    return max(ALIGN_MAX_SHIFT, ALIGN_MAX_SHIFT_FRACTION * min(height, width))


# ----------------------------------------------------------------------------------------------
# Methods of the registry
# ----------------------------------------------------------------------------------------------

#: Training frames (taken evenly) that :meth:`GMMMethod.calibrate` scores to measure the dynamics.
_DYNAMICS_FRAMES = 150

#: Largest camera shake that ``align`` searches, pixels per axis, on frames whose shorter side is at most 120 px ...
ALIGN_MAX_SHIFT = 8.0
#: ... and on larger frames this fraction of the shorter side (:func:`align_max_shift`): a shake in pixels grows with
#: the resolution, so the same shaking scene filmed at 4x the size shakes 4x as far.
ALIGN_MAX_SHIFT_FRACTION = 1.0 / 15.0
#: ``align``: test shifts are searched within the training frames' largest shake plus this margin, pixels
#: (a static camera's training frames bound it near 1 px, so a large object cannot pull the frame away).
_ALIGN_SHIFT_MARGIN = 1.0
#: Training frames (taken evenly) whose per-pixel median is the reference of the training alignment.
_ALIGN_REFERENCE_FRAMES = 50
#: ``align``: the camera's measured shake (``camera_motion``, px) from which frames are aligned: beyond the
#: reach of a 3x3 neighbourhood (1 px, rounded), so a still camera's frames are never moved.
ALIGN_MIN_SHAKE = 1.5
#: ``max_spatial_radius`` and ``align``: training frames (taken evenly) whose shift is measured, and the
#: quantile of their shifts that the neighbourhood must reach.
_MOTION_FRAMES = 50
_MOTION_QUANTILE = 0.95


def _evenly(n_frames: int, n_picks: int) -> NDArray[np.intp]:
    """Indices of at most ``n_picks`` frames taken evenly among ``n_frames``."""
    return np.unique(np.linspace(0, n_frames - 1, min(n_frames, n_picks)).round().astype(np.intp))


#: Fitted arrays a GMM method saves; ``precisions_cholesky_`` are recomputed from ``covariances_`` on loading
#: (they are a function of them, :func:`~bgsub.mixture_em.precisions_cholesky_of`), which halves a model file.
_STATE_KEYS = (
    "weights_",
    "means_",
    "covariances_",
    "converged_",
    "n_iter_",
    "lower_bound_",
)


class _PixelGMMMethod(BackgroundMethod):
    """Shared settings, fitting and state of the two GMM methods."""

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_components": [Interval(Integral, 1, None)],
        "covariance_type": [Options(*COVARIANCE_TYPES)],
        "reg_covar": [Interval(Real, 0, None)],
        "tol": [Interval(Real, 0, None)],
        "max_iter": [Interval(Integral, 1, None)],
        "init_params": [Options("kmeans", "random")],
        "random_state": [None, Interval(Integral, None, None)],
        "background_ratio": [Interval(Real, 0, 1, closed="right")],
        "rank_by": [Options(*RANKINGS)],
        "chunk_size": [None, Interval(Integral, 1, None)],
        "k_selection": [None, Options("bic")],
        "fit_components": [None, Interval(Integral, 1, None)],
    }

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
        k_selection: Literal["bic"] | None = None,
        fit_components: int | None = None,
    ) -> None:
        if fit_components is not None and k_selection is not None:
            raise ValueError("fit_components and k_selection cannot be combined: choose one way to pick the components")
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
        self.k_selection = k_selection
        self.fit_components = None if fit_components is None else int(fit_components)
        self.model_: PixelGaussianMixture | None = None

    @classmethod
    def resource_cost(cls, n_components: int, n_channels: int) -> ResourceCost:
        """Cost of a per-pixel mixture (:func:`bgsub.base.mixture_cost`)."""
        return mixture_cost(n_components, n_channels)

    def _new_model(self, n_components: int | None = None) -> PixelGaussianMixture:
        return PixelGaussianMixture(
            self.n_components if n_components is None else n_components,
            covariance_type=self.covariance_type,
            tol=self.tol,
            reg_covar=self.reg_covar,
            max_iter=self.max_iter,
            init_params=self.init_params,
            random_state=self.random_state,
            chunk_size=self.chunk_size,
        )

    def fit(self, frames: NDArray) -> _PixelGMMMethod:
        """Fit the per-pixel mixtures on training frames ``(T, H, W, C)``; return self.

        With ``k_selection="bic"``, every pixel keeps the number of components (1 to ``n_components``)
        of lowest BIC (:func:`bgsub.model_selection.fit_by_bic`). With ``fit_components`` above
        ``n_components``, EM fits that many and every pixel keeps its ``n_components`` heaviest
        (:func:`bgsub.mixture.keep_heaviest`)."""
        if self.k_selection == "bic":
            self.model_, _ = fit_by_bic(self._new_model, _check_frames(frames), self.n_components)
        elif self.fit_components is not None and self.fit_components > self.n_components:
            self.model_ = keep_heaviest(self._new_model(self.fit_components).fit(frames), self.n_components)
        else:
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
        """Fitted arrays: ``weights_``, ``means_``, ``covariances_``, ``converged_``, ``n_iter_``,
        ``lower_bound_`` (``precisions_cholesky_`` follow from the covariances)."""
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
            "converged_": (height, width),
            "n_iter_": (height, width),
            "lower_bound_": (height, width),
        }
        for key, shape in expected.items():
            if np.shape(state[key]) != shape:
                raise ValueError(f"{key} has shape {np.shape(state[key])}, expected {shape}")
        for key in _STATE_KEYS:
            setattr(model, key, np.array(state[key]))
        model.precisions_cholesky_ = precisions_cholesky_of(model.covariances_, self.covariance_type, self.chunk_size)
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
    k_selection : {"bic"} or None, default=None
        ``"bic"``: each pixel keeps 1 to ``n_components`` components, the number of lowest BIC
        (:func:`bgsub.model_selection.fit_by_bic`). None: ``n_components`` everywhere.
    fit_components : int or None, default=None
        EM fits this many components and each pixel keeps its ``n_components`` heaviest, weights
        renormalized (:func:`bgsub.mixture.keep_heaviest`). At or below ``n_components`` (a sweep of
        K past it), or None, EM fits ``n_components``. Not with ``k_selection``.
    background_ratio : float, default=0.9
        Unused here.
    rank_by : {"weight", "weight_over_sigma"}
        Which component is first (see :func:`rank_components`).
    """

    kind: ClassVar[str] = "gmm_background"

    def fit(self, frames: NDArray) -> GMMBackgroundMethod:
        """Fit the per-pixel mixtures on training frames ``(T, H, W, C)`` and keep their background; return self."""
        super().fit(frames)
        self.background_ = super()._first_ranked_means()
        return self

    def _first_ranked_means(self) -> NDArray[np.float32]:
        if getattr(self, "background_", None) is None:
            raise RuntimeError("GMMBackgroundMethod is not fitted yet; call fit(frames) or set_state()")
        return self.background_

    def get_state(self) -> dict[str, NDArray]:
        """``background_``: the first-ranked means ``(H, W, C)`` float32, all that scoring reads (the
        mixture itself is ``model_`` after :meth:`fit`, not saved: ``gmm`` with the same settings saves it)."""
        return {"background_": self._first_ranked_means()}

    def set_state(self, state: dict[str, NDArray]) -> GMMBackgroundMethod:
        """Restore the array of :meth:`get_state`; return self."""
        if "background_" not in state:
            raise ValueError("state lacks ['background_']")
        background = np.asarray(state["background_"])
        if background.ndim != 3 or background.dtype != np.float32:
            raise ValueError(f"background_ has shape {background.shape} and dtype {background.dtype}, "
                             "expected (H, W, C) float32")
        self.model_ = None
        self.background_ = np.array(background)
        return self

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
    k_selection : {"bic"} or None, default=None
        Per-pixel choice of K: ``"bic"`` keeps at each pixel the number of components (1 to
        ``n_components``) of lowest BIC on its training samples
        (:func:`bgsub.model_selection.fit_by_bic`; the unused components rank last with a negligible
        weight). None: ``n_components`` everywhere.
    fit_components : int or None, default=None
        EM fits this many components and each pixel keeps its ``n_components`` heaviest, weights
        renormalized (:func:`bgsub.mixture.keep_heaviest`): where the background shows more colours
        than ``n_components`` leaves room for beside a passer-by (flickering patches, water), EM then
        gives each colour its own component instead of merging two into one broad component that
        ``var_max`` narrows again. Fitting costs about
        ``fit_components / n_components`` times as much; scoring is unchanged. At or below
        ``n_components`` (a sweep of K past it), or None, EM fits ``n_components``. Not with
        ``k_selection``.
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
    max_spatial_radius : int or None, default=None
        Size the neighbourhood by the camera's motion: :meth:`fit` measures the training frames' shifts
        (:func:`bgsub.alignment.camera_motion`: the 95th percentile of each frame's largest per-axis
        shift from the median shift, by phase correlation against the frames' median) and uses the
        radius nearest it, between ``spatial_radius`` and this bound, as ``spatial_radius_`` (the
        integer neighbour nearest a shift is within 0.5 px of it). None, or ``spatial_radius=0`` (no
        spatial context): ``spatial_radius``. The measured shake is kept as ``camera_motion_`` (px;
        None when neither this nor ``align`` asked for it).
    gain_compensation : bool, default=False
        Divide each frame by its robust global illumination gain first.
    gain_clip : bool, default=False
        With ``gain_compensation``, a channel the sensor clipped (255) reads at least its background
        image's value after the division (:func:`bgsub.spatial.impute_clipped`): under a gain above 1 a
        bright background clips, and would otherwise look darker than its model.
    gain_saturate : bool, default=False
        With ``gain_compensation``, the divided frame saturates at 255, as the training frames did: a
        bright background the sensor clipped in training (a sky under a raised exposure) has its model
        at 255, and a darker test frame divided by its gain would otherwise read it brighter than that
        (:data:`bgsub.spatial.SATURATION`). The mirror of ``gain_clip``.
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
    shadow_texture_masked : bool, default=False
        With ``shadow_texture``: the window's residual counts only the pixels that are shadow
        candidates themselves (changed, darker copies of the background), and most of the window
        (5 of 9) must be, so a shadow's edge is judged on its shadowed part instead of failing on
        the lit background beside it (:func:`bgsub.spatial._texture_preserved`).
    shadow_texture_mixture : bool, default=False
        With ``shadow_texture``: the window is explained by darker copies of any of its pixels'
        background components, not of the background image only, so a shadow cast on a background
        that moves (swaying leaves, water) keeps the texture that shows in that frame
        (:func:`bgsub.spatial._texture_preserved_mixture`).
    shadow_max : float, default=1.0
        Upper end of the shadow's brightness ratio band ``[shadow_tau, shadow_max)``. Up to 1 (MOG2):
        darker copies of a background component only. Above 1 the band takes brighter copies too
        (highlights, Horprasert et al.'s "highlighted background", ICCV 1999 FRAME-RATE workshop: a
        patch of the scene lit more than the model saw it, as where a cloud's shadow moves away),
        under the same colour-distortion and texture tests.
    spatial_gate : float or None
        With ``spatial_radius``: use the neighbours' components only at pixels whose background
        is dynamic, i.e. where at least this fraction of the training frames was called
        foreground by the pixel's own components and explained by a neighbour's
        (:func:`bgsub.spatial.training_dynamics`). None = at every pixel.
    spatial_blob_fraction : float or None
        With ``spatial_radius``: in each frame, a pixel that would read its neighbours' components (every pixel, or
        the gated ones with ``spatial_gate``) uses its own components only where at least this
        fraction of the 5x5 window around it is foreground under its own components
        (:func:`bgsub.spatial.blob_gate`): a swaying leaf's own foreground is an edge, a mover in front of the
        leaves is a solid blob, whose colour a neighbour's leaf or sky component would explain. None = off.
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
    align : bool, default=False
        Global motion compensation for camera shake (:mod:`bgsub.alignment`): each test frame's
        translation against the current background image (the first-ranked means, taken at the
        start of each block of frames) is found by sub-pixel phase correlation (at most
        ``align_shift_bound_`` px per axis: the largest shake of the training frames plus 1 px, at
        most :func:`align_max_shift` of the frame size) and the frame is moved back before it is scored, if that
        brings it closer to the background image (``only_if_closer`` of :func:`~bgsub.alignment.align_frames`);
        the uncovered border repeats the frame's nearest edge pixels. Its scores are then moved onto the
        frame's own pixels (nearest pixel), where its ground truth is drawn. The training frames are aligned the
        same way against their per-pixel median before the mixtures are fitted (a shaking
        training set would otherwise give every edge pixel a blurred model). Only a shaking camera is
        aligned: :meth:`fit` measures the shake as ``max_spatial_radius`` does and aligns when it is at
        least :data:`ALIGN_MIN_SHAKE` px (``align_shift_bound_`` is None otherwise, and nothing is
        moved); the neighbourhood is then sized on the aligned frames.
    align_max_farther : int or None, default=None
        With ``align``: a frame is moved only if at most this many of the vote's 16 blocks come clearly
        farther from the background image (``max_farther`` of :func:`~bgsub.alignment.align_frames`): a swaying
        crown over more than half of a still camera's view wins the vote of the blocks that come closer, and
        moving the frame would move its still part away. None = the vote alone.
    feedback : bool, default=False
        SuBSENSE's per-pixel feedback (:class:`bgsub.feedback.FeedbackState`, St-Charles et al.,
        TIP 2015): each pixel's score is divided by ``R(x)**2`` (``R`` grows where the decision
        blinks, so a busy pixel raises its own threshold), the update threshold is multiplied by
        it, and the selective update's rate becomes ``learning_rate * 2 / T(x)``
        (:func:`bgsub.spatial.feedback_rates`): ``learning_rate`` where the background is
        background, down to ``learning_rate / 128`` under a pixel that keeps being foreground.
        Needs ``learning_rate > 0`` for the rate part. The maps watch the decision
        ``score > dynamics_threshold`` (the default preset's threshold). Scoring-time state,
        not fitted state: it restarts at :meth:`fit` and :meth:`set_state`, as the adapted
        means do.
    ghost_frames : int or None, default=None
        Ghost absorption (:class:`bgsub.persistence.GhostDetector`): a foreground blob (of the
        3x3-median decision ``score > dynamics_threshold``) whose colours are stable and that
        shows no boundary of its own for this many consecutive frames is revealed background:
        its pixels' first-ranked means are set to the current frame and they score 0. A stopped
        object keeps its silhouette and stays foreground. None = off.
    ghost_stable_frames : int, default=10
        With ``ghost_frames``: the consecutive frames a pixel's colour must stay still before it
        counts towards a ghost (the detector's ``stable_frames``), so movers never do. A ghost is
        absorbed ``ghost_stable_frames + ghost_frames - 1`` frames after it appears.
    lbsp : bool, default=False
        SuBSENSE's texture test beside colour (:mod:`bgsub.lbsp`, St-Charles et al., TIP 2015): a
        pixel whose LBSP descriptors (intra and inter, relative threshold 0.333) differ from the
        current background image's by more than SuBSENSE's descriptor threshold (15 bits over 3
        channels) is foreground even where its colour matches (see :func:`bgsub.spatial.score_frames`).
        It runs on the pixels whose background is still: outside the spatial gate when
        ``spatial_gate`` is set, since a texture compared with one background image means nothing
        where the background moves; everywhere otherwise. Scored by the numpy reference path.
    recurrent_episodes : int or None, default=None
        A component the training frames returned to in at least this many separate runs of frames
        (:func:`bgsub.spatial.training_episodes`, within ``dynamics_threshold``), of weight at least 0.1 and
        with no fitted variance above ``var_max``, is background too, whatever ``background_ratio``
        (:func:`bgsub.spatial.recurrent_background`): a flickering or swaying background colour keeps coming
        back, a mover, passing or stopped, comes once or a few times. :meth:`fit` counts the runs
        (:attr:`episodes_`). None = off.
    """

    kind: ClassVar[str] = "gmm"
    default_threshold: ClassVar[float] = DEFAULT_THRESHOLD
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **_PixelGMMMethod._parameter_constraints,
        "var_min": [None, Interval(Real, None, None)],
        "var_max": [None, Interval(Real, None, None)],
        "spatial_radius": [Interval(Integral, 0, None)],
        "max_spatial_radius": [None, Interval(Integral, 0, None)],
        "gain_compensation": [BOOLEAN],
        "gain_clip": [BOOLEAN],
        "gain_saturate": [BOOLEAN],
        "shadow_tau": [None, Interval(Real, 0, 1, closed="neither")],
        "shadow_var_threshold": [Interval(Real, None, None)],
        "learning_rate": [Interval(Real, 0, 1)],
        "update_threshold": [Interval(Real, None, None)],
        "shadow_texture": [None, Interval(Real, 0, None, closed="neither")],
        "shadow_texture_masked": [BOOLEAN],
        "shadow_texture_mixture": [BOOLEAN],
        "shadow_max": [Interval(Real, 0, None, closed="neither")],
        "spatial_gate": [None, Interval(Real, 0, 1)],
        "spatial_blob_fraction": [None, Interval(Real, 0, 1, closed="right")],
        "adaptive_threshold": [None, Interval(Real, 1, None)],
        "adaptive_quantile": [Interval(Real, 0, 1, closed="neither")],
        "dynamics_threshold": [Interval(Real, None, None)],
        "align": [BOOLEAN],
        "align_max_farther": [None, Interval(Integral, 0, None)],
        "feedback": [BOOLEAN],
        "ghost_frames": [None, Interval(Integral, 1, None)],
        "ghost_stable_frames": [Interval(Integral, 1, None)],
        "lbsp": [BOOLEAN],
        "recurrent_episodes": [None, Interval(Integral, 1, None)],
    }

    def __init__(
        self,
        *,
        var_min: float | None = None,
        var_max: float | None = None,
        spatial_radius: int = 0,
        max_spatial_radius: int | None = None,
        gain_compensation: bool = False,
        gain_clip: bool = False,
        gain_saturate: bool = False,
        shadow_tau: float | None = None,
        shadow_var_threshold: float = 16.0,
        learning_rate: float = 0.0,
        update_threshold: float = DEFAULT_THRESHOLD,
        shadow_texture: float | None = None,
        shadow_texture_masked: bool = False,
        shadow_texture_mixture: bool = False,
        shadow_max: float = 1.0,
        spatial_gate: float | None = None,
        spatial_blob_fraction: float | None = None,
        adaptive_threshold: float | None = None,
        adaptive_quantile: float = 0.9,
        dynamics_threshold: float = 7.81,
        align: bool = False,
        align_max_farther: int | None = None,
        feedback: bool = False,
        ghost_frames: int | None = None,
        ghost_stable_frames: int = 10,
        lbsp: bool = False,
        recurrent_episodes: int | None = None,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        if var_min is not None and var_max is not None and var_max < var_min:
            raise ValueError(f"var_max ({var_max}) must not be below var_min ({var_min})")
        if shadow_tau is not None and not shadow_tau < shadow_max:
            raise ValueError(f"shadow_tau ({shadow_tau}) must be below shadow_max ({shadow_max})")
        if max_spatial_radius is not None and max_spatial_radius < spatial_radius:
            raise ValueError(f"max_spatial_radius ({max_spatial_radius}) must not be below spatial_radius "
                             f"({spatial_radius})")
        self.var_min = None if var_min is None else float(var_min)
        self.var_max = None if var_max is None else float(var_max)
        self.spatial_radius = int(spatial_radius)
        self.max_spatial_radius = None if max_spatial_radius is None else int(max_spatial_radius)
        self.spatial_radius_ = self.spatial_radius
        self.gain_compensation = bool(gain_compensation)
        self.gain_clip = bool(gain_clip)
        self.gain_saturate = bool(gain_saturate)
        self.shadow_tau = None if shadow_tau is None else float(shadow_tau)
        self.shadow_var_threshold = float(shadow_var_threshold)
        self.learning_rate = float(learning_rate)
        self.update_threshold = float(update_threshold)
        self.shadow_texture = None if shadow_texture is None else float(shadow_texture)
        self.shadow_texture_masked = bool(shadow_texture_masked)
        self.shadow_texture_mixture = bool(shadow_texture_mixture)
        self.shadow_max = float(shadow_max)
        self.spatial_gate = None if spatial_gate is None else float(spatial_gate)
        self.spatial_blob_fraction = None if spatial_blob_fraction is None else float(spatial_blob_fraction)
        self.adaptive_threshold = None if adaptive_threshold is None else float(adaptive_threshold)
        self.adaptive_quantile = float(adaptive_quantile)
        self.dynamics_threshold = float(dynamics_threshold)
        self.align = bool(align)
        self.align_max_farther = None if align_max_farther is None else int(align_max_farther)
        self.feedback = bool(feedback)
        self.ghost_frames = None if ghost_frames is None else int(ghost_frames)
        self.ghost_stable_frames = int(ghost_stable_frames)
        self.lbsp = bool(lbsp)
        self.recurrent_episodes = None if recurrent_episodes is None else int(recurrent_episodes)
        self._scoring: Any = None
        self._feedback: FeedbackState | None = None
        self._ghost: GhostDetector | None = None
        self.align_shift_bound_: float | None = None
        self.camera_motion_: float | None = None
        self.dynamics_: dict[str, NDArray[np.float32]] | None = None
        self.episodes_: NDArray[np.int32] | None = None

    @property
    def tileable(self) -> bool:
        """False when scoring looks across pixels (global gain, spatial neighbourhood, training dynamics)."""
        return not (self.gain_compensation or self.spatial_radius > 0 or self.needs_dynamics or self.align
                    or self.feedback or self.ghost_frames is not None or self.lbsp)

    @property
    def adaptive(self) -> bool:  # type: ignore[override]
        """True when the model keeps learning or tracking while it scores (``learning_rate > 0``,
        feedback or ghost absorption): frames must then come in order, once."""
        return self.learning_rate > 0 or self.feedback or self.ghost_frames is not None

    @property
    def needs_dynamics(self) -> bool:
        """True when scoring reads the training dynamics (:meth:`calibrate`)."""
        return (self.spatial_gate is not None and self.spatial_radius > 0) or self.adaptive_threshold is not None

    def _levers_on(self) -> bool:
        return (
            self.var_min is not None or self.var_max is not None or self.spatial_radius_ > 0
            or self.gain_compensation or self.shadow_tau is not None or self.learning_rate > 0
            or self.adaptive_threshold is not None or self.align or self.feedback or self.ghost_frames is not None
            or self.lbsp or self.recurrent_episodes is not None
        )

    def fit(self, frames: NDArray) -> GMMMethod:
        """Fit the per-pixel mixtures on training frames ``(T, H, W, C)``; return self."""
        self._reset_scoring()
        self.dynamics_ = None
        self.episodes_ = None
        self.align_shift_bound_ = None
        sized = 0 < self.spatial_radius < (self.max_spatial_radius or 0)
        self.camera_motion_ = self._camera_motion(frames) if self.align or sized else None
        motion = self.camera_motion_ or 0.0
        if self.align and motion >= ALIGN_MIN_SHAKE:
            frames = _check_frames(frames)
            reference = np.median(frames[_evenly(len(frames), _ALIGN_REFERENCE_FRAMES)], axis=0)
            ceiling = align_max_shift(*frames.shape[1:3])
            frames, shifts = align_frames(frames, reference, max_shift=ceiling, max_farther=self.align_max_farther)
            spread = float(shake_distances(shifts).max()) if len(shifts) else 0.0
            self.align_shift_bound_ = min(spread + _ALIGN_SHIFT_MARGIN, ceiling)
            motion = self._camera_motion(frames) if sized else 0.0
        self.spatial_radius_ = self.spatial_radius
        if sized:
            self.spatial_radius_ = int(np.clip(np.floor(motion + 0.5), self.spatial_radius, self.max_spatial_radius))
        super().fit(frames)
        if self.recurrent_episodes is not None:
            self.episodes_ = training_episodes(
                _check_frames(frames), self._new_scoring(recurrent=False), threshold=self.dynamics_threshold,
                gain=self.gain_compensation, gain_clip=self.gain_clip, gain_saturate=self.gain_saturate,
            )
        if self.needs_dynamics:
            self.calibrate(frames)
        return self

    @staticmethod
    def _camera_motion(frames: NDArray) -> float:
        frames = _check_frames(frames)
        return camera_motion(frames[_evenly(len(frames), _MOTION_FRAMES)], quantile=_MOTION_QUANTILE,
                             max_shift=align_max_shift(*frames.shape[1:3]))

    def _reset_scoring(self) -> None:
        self._scoring = None
        self._feedback = None
        self._ghost = None

    def _new_scoring(self, recurrent: bool = True) -> Any:
        """The scoring arrays; ``recurrent=False`` leaves out the components ``recurrent_episodes`` admits."""
        model = self._fitted()
        episodes = None
        if recurrent and self.recurrent_episodes is not None:
            if self.episodes_ is None:
                raise RuntimeError("recurrent_episodes needs the training episodes (episodes_): fit()")
            episodes = self.episodes_
        return scoring_model(
            model.weights_, model.means_, model.covariances_, model.covariance_type,
            background_ratio=self.background_ratio, rank_by=self.rank_by,
            var_min=self.var_min, var_max=self.var_max, episodes=episodes, min_episodes=self.recurrent_episodes,
        )

    def calibrate(self, frames: NDArray, max_frames: int = _DYNAMICS_FRAMES) -> GMMMethod:
        """Measure how dynamic each pixel's background is on training frames ``(T, H, W, C)``; return self.

        Sets :attr:`dynamics_` (``rescued`` and ``score_quantile``, ``(H, W)`` float32, see
        :func:`bgsub.spatial.training_dynamics`) from at most ``max_frames`` frames taken evenly.
        """
        frames = _check_frames(frames)
        _check_grid(frames, self._fitted().means_)
        rescued, quantile = training_dynamics(
            frames[_evenly(len(frames), max_frames)], self._new_scoring(), radius=max(self.spatial_radius_, 1),
            gain=self.gain_compensation, threshold=self.dynamics_threshold, quantile=self.adaptive_quantile,
            gain_clip=self.gain_clip, gain_saturate=self.gain_saturate,
        )
        self.dynamics_ = {"rescued": rescued, "score_quantile": quantile}
        return self

    def get_state(self) -> dict[str, NDArray]:
        """Fitted arrays of the mixture, plus ``dynamics_rescued``/``dynamics_score_quantile`` when calibrated,
        ``align_shift_bound_`` when fitted with ``align``, ``spatial_radius_`` with ``max_spatial_radius``, and
        ``camera_motion_`` when measured, ``episodes_`` when counted."""
        state = super().get_state()
        if self.episodes_ is not None:
            state["episodes_"] = np.asarray(self.episodes_, np.int32)
        if self.dynamics_ is not None:
            state.update({f"dynamics_{key}": value for key, value in self.dynamics_.items()})
        if self.align_shift_bound_ is not None:
            state["align_shift_bound_"] = np.asarray(self.align_shift_bound_, np.float64)
        if self.max_spatial_radius is not None:
            state["spatial_radius_"] = np.asarray(self.spatial_radius_, np.int64)
        if self.camera_motion_ is not None:
            state["camera_motion_"] = np.asarray(self.camera_motion_, np.float64)
        return state

    def set_state(self, state: dict[str, NDArray]) -> GMMMethod:
        """Restore the arrays of :meth:`get_state`; return self."""
        self._reset_scoring()
        super().set_state(state)
        keys = ("rescued", "score_quantile")
        if all(f"dynamics_{key}" in state for key in keys):
            self.dynamics_ = {key: np.asarray(state[f"dynamics_{key}"], np.float32) for key in keys}
        else:
            self.dynamics_ = None
        bound = state.get("align_shift_bound_")
        self.align_shift_bound_ = None if bound is None else float(np.asarray(bound))
        radius = state.get("spatial_radius_")
        self.spatial_radius_ = self.spatial_radius if radius is None else int(np.asarray(radius))
        motion = state.get("camera_motion_")
        self.camera_motion_ = None if motion is None else float(np.asarray(motion))
        episodes = state.get("episodes_")
        self.episodes_ = None if episodes is None else np.asarray(episodes, np.int32)
        return self

    def _dynamics(self) -> dict[str, NDArray[np.float32]]:
        if self.dynamics_ is None:
            raise RuntimeError("spatial_gate/adaptive_threshold need the training dynamics: fit() or calibrate()")
        return self.dynamics_

    def _spatial_gate(self) -> NDArray[np.bool_] | None:
        if self.spatial_gate is None or self.spatial_radius_ == 0:
            return None
        return self._dynamics()["rescued"] >= max(self.spatial_gate, 1e-6)

    def _lbsp_pixels(self) -> NDArray[np.bool_] | None:
        if not self.lbsp:
            return None
        gate = self._spatial_gate()
        return np.ones(self._fitted().means_.shape[:2], np.bool_) if gate is None else ~gate

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
        frames = _check_frames(frames)
        _check_grid(frames, model.means_)
        if self._scoring is None:  # kept across calls: an adaptive model goes on from where it was
            self._scoring = self._new_scoring()
        shape = frames.shape[1:3]
        if self.feedback and self._feedback is None:
            self._feedback = FeedbackState(shape)
        if self.ghost_frames is not None and self._ghost is None:
            self._ghost = GhostDetector(shape, ghost_frames=self.ghost_frames, stable_frames=self.ghost_stable_frames)
        aligning = self.align and self.align_shift_bound_ is not None
        if aligning:
            reference = np.clip(self._scoring.background_image(), 0, 255).astype(frames.dtype)
            # the uncovered border repeats the frame's edge: the reference's pixels there would be at the
            # model's brightness, not the frame's, and a gain change would flag them
            frames, shifts = align_frames(frames, reference, max_shift=self.align_shift_bound_, fill="edge",
                                          max_farther=self.align_max_farther)
        scores = score_frames(
            frames, self._scoring, radius=self.spatial_radius_, spatial_gate=self._spatial_gate(),
            blob_fraction=self.spatial_blob_fraction,
            gain=self.gain_compensation, gain_clip=self.gain_clip, gain_saturate=self.gain_saturate,
            shadow_tau=self.shadow_tau,
            shadow_var_threshold=self.shadow_var_threshold, shadow_texture=self.shadow_texture,
            shadow_texture_masked=self.shadow_texture_masked, shadow_texture_mixture=self.shadow_texture_mixture,
            shadow_min_score=self.dynamics_threshold,
            shadow_max=self.shadow_max,
            score_scale=self._score_scale(), learning_rate=self.learning_rate,
            update_threshold=self.update_threshold, feedback=self._feedback, ghost=self._ghost,
            lbsp_pixels=self._lbsp_pixels(), decision_threshold=self.dynamics_threshold,
        )
        if aligning:
            # the scores are the aligned frames': move them back onto each frame's own pixels (its ground truth's)
            scores = np.stack([ndimage.shift(score, shift, order=0, mode="nearest")
                               for score, shift in zip(scores, shifts)])
        return scores
