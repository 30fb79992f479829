"""Per-pixel feedback of the decision threshold and the learning rate, after SuBSENSE.

SuBSENSE (St-Charles, Bilodeau & Bergevin, "SuBSENSE: A Universal Change Detection Method with
Local Adaptive Sensitivity", IEEE TIP 24(1), 2015) keeps per pixel

``D_min(x)``
    moving averages (short- and long-term) of the pixel's normalised minimal distance to its
    background model, in ``[0, 1]``: how far the background itself wanders;
``v(x)``
    a "blinking" accumulator, raised by ``V_INCR`` where the raw mask flips between
    consecutive frames (outside the dilated final foreground) and lowered by ``V_DECR``
    elsewhere: how noisy the segmentation is there;
``R(x)``
    the distance threshold factor (the threshold is ``R(x)`` times the base one), raised by
    ``R_VAR (v - V_DECR)`` while ``R < (1 + 2 D_min)^2`` and lowered by ``R_VAR / v``
    otherwise, never below 1;
``T(x)``
    the update period (a background sample is learnt with probability ``1 / T``), raised by
    ``T_INCR / (D_min v)`` on foreground and lowered by ``T_DECR v / D_min`` on background,
    within ``[T_LOWER, T_UPPER]``.

Busy pixels (water, leaves) thus get a wider threshold and, as long as they are background,
a faster update; still pixels keep the tight threshold; a pixel under a stopped object
updates slowly, so the object is not absorbed. :class:`FeedbackState` holds these maps and
applies the update rules and constants of the authors' implementation
(``BackgroundSubtractorSuBSENSE.cpp``, 2014 CVPRW / TIP configuration), where they transfer.

How this departs from SuBSENSE
------------------------------
- **The distance.** SuBSENSE's normalised distance mixes an L1 colour distance (over 765)
  and an LBSP Hamming distance (over 48), and counts missing sample matches. A GMM has a
  squared Mahalanobis score ``s`` instead: :func:`normalised_distance` maps a background
  pixel to ``at_threshold * sqrt(s / threshold)`` (linear in the distance, as L1 is, and
  ``at_threshold = 0.1`` at the decision threshold, SuBSENSE's ``UNSTABLE_REG_RATIO_MIN``,
  about where its own colour threshold of 30 per channel falls on its scale) and a raw
  foreground pixel to 1 (SuBSENSE: no background sample matched, ``min(1, dist + 1)``).
- **The threshold.** ``R(x)`` multiplies a *distance*; a squared score's threshold is
  multiplied by ``R(x)**2`` (:attr:`FeedbackState.score_threshold_factor`). SuBSENSE also
  derives the LBSP threshold from ``R`` (``2**R``); that belongs to a texture test
  (:mod:`bgsub.lbsp`), not here.
- **The learning rate.** SuBSENSE replaces a random sample with probability ``1/T``. A GMM's
  running average takes the rate ``1/T(x)`` directly (:attr:`FeedbackState.learning_rate`,
  in ``[1/256, 1/2]``); a caller may scale it.
- **Left out:** the frame-level analysis that resets the model and lowers the ``T`` caps on
  sudden global change, and the LBSP threshold adaptation; the "unstable region" flag only
  changes ``v``'s decrement here (SuBSENSE also loosens its thresholds and spreads updates
  to a 5 x 5 neighbourhood there); it is exposed as :attr:`FeedbackState.unstable`.
- Divisions by ``D_min`` use ``max(D_min, 1e-6)``: SuBSENSE divides by zero on a perfect
  match (and clamps the infinite result); here the result is the same clamp, without NaN.
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

__all__ = ["FeedbackState", "normalised_distance"]

logger = logging.getLogger(__name__)

#: SuBSENSE's constants (BackgroundSubtractorSuBSENSE.cpp); the names drop the ``FEEDBACK_`` prefix.
R_VAR = 0.01
V_INCR = 1.0
V_DECR = 0.1
T_DECR = 0.25
T_INCR = 0.5
T_LOWER = 2.0
T_UPPER = 256.0
UNSTABLE_REG_RATIO_MIN = 0.1
UNSTABLE_REG_RDIST_MIN = 3.0
#: Initial blinking accumulator (SuBSENSE initialises ``v`` to 10).
V_INIT = 10.0
#: Frames of the long-term moving averages (``m_nSamplesForMovingAvgs``); short-term = a quarter.
N_SAMPLES_FOR_MOVING_AVGS = 100
#: Floor of ``D_min`` in divisions.
_EPS = 1e-6


def normalised_distance(
    scores: NDArray, threshold: float | NDArray, *, foreground: NDArray[np.bool_] | None = None,
    at_threshold: float = UNSTABLE_REG_RATIO_MIN,
) -> NDArray[np.float32]:
    """SuBSENSE's normalised minimal distance in ``[0, 1]`` from a squared Mahalanobis score.

    Parameters
    ----------
    scores : ndarray of shape (H, W)
        Squared distance to the nearest background component (``>= 0``).
    threshold : float or ndarray of shape (H, W)
        The base decision threshold of ``scores`` (without the feedback factor), ``> 0``.
    foreground : ndarray of shape (H, W), bool, or None
        The raw decision (with the feedback factor); None = ``scores > threshold``.
    at_threshold : float
        Normalised distance of a background pixel scoring exactly ``threshold``.

    Returns
    -------
    distance : ndarray of shape (H, W), float32
        1 on ``foreground``; ``min(1, at_threshold * sqrt(scores / threshold))`` elsewhere.

    Examples
    --------
    >>> [round(float(d), 3) for d in normalised_distance(np.array([[0.0, 7.81 / 4, 7.81, 100.0]]), 7.81)[0]]
    [0.0, 0.05, 0.1, 1.0]
    """
    scores = np.asarray(scores, dtype=np.float64)
    distance = np.minimum(at_threshold * np.sqrt(np.maximum(scores, 0.0) / threshold), 1.0)
    fg = scores > threshold if foreground is None else np.asarray(foreground, bool)
    return np.where(fg, 1.0, distance).astype(np.float32)


class FeedbackState:
    """SuBSENSE's per-pixel feedback maps ``D_min``, ``v``, ``R`` and ``T`` (see the module docstring).

    Parameters
    ----------
    shape : (int, int)
        ``(H, W)``.
    n_samples_for_moving_avgs : int
        Long-term window of the ``D_min`` and segmentation averages, frames (short-term: a quarter).
    t_lower, t_upper : float
        Bounds of the update period ``T``.
    blink_dilation : int
        Iterations of the 3 x 3 dilation of the final foreground outside which blinks count.

    Attributes
    ----------
    n_frames_ : int
        Frames seen.

    Examples
    --------
    >>> state = FeedbackState((2, 2))
    >>> for t in range(50):
    ...     raw = np.array([[t % 2 == 0, False], [False, False]])
    ...     state.update(np.where(raw, 1.0, 0.0), raw, np.zeros((2, 2), bool))
    >>> bool(state.threshold_factor[0, 0] > 2.0), float(state.threshold_factor[1, 1])
    (True, 1.0)
    """

    def __init__(
        self, shape: tuple[int, int], *, n_samples_for_moving_avgs: int = N_SAMPLES_FOR_MOVING_AVGS,
        t_lower: float = T_LOWER, t_upper: float = T_UPPER, blink_dilation: int = 3,
    ) -> None:
        if len(shape) != 2 or min(shape) < 1:
            raise ValueError(f"shape must be (H, W) with H, W >= 1, got {shape}")
        if not 1 <= t_lower <= t_upper:
            raise ValueError(f"need 1 <= t_lower <= t_upper, got {t_lower} and {t_upper}")
        if n_samples_for_moving_avgs < 4:
            raise ValueError(f"n_samples_for_moving_avgs must be >= 4, got {n_samples_for_moving_avgs}")
        self.shape = (int(shape[0]), int(shape[1]))
        self.n_samples_for_moving_avgs = int(n_samples_for_moving_avgs)
        self.t_lower = float(t_lower)
        self.t_upper = float(t_upper)
        self.blink_dilation = int(blink_dilation)
        self.n_frames_ = 0
        # the maps accumulate small steps over thousands of frames: kept in float64, returned as float32
        zeros = np.zeros(self.shape)
        self._r = np.ones(self.shape)
        self._v = np.full(self.shape, V_INIT)
        self._t = np.full(self.shape, self.t_lower)
        self._dmin_lt, self._dmin_st = zeros.copy(), zeros.copy()
        self._raw_lt, self._raw_st = zeros.copy(), zeros.copy()
        self._final_lt, self._final_st = zeros.copy(), zeros.copy()
        self._blinks = np.zeros(self.shape, bool)
        self._last_blink = np.zeros(self.shape, bool)
        self._last_raw = np.zeros(self.shape, bool)
        self._last_final = np.zeros(self.shape, bool)
        self._unstable = np.zeros(self.shape, bool)

    def update(self, distance: NDArray, raw_mask: NDArray[np.bool_], final_mask: NDArray[np.bool_] | None = None,
               ) -> None:
        """Feed one frame's normalised minimal distances and masks, in temporal order.

        Parameters
        ----------
        distance : ndarray of shape (H, W)
            Normalised minimal distance in ``[0, 1]`` (:func:`normalised_distance`).
        raw_mask : ndarray of shape (H, W), bool
            The frame's foreground decision before post-processing.
        final_mask : ndarray of shape (H, W), bool, or None
            After post-processing (median blur, hole filling ...); None = ``raw_mask``.
            Blinks inside its dilation do not count (moving objects' edges are not noise).
        """
        d = np.clip(np.nan_to_num(np.asarray(distance, np.float64), nan=1.0), 0.0, 1.0)
        raw = np.asarray(raw_mask, bool)
        final = raw if final_mask is None else np.asarray(final_mask, bool)
        if d.shape != self.shape or raw.shape != self.shape or final.shape != self.shape:
            raise ValueError(f"distance {d.shape}, raw_mask {raw.shape} and final_mask {final.shape} "
                             f"must all be {self.shape}")
        self.n_frames_ += 1
        n_lt = self.n_samples_for_moving_avgs
        rate_lt = 1.0 / min(self.n_frames_, n_lt)
        rate_st = 1.0 / min(self.n_frames_, n_lt // 4)
        # SuBSENSE flags a region unstable from the maps as they were before this frame
        unstable = ((self._r > UNSTABLE_REG_RDIST_MIN)
                    | (self._raw_lt - self._final_lt > UNSTABLE_REG_RATIO_MIN)
                    | (self._raw_st - self._final_st > UNSTABLE_REG_RATIO_MIN))
        self._unstable = unstable
        self._dmin_lt += rate_lt * (d - self._dmin_lt)
        self._dmin_st += rate_st * (d - self._dmin_st)
        self._raw_lt += rate_lt * (raw - self._raw_lt)
        self._raw_st += rate_st * (raw - self._raw_st)
        dmin_low = np.minimum(self._dmin_lt, self._dmin_st)
        dmin_high = np.maximum(np.maximum(self._dmin_lt, self._dmin_st), _EPS)
        # T(x): slower on (last) foreground, faster on background
        slower = self._last_final | ((dmin_low < UNSTABLE_REG_RATIO_MIN) & raw)
        t = self._t
        t += np.where(slower & (t < self.t_upper), T_INCR / (dmin_high * self._v), 0.0)
        t -= np.where(~slower & (t > self.t_lower), T_DECR * self._v / dmin_high, 0.0)
        np.clip(t, self.t_lower, self.t_upper, out=t)
        # v(x): up on blinks where the background wanders, down elsewhere (slowly under foreground)
        blink = (dmin_high > UNSTABLE_REG_RATIO_MIN) & self._blinks
        step_down = np.where(self._last_final, V_DECR / 4, np.where(unstable, V_DECR / 2, V_DECR))
        v = self._v
        v += np.where(blink, V_INCR, np.where(v > V_DECR, -step_down, 0.0))
        np.maximum(v, V_DECR, out=v)  # v starts above V_DECR, so only a decrement can cross it
        # R(x): towards (1 + 2 D_min)^2, at a pace set by v
        r = self._r
        grow = r < (1.0 + 2.0 * dmin_low) ** 2
        r += np.where(grow, R_VAR * (v - V_DECR), -R_VAR / v)
        np.maximum(r, 1.0, out=r)  # only a decrement can cross 1 (R starts at 1, v >= V_DECR)
        # blinks for the next frame: raw flips now or last frame, outside the dilated final foreground
        blink_now = raw ^ self._last_raw
        blinks = blink_now | self._last_blink
        self._last_blink = blink_now
        self._last_raw = raw.copy()
        if final.any() and self.blink_dilation > 0:
            near_fg = ndimage.binary_dilation(final, np.ones((3, 3), bool), iterations=self.blink_dilation)
            blinks &= ~near_fg
        self._blinks = blinks
        self._last_final = final.copy()
        self._final_lt += rate_lt * (final - self._final_lt)
        self._final_st += rate_st * (final - self._final_st)

    @property
    def threshold_factor(self) -> NDArray[np.float32]:
        """``R(x)``, the factor of a *distance* threshold, ``(H, W)`` float32, ``>= 1``."""
        return self._r.astype(np.float32)

    @property
    def score_threshold_factor(self) -> NDArray[np.float32]:
        """``R(x)**2``, the factor of a *squared*-distance threshold (the gmm score's), ``(H, W)`` float32."""
        return (self._r * self._r).astype(np.float32)

    @property
    def update_period(self) -> NDArray[np.float32]:
        """``T(x)`` in ``[t_lower, t_upper]``, ``(H, W)`` float32."""
        return self._t.astype(np.float32)

    @property
    def learning_rate(self) -> NDArray[np.float32]:
        """``1 / T(x)``, ``(H, W)`` float32."""
        return (1.0 / self._t).astype(np.float32)

    @property
    def variation(self) -> NDArray[np.float32]:
        """The blinking accumulator ``v(x) >= V_DECR``, ``(H, W)`` float32."""
        return self._v.astype(np.float32)

    @property
    def unstable(self) -> NDArray[np.bool_]:
        """SuBSENSE's unstable-region flag of the last update, ``(H, W)`` bool.

        ``R > 3``, or the raw mask's foreground rate exceeds the final mask's by more than 0.1
        (short- or long-term): post-processing keeps removing noise there. SuBSENSE then
        loosens its colour threshold and adds 2 to its descriptor threshold; here only ``v``'s
        decrement uses it, and it is exposed for such uses.
        """
        return self._unstable.copy()

    @property
    def mean_min_distance(self) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """Short- and long-term moving averages of the normalised minimal distance, ``(H, W)`` float32 each."""
        return self._dmin_st.astype(np.float32), self._dmin_lt.astype(np.float32)
