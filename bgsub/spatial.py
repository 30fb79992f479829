"""Scoring levers on a fitted per-pixel GMM: variance bounds, spatial context, illumination, shadows, adaptation.

:func:`score_frames` scores frames against a per-pixel mixture (the arrays of
:class:`bgsub.mixture.PixelGaussianMixture`) like :func:`bgsub.ranking.min_background_mahalanobis`
(squared Mahalanobis distance to the nearest background component) with these options:

``var_min``, ``var_max``
    Bounds on the eigenvalues of every covariance at scoring time (intensity units squared),
    like MOG2's ``fVarMin``/``fVarMax``: a road pixel that hardly varied during training is not
    judged with a standard deviation of 0.5 grey levels.
``radius``
    Spatial context as ViBe/SuBSENSE: a pixel is scored against the background components of
    every pixel of the ``(2r+1) x (2r+1)`` window around it and keeps the smallest distance,
    which absorbs small camera jitter and swaying leaves.
``gain``
    Global illumination compensation: each frame is divided by a robust per-frame gain, the
    median over pixels of ``luma(frame) / luma(background)``.
``shadow_tau``
    Shadow suppression (MOG2's test, with CDnet counting shadows as background): a pixel
    whose colour is ``a * mu`` for a background mean ``mu`` with ``shadow_tau <= a < 1``, up
    to a colour distortion ``|x - a mu|^2 < shadow_var_threshold * var * a^2``, scores 0.
``shadow_texture``, ``shadow_texture_masked``, ``shadow_texture_mixture``
    A shadow candidate must also keep the background's texture over its window
    (:func:`_texture_preserved`). Masked, the window counts only the pixels that are shadow
    candidates themselves, and most of the window must be: a shadow's edge, whose window reaches
    into the lit background, is judged on its shadowed part. Mixture, the texture is that of any of
    the window's background components (:func:`_texture_preserved_mixture`): a shadow on swaying
    leaves darkens whichever of their textures shows.
``learning_rate``
    Selective running-average adaptation: after each frame, the nearest background
    component of every pixel whose own distance is below ``update_threshold`` moves its mean
    towards the (compensated) sample by ``learning_rate``. Frames must then come in order.
``feedback``
    SuBSENSE's per-pixel feedback (:class:`bgsub.feedback.FeedbackState`): each pixel's score is
    divided by ``R(x)**2`` (its squared-distance threshold is ``decision_threshold * R(x)**2``),
    and the selective update uses the per-pixel rate ``learning_rate * t_lower / T(x)``.
``lbsp_pixels``
    SuBSENSE's texture test beside colour (:mod:`bgsub.lbsp`): on these pixels, a compensated frame
    whose LBSP descriptors differ from the background image's by more than SuBSENSE's descriptor
    threshold (:func:`bgsub.lbsp.descriptor_threshold` at ``R = 1``: 15 bits for 3 channels) is
    foreground even where its colour matches. Its texture distance enters the score as
    ``decision_threshold * distance / descriptor_threshold``, so at the method's threshold the decision
    is exactly SuBSENSE's "colour or texture differs"; shadow-test pixels keep their 0.
``ghost``
    Ghost absorption (:class:`bgsub.persistence.GhostDetector`): foreground blobs that show no
    boundary of their own for ``ghost_frames`` frames get their first-ranked means set to the
    current frame and score 0; stopped real objects keep their boundary and stay foreground.

Every option off gives the same scores as :func:`bgsub.ranking.min_background_mahalanobis`
(up to float32 rounding).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from bgsub.feedback import FeedbackState, normalised_distance
from bgsub.kernels import binary, default_path, resolve_backend
from bgsub.kernels.spatial import adapt_means, score_frame
from bgsub.lbsp import descriptor_threshold, texture_distance
from bgsub.persistence import GhostDetector
from bgsub.ranking import background_mask, rank_components

__all__ = ["ScoringModel", "scoring_model", "frame_gains", "impute_clipped", "training_dynamics",
           "training_episodes", "recurrent_background", "RECURRENT_MIN_WEIGHT", "score_frames",
           "feedback_rates", "absorb_ghosts", "SATURATION"]

logger = logging.getLogger(__name__)

#: Backgrounds darker than this luma are left out of the gain estimate (their ratio is noise).
_GAIN_MIN_LUMA = 16.0
#: The sensor's ceiling: an 8-bit frame, and so every model fitted on such frames, reads at most 255.
SATURATION = default_path.SATURATION
#: Luma weights (ITU-R BT.601) for RGB; other channel counts use the plain mean.
_LUMA_RGB = np.array([0.299, 0.587, 0.114], np.float32)


@dataclass
class ScoringModel:
    """The arrays the scoring kernel reads.

    Attributes
    ----------
    means : ndarray of shape (H, W, K, C), float32
    whiten : ndarray of shape (H, W, K, C, C), float32
        ``whiten @ (x - mean)`` has squared norm = squared Mahalanobis distance (bounded covariance).
    mean_var : ndarray of shape (H, W, K), float32
        Mean bounded variance per channel (used by the shadow test).
    is_background : ndarray of shape (H, W, K), bool
    first : ndarray of shape (H, W), intp
        Index of each pixel's first-ranked component (the background image).
    """

    means: NDArray[np.float32]
    whiten: NDArray[np.float32]
    mean_var: NDArray[np.float32]
    is_background: NDArray[np.bool_]
    first: NDArray[np.intp]
    _rows: tuple[NDArray[np.float32], NDArray[np.bool_]] | None = field(default=None, init=False, repr=False,
                                                                           compare=False)

    def row_layout(self) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
        """``whiten`` and ``is_background`` laid out along each row (:func:`bgsub.kernels.default_path.row_layout`),
        made on first use and kept: scoring never changes them (it adapts ``means`` only)."""
        if self._rows is None:
            self._rows = default_path.row_layout(self.whiten, self.is_background)
        return self._rows

    def background_image(self) -> NDArray[np.float32]:
        """Means of the first-ranked components, ``(H, W, C)`` float32 (a copy)."""
        if resolve_backend() == "numba":  # one parallel pass; the same values
            return default_path.background_image(self.means, self.first)
        height, width, n_components, n_channels = self.means.shape
        flat = self.means.reshape(height * width, n_components, n_channels)
        # one fancy-index gather: the same values as np.take_along_axis, in 60 % of its time
        return flat[np.arange(height * width), self.first.ravel()].reshape(height, width, n_channels)


def _full_covariances(covariances: NDArray, covariance_type: str, n_channels: int) -> NDArray[np.float64]:
    cov = np.asarray(covariances, dtype=np.float64)
    if covariance_type == "full":
        return cov
    eye = np.eye(n_channels)
    if covariance_type == "diag":
        return cov[..., :, None] * eye
    if covariance_type == "spherical":
        return cov[..., None, None] * eye
    raise ValueError(f"covariance_type must be full, diag or spherical, got {covariance_type!r}")


def scoring_model(
    weights: NDArray,
    means: NDArray,
    covariances: NDArray,
    covariance_type: str,
    *,
    background_ratio: float,
    rank_by: str,
    var_min: float | None = None,
    var_max: float | None = None,
    episodes: NDArray | None = None,
    min_episodes: int | None = None,
) -> ScoringModel:
    """Build the scoring arrays from a fitted mixture.

    Parameters
    ----------
    weights : ndarray of shape (H, W, K)
    means : ndarray of shape (H, W, K, C)
    covariances : ndarray
        Full ``(H, W, K, C, C)``, diag ``(H, W, K, C)`` or spherical ``(H, W, K)``.
    covariance_type : {"full", "diag", "spherical"}
    background_ratio : float
    rank_by : {"weight", "weight_over_sigma"}
        Ranking of :func:`bgsub.ranking.rank_components`, which decides the background components.
    var_min, var_max : float or None
        Bounds on the covariance eigenvalues (None = unbounded).
    episodes : ndarray of shape (H, W, K), int, or None
        Runs of training frames per component (:func:`training_episodes`); with ``min_episodes``, the
        components that recur are background too (:func:`recurrent_background`). None = ``background_ratio`` alone.
    min_episodes : int or None

    Returns
    -------
    ScoringModel
    """
    means = np.array(means, dtype=np.float32, copy=True)  # adaptation updates these in place
    n_channels = means.shape[-1]
    cov = _full_covariances(covariances, covariance_type, n_channels)
    lam, vec = np.linalg.eigh(cov)  # (H, W, K, C), (H, W, K, C, C), eigenvalues ascending
    largest_variance = lam[..., -1]
    lam = np.clip(lam, 1e-12 if var_min is None else var_min, np.inf if var_max is None else var_max)
    whiten = (np.swapaxes(vec, -1, -2) / np.sqrt(lam)[..., :, None]).astype(np.float32)
    # the ranking uses the bounded covariances too, so a near-constant component is not over-ranked
    bounded = (vec * lam[..., None, :]) @ np.swapaxes(vec, -1, -2)
    order = rank_components(weights, bounded, "full", by=rank_by)  # type: ignore[arg-type]
    ranked = background_mask(np.take_along_axis(np.asarray(weights), order, axis=-1), background_ratio)
    is_background = np.zeros(ranked.shape, bool)
    np.put_along_axis(is_background, order, ranked, axis=-1)
    if episodes is not None and min_episodes is not None:
        is_background |= recurrent_background(weights, largest_variance, episodes, min_episodes, var_max)
    return ScoringModel(
        means=np.ascontiguousarray(means),
        whiten=np.ascontiguousarray(whiten),
        mean_var=lam.mean(axis=-1).astype(np.float32),
        is_background=is_background,
        first=order[..., 0],
    )


def _luma(images: NDArray) -> NDArray[np.float32]:
    """Luma in float32: for RGB, ``r w0``, then ``+ g w1``, then ``+ b w2``, each product exact in float64 and each
    partial sum rounded to float32, elementwise, so the bits are the same on every machine (a BLAS ``@`` sums in
    an order of its own, which changed a gain's last bit on another CPU; ``bgsub.kernels.default_path`` computes
    the same)."""
    images = np.asarray(images, dtype=np.float32)
    if images.shape[-1] != 3:
        return images.mean(axis=-1)
    w0, w1, w2 = (np.float64(w) for w in _LUMA_RGB)
    luma = (images[..., 0].astype(np.float64) * w0).astype(np.float32)
    luma = (images[..., 1].astype(np.float64) * w1 + luma).astype(np.float32)
    return (images[..., 2].astype(np.float64) * w2 + luma).astype(np.float32)


def frame_gains(frames: NDArray, background: NDArray) -> NDArray[np.float32]:
    """Robust per-frame illumination gain: median over pixels of ``luma(frame) / luma(background)``.

    Parameters
    ----------
    frames : ndarray of shape (T, H, W, C)
    background : ndarray of shape (H, W, C)

    Returns
    -------
    gains : ndarray of shape (T,), float32
        1 when no background pixel is bright enough to measure a ratio.

    Examples
    --------
    >>> bg = np.full((4, 4, 3), 100.0)
    >>> [round(float(g), 3) for g in frame_gains(0.8 * bg[None], bg)]
    [0.8]
    """
    luma_bg = _luma(background)
    usable = luma_bg > _GAIN_MIN_LUMA
    if not usable.any():
        return np.ones(len(frames), np.float32)
    ratios = _luma(frames)[:, usable] / luma_bg[usable]
    return np.median(ratios, axis=1).astype(np.float32)


def _texture_preserved(frame: NDArray[np.float32], background: NDArray[np.float32], variance: NDArray[np.float32],
                       candidate: NDArray[np.bool_], window: int, max_residual: float,
                       masked: bool = False) -> NDArray[np.bool_]:
    """Which shadow candidates are an even darkening of the background around them (a shadow keeps the texture).

    A candidate pixel ``p`` has the gain ``a = <f_p, m_p> / <m_p, m_p>`` of frame to background.
    Under a cast shadow the whole ``window x window`` neighbourhood is that darker copy of the
    background, ``f_q ~ a m_q``, so the mean squared residual per channel over the window, in
    units of the pixel's background variance, is sensor noise (about 1 or less). A dark object
    with a texture of its own, or one whose pixels differ from the background's pattern, leaves
    a large residual. (A uniform dark object over a uniform background cannot be told apart.)

    With ``masked``, only the window's candidates enter the mean (pixels outside the frame do not),
    and a candidate is a shadow only if most of its window is: ``(window**2 + 1) // 2`` candidates
    or more (5 of 9). At a shadow's edge the whole window straddles lit background, which is no
    darker copy of it (``a`` is the shadow's gain), so the edge fails; masked, the lit pixels (no
    candidates: they score below ``shadow_min_score``) drop out. A dark object's own pixels are
    candidates, so its texture still counts.

    Parameters
    ----------
    frame, background : ndarray of shape (H, W, C), float32
    variance : ndarray of shape (H, W), float32
        Mean (bounded) variance per channel of the background component.
    candidate : ndarray of shape (H, W), bool
    window : int
        Side of the square window (odd).
    max_residual : float
        Largest mean squared residual, in variances.
    masked : bool
        Count only the window's candidates (see above).

    Returns
    -------
    shadow : ndarray of shape (H, W), bool
    """
    f = frame.astype(np.float64)
    m = background.astype(np.float64)
    gain = (f * m).sum(-1) / np.maximum((m * m).sum(-1), 1e-9)
    bound = max_residual * frame.shape[-1] * variance
    if masked:
        return candidate & _masked_window_residual_ok(f, m, gain, candidate, window, bound)

    def window_mean(values: NDArray) -> NDArray[np.float64]:
        return ndimage.uniform_filter(values, window, mode="nearest")

    residual = (window_mean((f * f).sum(-1)) - 2 * gain * window_mean((f * m).sum(-1))
                + gain * gain * window_mean((m * m).sum(-1)))
    return candidate & (residual <= bound)


def _masked_window_residual_ok(f: NDArray[np.float64], m: NDArray[np.float64], gain: NDArray[np.float64],
                               candidate: NDArray[np.bool_], window: int, bound: NDArray) -> NDArray[np.bool_]:
    """The masked texture test of :func:`_texture_preserved`: sums over the window's candidates, taken in the
    compiled kernel's order (rows, then columns, from 0), so both give the same bits."""
    height, width = candidate.shape
    half = window // 2
    terms = [np.where(candidate, v, 0.0) for v in ((f * f).sum(-1), (f * m).sum(-1), (m * m).sum(-1))]
    sums = [np.zeros((height, width)) for _ in terms]
    count = np.zeros((height, width), np.int64)
    for dy in range(-half, half + 1):
        for dx in range(-half, half + 1):
            # pixel p gathers q = p + (dy, dx) where q is inside the frame
            dst = (slice(max(-dy, 0), height - max(dy, 0)), slice(max(-dx, 0), width - max(dx, 0)))
            src = (slice(max(dy, 0), height - max(-dy, 0)), slice(max(dx, 0), width - max(-dx, 0)))
            for total, term in zip(sums, terms):
                total[dst] += term[src]
            count[dst] += candidate[src]
    s_ff, s_fm, s_mm = sums
    n = np.maximum(count, 1)
    residual = s_ff / n - 2 * gain * (s_fm / n) + gain * gain * (s_mm / n)
    return (count >= (window * window + 1) // 2) & (residual <= bound)


def _texture_preserved_mixture(frame: NDArray[np.float32], means: NDArray[np.float32],
                               is_background: NDArray[np.bool_], variance: NDArray[np.float32],
                               candidate: NDArray[np.bool_], window: int, max_residual: float,
                               masked: bool = False) -> NDArray[np.bool_]:
    """:func:`_texture_preserved` against the window's background mixtures instead of the background image.

    A background that moves (swaying leaves, water) shows one of several textures in each frame, and a
    shadow cast on it darkens whichever shows. So the candidate's gain ``a`` is taken against each of
    its own background components ``k`` in turn, and each window pixel ``q`` is explained by the nearest
    darker copy ``a m_{q,j}`` of any of ``q``'s background components; the smallest mean residual over
    ``k`` is compared with the same bound. Where every pixel has one background component, this is the
    test of :func:`_texture_preserved` up to rounding. The window's edges and ``masked`` are as there.
    Sums run in the compiled kernel's order (rows, then columns, from 0; channels in order), so both
    give the same bits.

    Parameters
    ----------
    frame : ndarray of shape (H, W, C), float32
    means : ndarray of shape (H, W, K, C), float32
    is_background : ndarray of shape (H, W, K), bool
    variance, candidate, window, max_residual, masked
        As :func:`_texture_preserved`.

    Returns
    -------
    shadow : ndarray of shape (H, W), bool
    """
    height, width, n_comp, n_ch = means.shape
    half = window // 2
    f = frame.astype(np.float64)
    m = means.astype(np.float64)
    rows, cols = np.arange(height), np.arange(width)
    best = np.full((height, width), np.inf)
    count = np.zeros((height, width), np.int64)
    for k in range(n_comp):
        fm = np.zeros((height, width))
        mm = np.zeros((height, width))
        for c in range(n_ch):
            fm += f[..., c] * m[:, :, k, c]
            mm += m[:, :, k, c] * m[:, :, k, c]
        gain = fm / np.maximum(mm, 1e-9)
        total = np.zeros((height, width))
        count[:] = 0
        for dy in range(-half, half + 1):
            qy = rows + dy
            inside_y = (qy >= 0) & (qy < height)
            qy = np.clip(qy, 0, height - 1)
            for dx in range(-half, half + 1):
                qx = cols + dx
                inside_x = (qx >= 0) & (qx < width)
                qx = np.clip(qx, 0, width - 1)
                # pixel p reads q = p + (dy, dx), clamped to the frame (nearest edges)
                fq = f[qy[:, None], qx[None, :]]
                use = np.ones((height, width), bool)
                if masked:
                    use = inside_y[:, None] & inside_x[None, :] & candidate[qy[:, None], qx[None, :]]
                nearest = np.full((height, width), np.inf)
                for j in range(n_comp):
                    mq = m[qy[:, None], qx[None, :], j]
                    residual = np.zeros((height, width))
                    for c in range(n_ch):
                        e = fq[..., c] - gain * mq[..., c]
                        residual += e * e
                    nearest = np.where(is_background[qy[:, None], qx[None, :], j], np.minimum(nearest, residual),
                                       nearest)
                total += np.where(use, nearest, 0.0)
                count += use
        mean = total / np.maximum(count, 1)
        usable = is_background[:, :, k] & (mm > 0)
        if masked:
            usable &= count >= (window * window + 1) // 2
        best = np.where(usable, np.minimum(best, mean), best)
    return candidate & (best <= max_residual * n_ch * variance)


def training_dynamics(
    frames: NDArray, model: ScoringModel, *, radius: int = 1, gain: bool = False, threshold: float = 7.81,
    quantile: float = 0.9, gain_clip: bool = False, gain_saturate: bool = False,
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """How dynamic each pixel's background was during training, from the training frames' own scores.

    Parameters
    ----------
    frames : ndarray of shape (T, H, W, C)
        Training frames (any order; the model is not adapted).
    model : ScoringModel
    radius : int
        Neighbourhood of the spatial-context test.
    gain : bool
        Compensate the global gain as :func:`score_frames` does.
    gain_clip : bool
        With ``gain``, clipped channels as :func:`score_frames` reads them.
    gain_saturate : bool
        With ``gain``, the divided frame saturates at 255 as :func:`score_frames` reads it.
    threshold : float
        Squared Mahalanobis distance above which a sample is foreground.
    quantile : float
        Level of the per-pixel score quantile.

    Returns
    -------
    rescued : ndarray of shape (H, W), float32
        Fraction of training frames that the pixel's own background components call foreground
        but a neighbour's components explain (``own d2 > threshold >= neighbourhood d2``): the
        signature of swaying or jittering background, which a passing object (far from both)
        does not have.
    score_quantile : ndarray of shape (H, W), float32
        The ``quantile`` of the pixel's own training scores.
    """
    frames = np.asarray(frames)
    # -- compiled path (issue 16): bgsub.kernels.default_path; the code below is the reference (BGSUB_BACKEND=numpy)

    if resolve_backend() == "numba":
        return default_path.training_dynamics(
            frames, model.means, model.whiten, model.mean_var, model.is_background, model.first, radius=radius,
            gain=gain, threshold=threshold, quantile=quantile, gain_clip=gain_clip, gain_saturate=gain_saturate,
        )
    # -- end of the compiled path
    n_frames, height, width = frames.shape[:3]
    rescued = np.zeros((height, width), np.float32)
    own_scores = np.empty((n_frames, height, width), np.float32)
    out = np.empty((height, width), np.float32)
    own_k = np.empty((height, width), np.int64)
    shadow = np.empty((height, width), np.bool_)
    gate = np.ones((height, width), np.bool_)
    for t in range(n_frames):
        frame = _compensated(frames[t], model, gain, gain_clip, gain_saturate)
        score_frame(frame, model.means, model.whiten, model.mean_var, model.is_background, int(radius), gate,
                     0.0, 1.0, 0.0, True, out, own_scores[t], own_k, shadow)
        rescued += (own_scores[t] > threshold) & (out <= threshold)
    score_quantile = np.quantile(own_scores, quantile, axis=0).astype(np.float32)
    return rescued / max(n_frames, 1), score_quantile


#: A component needs at least this weight to be admitted as a recurring background colour.
RECURRENT_MIN_WEIGHT = 0.1


def training_episodes(
    frames: NDArray, model: ScoringModel, *, threshold: float = 7.81, gain: bool = False, gain_clip: bool = False,
    gain_saturate: bool = False,
) -> NDArray[np.int32]:
    """How many separate times the training frames returned to each component.

    Parameters
    ----------
    frames : ndarray of shape (T, H, W, C)
        Training frames, in their order.
    model : ScoringModel
        Every component is looked at, background or not.
    threshold : float
        Squared Mahalanobis distance within which a sample belongs to its nearest component.
    gain, gain_clip, gain_saturate : bool
        Read the frames as :func:`score_frames` does.

    Returns
    -------
    episodes : ndarray of shape (H, W, K), int32
        Per component, the runs of consecutive frames whose sample is nearest to it and within
        ``threshold``: a flicker colour or a leaf swaying in and out comes back many times, a mover
        (passing or stopped) once or a few times.
    """
    frames = np.asarray(frames)
    height, width, n_comp = model.is_background.shape
    every = np.ones((height, width, n_comp), np.bool_)
    no_gate = np.zeros((height, width), np.bool_)
    out = np.empty((height, width), np.float32)
    own_d2 = np.empty((height, width), np.float32)
    nearest = np.empty((height, width), np.int64)
    shadow = np.empty((height, width), np.bool_)
    episodes = np.zeros((height, width, n_comp), np.int32)
    previous = np.full((height, width), -1, np.int64)
    for raw in frames:
        frame = _compensated(raw, model, gain, gain_clip, gain_saturate)
        score_frame(frame, model.means, model.whiten, model.mean_var, every, 0, no_gate,
                    0.0, 1.0, 0.0, True, out, own_d2, nearest, shadow)
        current = np.where(own_d2 <= threshold, nearest, -1)
        rows, cols = np.nonzero((current >= 0) & (current != previous))
        episodes[rows, cols, current[rows, cols]] += 1
        previous = current
    return episodes


def recurrent_background(weights: NDArray, largest_variance: NDArray, episodes: NDArray, min_episodes: int,
                         var_max: float | None) -> NDArray[np.bool_]:
    """The components that recur in the training frames: weight at least :data:`RECURRENT_MIN_WEIGHT`, at least
    ``min_episodes`` episodes (:func:`training_episodes`), and a ``largest_variance`` (the fitted covariance's
    largest eigenvalue, ``(H, W, K)``) not above ``var_max`` (a compact colour, not the broad component of many
    cars' colours), ``(H, W, K)`` bool."""
    compact = np.ones(np.shape(largest_variance), np.bool_) if var_max is None else largest_variance <= var_max
    return (np.asarray(weights) >= RECURRENT_MIN_WEIGHT) & (np.asarray(episodes) >= min_episodes) & compact


#: Side of the window in which :func:`blob_gate` counts a pixel's foreground neighbours.
BLOB_WINDOW = 5


def blob_gate(frame: NDArray[np.float32], model: ScoringModel, gate: NDArray[np.bool_], threshold: float,
              fraction: float) -> NDArray[np.bool_]:
    """The spatial ``gate`` without the pixels that lie inside a solid blob of foreground.

    A gated pixel keeps its neighbours' components only where less than ``fraction`` of the
    :data:`BLOB_WINDOW` square around it scores above ``threshold`` under the pixel's own background components:
    a swaying leaf leaves most of the window explained (its own foreground is an edge), a mover in front of the
    leaves covers the window, and a neighbour's leaf or sky component would explain its colour.

    Examples
    --------
    >>> model = scoring_model(np.ones((7, 7, 1)), np.zeros((7, 7, 1, 3)), np.ones((7, 7, 1)), "spherical",
    ...                       background_ratio=0.9, rank_by="weight")
    >>> frame = np.zeros((7, 7, 3), np.float32)
    >>> frame[1:6, 1:6] = 50.0                             # a 5x5 blob far from the model
    >>> gate = np.ones((7, 7), bool)
    >>> blob_gate(frame, model, gate, 7.81, 0.9)[3, 3], blob_gate(frame, model, gate, 7.81, 0.9)[0, 0]
    (np.False_, np.True_)
    """
    height, width = gate.shape
    own_d2 = np.empty((height, width), np.float32)
    unused_out = np.empty((height, width), np.float32)
    own_k = np.empty((height, width), np.int64)
    shadow = np.empty((height, width), np.bool_)
    score_frame(frame, model.means, model.whiten, model.mean_var, model.is_background, 0, gate,
                0.0, 1.0, 0.0, True, unused_out, own_d2, own_k, shadow)
    count = ndimage.correlate((own_d2 > threshold).astype(np.int32), np.ones((BLOB_WINDOW, BLOB_WINDOW), np.int32),
                              mode="nearest")
    return gate & (count < fraction * BLOB_WINDOW * BLOB_WINDOW)


def impute_clipped(frame: NDArray, compensated: NDArray[np.float32], background: NDArray) -> NDArray[np.float32]:
    """The gain-compensated ``compensated`` frame where every channel the sensor clipped in ``frame`` (at 255 or above)
    reads at least the ``background`` image's value.

    A clipped channel says only that the light was at least 255, so after dividing by a gain above 1 it is a lower
    bound: a background brighter than ``255 / gain`` would have clipped too, and matches it. Elsewhere the frame is
    unchanged.

    Examples
    --------
    >>> frame = np.array([[[255, 255, 100]]], np.uint8)
    >>> compensated = frame / np.float32(1.25)                      # 204, 204, 80
    >>> impute_clipped(frame, compensated, np.array([[[240.0, 150.0, 90.0]]])).tolist()
    [[[240.0, 204.0, 80.0]]]
    """
    out = np.array(compensated, dtype=np.float32)
    clipped = np.asarray(frame) >= 255
    out[clipped] = np.maximum(out[clipped], np.asarray(background, np.float32)[clipped])
    return out


def _compensated(frame: NDArray, model: ScoringModel, gain: bool, clip: bool = False,
                 saturate: bool = False) -> NDArray[np.float32]:
    raw = frame
    frame = np.ascontiguousarray(frame, dtype=np.float32)
    if gain:
        background = model.background_image()
        g = frame_gains(frame[None], background)[0]
        if g > 0:
            frame = _read_as_trained(raw, frame / g, background, clip, saturate)
    return frame


def _read_as_trained(raw: NDArray, quotient: NDArray[np.float32], background: NDArray, clip: bool,
                     saturate: bool) -> NDArray[np.float32]:
    """The gain-divided ``quotient`` of ``raw`` as the 8-bit training frames would have read it: at most 255 with
    ``saturate``, then with ``clip`` its clipped channels at least the ``background`` image's value."""
    if saturate:
        quotient = np.minimum(quotient, SATURATION)
    if clip:
        quotient = impute_clipped(raw, quotient, background)
    return quotient


def score_frames(
    frames: NDArray,
    model: ScoringModel,
    *,
    radius: int = 0,
    spatial_gate: NDArray[np.bool_] | None = None,
    blob_fraction: float | None = None,
    gain: bool = False,
    gain_clip: bool = False,
    gain_saturate: bool = False,
    shadow_tau: float | None = None,
    shadow_var_threshold: float = 16.0,
    shadow_max: float = 1.0,
    shadow_texture: float | None = None,
    shadow_texture_masked: bool = False,
    shadow_texture_mixture: bool = False,
    shadow_window: int = 3,
    shadow_min_score: float = 7.81,
    score_scale: NDArray[np.floating] | None = None,
    learning_rate: float = 0.0,
    update_threshold: float = 16.0,
    feedback: FeedbackState | None = None,
    ghost: GhostDetector | None = None,
    lbsp_pixels: NDArray[np.bool_] | None = None,
    decision_threshold: float = 7.81,
) -> NDArray[np.float32]:
    """Score frames against a :class:`ScoringModel` (see the module docstring for the options).

    Parameters
    ----------
    frames : ndarray of shape (T, H, W, C)
        On the 0-255 scale, in temporal order when ``learning_rate > 0``.
    model : ScoringModel
        Its ``means`` are updated in place when ``learning_rate > 0``.
    radius : int
        Neighbourhood radius (0 = the pixel's own components only).
    spatial_gate : ndarray of shape (H, W), bool, or None
        Pixels that use the neighbourhood; the others use their own components only. None = all.
    blob_fraction : float or None
        With ``radius``: each frame, the pixels that would use the neighbourhood (all, or ``spatial_gate``'s) and lie
        inside a solid blob of foreground (at least this fraction of their 5x5 window above ``decision_threshold``
        under the own components) use their own components only (:func:`blob_gate`). None = off.
    gain : bool
        Divide each frame by its robust illumination gain first.
    gain_clip : bool
        With ``gain``, a channel the sensor clipped (255) reads at least its background image's value after the
        division (:func:`impute_clipped`): under a gain above 1 a bright background clips, and would otherwise
        look darker than its model.
    gain_saturate : bool
        With ``gain``, the divided frame saturates at 255 (:data:`SATURATION`), as the training frames the model
        was fitted on did: where the sensor clipped a bright background in training (a sky under a raised
        exposure), its model sits at 255, and the division of a darker frame would otherwise read it brighter
        than that. Applied before ``gain_clip``'s imputation.
    shadow_tau : float or None
        Lowest brightness ratio of a shadow; None = no shadow suppression.
    shadow_var_threshold : float
        Colour-distortion bound of the shadow test, in variances (MOG2's ``Tb``); MOG2 scales it
        by the squared brightness ratio, which the texture test does not (sensor noise does not
        darken with the light, so a deep shadow would never pass).
    shadow_max : float
        Brightness ratio below which a copy of a background component may be a shadow (MOG2: 1); above
        1, brighter copies (highlights) pass the same tests.
    shadow_texture : float or None
        When set, a shadow must also preserve the background's texture: the pixel's own gain
        must explain its ``shadow_window`` square (frame ~ gain * background) up to a mean squared
        residual of this many variances (see :func:`_texture_preserved`). Only candidates scoring
        above ``shadow_min_score`` are tested. None = MOG2's test alone.
    shadow_texture_masked : bool
        The texture test counts only the window's shadow candidates, and most of the window must be
        candidates (see :func:`_texture_preserved`).
    shadow_texture_mixture : bool
        The texture test explains the window by darker copies of its pixels' background components,
        any of them, instead of the background image (see :func:`_texture_preserved_mixture`).
    shadow_window : int
        Side of that window, pixels (odd).
    shadow_min_score : float
        Score above which a shadow candidate enters the texture test (below it, it is background).
    score_scale : ndarray of shape (H, W), or None
        Per-pixel divisor of the scores (a per-pixel threshold ``threshold * score_scale``); None = 1.
    learning_rate : float
        Rate of the selective mean update (0 = frozen model).
    update_threshold : float
        Squared Mahalanobis distance below which a pixel updates its nearest background component.
    feedback : FeedbackState or None
        Per-pixel feedback, updated in place frame after frame: scores are divided by
        ``R(x)**2``, the update threshold is multiplied by it, and the update rate is
        :func:`feedback_rates`. None = off.
    ghost : GhostDetector or None
        Ghost absorption, updated in place (see :func:`absorb_ghosts`). None = off.
    lbsp_pixels : ndarray of shape (H, W), bool, or None
        Pixels where the LBSP texture test runs beside colour (see the module docstring). None = off.
    decision_threshold : float
        The foreground decision (``score > decision_threshold``) that ``feedback`` and ``ghost``
        watch: the method's own threshold.

    Returns
    -------
    scores : ndarray of shape (T, H, W), float32
        Squared Mahalanobis distance to the nearest background component (0 for shadows),
        divided by ``score_scale``.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[1:] != model.means.shape[:2] + model.means.shape[3:]:
        raise ValueError(f"frames of shape {frames.shape} do not match a model of {model.means.shape}")
    if radius < 0 or learning_rate < 0 or learning_rate > 1:
        raise ValueError(f"need radius >= 0 and 0 <= learning_rate <= 1, got {radius}, {learning_rate}")
    # -- compiled path (issue 16): bgsub.kernels.default_path; the code below is the reference (BGSUB_BACKEND=numpy)

    if (resolve_backend() == "numba" and default_path.supported(frames.shape[-1], shadow_window)
            and feedback is None and lbsp_pixels is None):  # feedback and LBSP run on the reference only
        def compiled(block: NDArray, gate: NDArray[np.bool_] | None = spatial_gate) -> NDArray[np.float32]:
            return default_path.score_frames(
                block, model.means, model.whiten, model.mean_var, model.is_background, model.first, radius=radius,
                spatial_gate=gate, gain=gain, shadow_tau=shadow_tau,
                shadow_var_threshold=shadow_var_threshold, shadow_max=shadow_max, shadow_texture=shadow_texture,
                shadow_texture_masked=shadow_texture_masked, shadow_texture_mixture=shadow_texture_mixture,
                shadow_window=shadow_window, shadow_min_score=shadow_min_score, score_scale=score_scale,
                learning_rate=learning_rate, update_threshold=update_threshold, gain_clip=gain_clip,
                gain_saturate=gain_saturate, ghost=ghost, decision_threshold=decision_threshold,
                rows=model.row_layout(),
            )
        if blob_fraction is None or radius == 0:
            return compiled(frames)  # ghost absorption, if on, runs inside the kernel between frames
        # the blob gate is read from each frame as the reference reads it, before this frame's update: one frame
        # per call
        neighbourhood = np.ones(frames.shape[1:3], np.bool_) if spatial_gate is None else spatial_gate
        out = np.empty(frames.shape[:3], np.float32)
        for t in range(len(frames)):
            gate = blob_gate(_compensated(frames[t], model, gain, gain_clip, gain_saturate), model, neighbourhood,
                             decision_threshold, blob_fraction)
            out[t] = compiled(frames[t: t + 1], gate)[0]
        return out
    # -- end of the compiled path
    n_frames, height, width = frames.shape[:3]
    out = np.empty((n_frames, height, width), np.float32)
    own_d2 = np.empty((height, width), np.float32)
    own_k = np.empty((height, width), np.int64)
    shadow = np.empty((height, width), np.bool_)
    gate = np.ones((height, width), np.bool_) if spatial_gate is None else np.ascontiguousarray(spatial_gate, bool)
    scale = None if score_scale is None else np.asarray(score_scale, np.float32)
    tau = 0.0 if shadow_tau is None else float(shadow_tau)
    needs_background = (tau > 0.0 and shadow_texture is not None) or lbsp_pixels is not None
    for t in range(n_frames):
        frame = _compensated(frames[t], model, gain, gain_clip, gain_saturate)
        background = model.background_image() if needs_background else None  # the image before this frame's update
        frame_gate = gate
        if blob_fraction is not None and radius > 0:
            frame_gate = blob_gate(frame, model, gate, decision_threshold, blob_fraction)
        score_frame(frame, model.means, model.whiten, model.mean_var, model.is_background, int(radius), frame_gate,
                     tau, float(shadow_max), float(shadow_var_threshold), shadow_texture is None,
                     out[t], own_d2, own_k, shadow)
        if tau > 0.0:
            if shadow_texture is not None:
                first = model.first[..., None]
                variance = np.take_along_axis(model.mean_var, first, axis=2)[..., 0]
                candidate = shadow & (out[t] > shadow_min_score)
                if shadow_texture_mixture:
                    shadow = _texture_preserved_mixture(frame, model.means, model.is_background, variance,
                                                        candidate, shadow_window, shadow_texture,
                                                        shadow_texture_masked)
                else:
                    shadow = _texture_preserved(frame, background, variance, candidate, shadow_window,
                                                shadow_texture, shadow_texture_masked)
            out[t][shadow] = 0.0
        if scale is not None:
            out[t] /= scale
        if lbsp_pixels is not None:
            texture = _texture_scores(frame, background, lbsp_pixels, decision_threshold)
            if tau > 0.0:
                texture[shadow] = 0.0
            np.maximum(out[t], texture, out=out[t])
        if feedback is not None or ghost is not None:
            _track_frame(frame, model, out[t], own_d2, own_k, feedback, ghost, decision_threshold,
                         learning_rate, update_threshold)
        elif learning_rate > 0:
            adapt_means(frame, model.means, own_d2, own_k, float(update_threshold), float(learning_rate))
    return out


def _texture_scores(frame: NDArray[np.float32], background: NDArray[np.float32], pixels: NDArray[np.bool_],
                    decision_threshold: float) -> NDArray[np.float32]:
    """The LBSP lever's score ``(H, W)``: ``decision_threshold * distance / descriptor_threshold`` on ``pixels``
    (above ``decision_threshold`` exactly where SuBSENSE's texture test says foreground), 0 elsewhere."""
    distance = texture_distance(frame, background).astype(np.float32)
    limit = np.float32(descriptor_threshold(1.0, n_channels=frame.shape[-1]))
    return np.where(pixels, np.float32(decision_threshold) * distance / limit, np.float32(0.0))


def _track_frame(frame: NDArray[np.float32], model: ScoringModel, scores: NDArray[np.float32],
                 own_d2: NDArray[np.float32], own_k: NDArray[np.int64], feedback: FeedbackState | None,
                 ghost: GhostDetector | None, decision_threshold: float, learning_rate: float,
                 update_threshold: float) -> None:
    """Feedback, ghost absorption and the update of one frame (``scores`` ``(H, W)`` changed in place)."""
    factor = None
    if feedback is not None:
        factor = feedback.score_threshold_factor
        base = scores.copy()
        scores /= factor
    raw = scores > decision_threshold
    final = _decision(scores, decision_threshold)
    if ghost is not None:
        absorbed = absorb_ghosts(ghost, frame, model, final)
        scores[absorbed] = 0.0
        raw &= ~absorbed
        final &= ~absorbed
    if feedback is not None:
        if learning_rate > 0:
            _adapt_means_per_pixel(frame, model.means, own_d2, own_k, update_threshold * factor,
                                   feedback_rates(feedback, learning_rate))
        feedback.update(normalised_distance(base, decision_threshold, foreground=raw), raw, final)
    elif learning_rate > 0:
        adapt_means(frame, model.means, own_d2, own_k, float(update_threshold), float(learning_rate))


def _decision(scores: NDArray[np.float32], decision_threshold: float) -> NDArray[np.bool_]:
    """The mask the moving-background levers watch: the threshold, then a 3 x 3 median."""
    if resolve_backend() == "numba":  # the binary median: the same mask (tests/test_default_kernels.py)
        return binary.filtered_masks(scores[None], decision_threshold, median=3)[0]
    return ndimage.median_filter(scores > decision_threshold, 3, mode="nearest")


def feedback_rates(feedback: FeedbackState, learning_rate: float) -> NDArray[np.float32]:
    """Per-pixel learning rate of the selective update under feedback: ``learning_rate * t_lower / T(x)``.

    SuBSENSE learns a sample with probability ``1 / T(x)``, ``T`` in ``[2, 256]``. Taken as is,
    ``1/2`` would be fifty times today's running-average rate (0.01), so the rate is scaled to
    peak at ``learning_rate``: a busy or plain background pixel (``T = t_lower``) learns as
    without feedback; a pixel that keeps being foreground (a stopped object, ``T`` rising
    towards ``t_upper``) learns up to ``t_upper / t_lower`` (128) times slower.

    Returns
    -------
    rates : ndarray of shape (H, W), float32, in ``[0, learning_rate]``

    Examples
    --------
    >>> round(float(feedback_rates(FeedbackState((1, 1)), 0.01)[0, 0]), 6)
    0.01
    """
    return (learning_rate * feedback.t_lower / feedback.update_period).astype(np.float32)


def _adapt_means_per_pixel(frame: NDArray[np.float32], means: NDArray[np.float32], own_d2: NDArray[np.float32],
                           own_k: NDArray[np.int64], update_threshold: NDArray[np.float32],
                           rates: NDArray[np.float32]) -> None:
    """:func:`adapt_means` with a per-pixel threshold and rate (numpy; only the updated pixels are touched)."""
    ys, xs = np.nonzero((own_k >= 0) & (own_d2 < update_threshold))
    ks = own_k[ys, xs]
    rate = rates[ys, xs, None]
    means[ys, xs, ks] += rate * (frame[ys, xs] - means[ys, xs, ks])


def absorb_ghosts(ghost: GhostDetector, frame: NDArray[np.float32], model: ScoringModel,
                  mask: NDArray[np.bool_], background: NDArray[np.float32] | None = None) -> NDArray[np.bool_]:
    """Feed one frame to the ghost detector; write the frame into the model where it says ghost.

    Parameters
    ----------
    ghost : GhostDetector
    frame : ndarray of shape (H, W, C), float32
        The (compensated) frame.
    model : ScoringModel
        Its first-ranked means are set to ``frame`` at the absorbed pixels (in place).
    mask : ndarray of shape (H, W), bool
        The frame's foreground.
    background : ndarray of shape (H, W, C), float32, or None
        The background image the frame was scored against; None = the model's now.

    Returns
    -------
    absorbed : ndarray of shape (H, W), bool
        Pixels now background (the caller scores them 0).
    """
    absorbed = ghost.update(frame, model.background_image() if background is None else background, mask)
    if absorbed.any():
        ys, xs = np.nonzero(absorbed)
        model.means[ys, xs, model.first[ys, xs]] = frame[ys, xs]
    return absorbed
