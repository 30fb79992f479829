"""Frame-averaging baselines: the mean and the median of the training frames."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from bgsub.base import BackgroundMethod, ResourceCost

__all__ = ["MeanBackground", "MedianBackground", "euclidean_distance"]

logger = logging.getLogger(__name__)


def euclidean_distance(frames: NDArray, background: NDArray) -> NDArray[np.float32]:
    """Per-pixel Euclidean colour distance of each frame to a background image.

    Parameters
    ----------
    frames : ndarray of shape (T, H, W, C)
    background : ndarray of shape (H, W, C)

    Returns
    -------
    distance : ndarray of shape (T, H, W), float32
        On the 0-255 scale; at most ``255 * sqrt(C)``.

    Examples
    --------
    >>> frames = np.zeros((1, 1, 1, 3), np.uint8); bg = np.full((1, 1, 3), 3.0, np.float32)
    >>> round(float(euclidean_distance(frames, bg)[0, 0, 0]), 4)  # sqrt(3 * 3**2)
    5.1962
    """
    diff = np.asarray(frames, np.float32) - np.asarray(background, np.float32)
    return np.sqrt(np.einsum("thwc,thwc->thw", diff, diff, dtype=np.float32))


class _ImageBackground(BackgroundMethod):
    """A background image; the score of a pixel is its colour distance to it."""

    default_threshold: ClassVar[float] = 30.0
    default_sweep: ClassVar[tuple[float, float, int]] = (0.0, 150.0, 151)

    def __init__(self) -> None:
        self.background_: NDArray[np.float32] | None = None

    def _estimate(self, frames: NDArray) -> NDArray[np.float32]:
        raise NotImplementedError

    def fit(self, frames: NDArray) -> _ImageBackground:
        frames = np.asarray(frames)
        if frames.ndim != 4 or len(frames) == 0:
            raise ValueError(f"frames must be (T, H, W, C) with T >= 1, got shape {frames.shape}")
        self.background_ = self._estimate(frames)
        return self

    def foreground_scores(self, frames: NDArray) -> NDArray[np.float32]:
        if self.background_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted")
        return euclidean_distance(frames, self.background_)

    def background_image(self) -> NDArray[np.uint8] | None:
        if self.background_ is None:
            return None
        return np.clip(np.rint(self.background_), 0, 255).astype(np.uint8)

    def get_state(self) -> dict[str, NDArray]:
        return {"background_": self.background_}

    def set_state(self, state: dict[str, NDArray]) -> _ImageBackground:
        self.background_ = np.asarray(state["background_"], np.float32)
        return self


class MeanBackground(_ImageBackground):
    """Background = per-pixel mean of the training frames (float32, summed in float64)."""

    kind = "mean"

    @classmethod
    def resource_cost(cls, n_components: int, n_channels: int) -> ResourceCost:
        """A background image; the fit's float64 sums need twice the training frames."""
        return replace(super().resource_cost(n_components, n_channels), fit_memory=2.0)

    def _estimate(self, frames: NDArray) -> NDArray[np.float32]:
        return frames.mean(axis=0, dtype=np.float64).astype(np.float32)


class MedianBackground(_ImageBackground):
    """Background = per-pixel, per-channel median of the training frames.

    Computed a band of rows at a time so the sort never copies the whole clip.
    """

    kind = "median"

    def _estimate(self, frames: NDArray) -> NDArray[np.float32]:
        t, h, w, c = frames.shape
        out = np.empty((h, w, c), np.float32)
        rows = max(1, (1 << 24) // max(1, t * w * c))
        for top in range(0, h, rows):
            out[top : top + rows] = np.median(frames[:, top : top + rows], axis=0)
        return out
