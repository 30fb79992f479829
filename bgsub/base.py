"""The one interface every background-subtraction method implements.

A method is fitted on training frames and turns test frames into a foreground
score map, higher = more likely foreground. Thresholds are applied elsewhere
(:func:`bgsub.scoring.score_blocks`, after the filters of :mod:`bgsub.postprocess`),
so every method is swept and scored the same way.

A method's settings are its ``__init__`` parameters (:class:`bgsub.params.Parametrised`:
``get_params`` from the signature, checks from ``_parameter_constraints``), and it declares
what it costs to run (:meth:`BackgroundMethod.resource_cost`), so that no caller branches on
a method's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from bgsub.params import Parametrised

__all__ = ["BackgroundMethod", "ResourceCost", "mixture_cost"]

# Measured costs, one core (Snakemake benchmark files of a tiles: 4 run on a 240x320 synthetic scene, 100 train and
# 100 test frames, on this project's 2-core machine; README "Scale-out"). Seconds per pixel x frame.
_MIXTURE_FIT_PER_COMPONENT = 1.7e-6  # EM (kmeans init, full covariance), per component
_MIXTURE_SCORE_PER_COMPONENT = 1.2e-6  # Mahalanobis distances, per component
_IMAGE_PER_PIXEL_FRAME = 3e-8  # mean/median fit and score, beyond reading the frames


@dataclass(frozen=True)
class ResourceCost:
    """What a method costs per pixel, for the cluster resource estimates (:func:`bgsub.tiling.estimate_resources`).

    Attributes
    ----------
    state_bytes : int
        Bytes of fitted state per pixel.
    fit_memory : float
        Working memory of the fit, in multiples of the (uint8) training frames.
    fit_seconds, score_seconds : float
        Seconds per pixel and frame on one core, beyond reading the frames.
    """

    state_bytes: int
    fit_memory: float
    fit_seconds: float
    score_seconds: float


def mixture_cost(n_components: int, n_channels: int) -> ResourceCost:
    """Cost of a per-pixel mixture of ``n_components`` components (batch or online): float32 weight,
    variance terms and means per component; fit and score time grow with the components."""
    return ResourceCost(
        state_bytes=4 * n_channels * (n_components * (2 + n_channels)),
        fit_memory=9.0,  # float64 EM chunks
        fit_seconds=_MIXTURE_FIT_PER_COMPONENT * n_components,
        score_seconds=_MIXTURE_SCORE_PER_COMPONENT * n_components,
    )


class BackgroundMethod(Parametrised):
    """Base class of the methods in :mod:`bgsub.methods`.

    Subclasses set ``kind`` (the registry name), take their settings as
    keyword arguments in ``__init__`` (each stored as an attribute of the same
    name, declared in ``_parameter_constraints``) and implement :meth:`fit`,
    :meth:`foreground_scores`, :meth:`get_state` and :meth:`set_state`.

    Attributes
    ----------
    kind : str
        Name of the method kind in the registry.
    adaptive : bool
        True when :meth:`foreground_scores` keeps learning from the frames it
        scores (frames must then be given in temporal order, once).
    default_threshold : float
        Threshold on the scores used when the config gives none, in the kind's units.
    default_sweep : tuple of (float, float, int)
        ``(start, stop, num)`` of the threshold sweep used when the config gives none.
    """

    kind: ClassVar[str] = ""
    adaptive: ClassVar[bool] = False
    default_threshold: ClassVar[float] = 0.5
    default_sweep: ClassVar[tuple[float, float, int]] = (0.0, 1.0, 2)

    @classmethod
    def resource_cost(cls, n_components: int, n_channels: int) -> ResourceCost:
        """What fitting and scoring cost per pixel (default: a background image, as mean and median).

        Parameters
        ----------
        n_components : int
            Components per pixel (1 for methods without).
        n_channels : int
        """
        return ResourceCost(
            state_bytes=4 * n_channels, fit_memory=9.0, fit_seconds=_IMAGE_PER_PIXEL_FRAME,
            score_seconds=_IMAGE_PER_PIXEL_FRAME,
        )

    def fit(self, frames: NDArray) -> BackgroundMethod:
        """Fit the background model.

        Parameters
        ----------
        frames : ndarray of shape (T, H, W, C)
            Training frames, uint8 or float on the 0-255 scale.

        Returns
        -------
        self
        """
        raise NotImplementedError

    def foreground_scores(self, frames: NDArray) -> NDArray[np.float32]:
        """Score test frames.

        Parameters
        ----------
        frames : ndarray of shape (T, H, W, C)
            Test frames, uint8 or float on the 0-255 scale.

        Returns
        -------
        scores : ndarray of shape (T, H, W), float32
            Higher = more likely foreground, in the method's own units.
        """
        raise NotImplementedError

    def background_image(self) -> NDArray[np.uint8] | None:
        """Return the background image ``(H, W, C)`` uint8, or None if the method has none."""
        return None

    def get_state(self) -> dict[str, NDArray]:
        """Return the fitted state as plain arrays (saved with ``allow_pickle=False``)."""
        raise NotImplementedError

    def set_state(self, state: dict[str, NDArray]) -> BackgroundMethod:
        """Restore a state returned by :meth:`get_state`; return self."""
        raise NotImplementedError
