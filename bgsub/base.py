"""The one interface every background-subtraction method implements.

A method is fitted on training frames and turns test frames into a foreground
score map, higher = more likely foreground. Thresholds are applied elsewhere
(:mod:`bgsub.subtract`), so every method is swept and scored the same way.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

__all__ = ["BackgroundMethod"]


class BackgroundMethod:
    """Base class of the methods in :mod:`bgsub.methods`.

    Subclasses set ``kind`` (the registry name), take their settings as
    keyword arguments in ``__init__`` and implement :meth:`fit`,
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

    def get_params(self) -> dict[str, Any]:
        """Return the constructor settings (JSON-serialisable)."""
        raise NotImplementedError

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
