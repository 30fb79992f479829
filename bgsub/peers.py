"""OpenCV's background subtractors (MOG2 and KNN) as peers behind the common interface.

They are here for comparison only, run at OpenCV's defaults: learning on the
training frames, then running on (and still learning) through the test frames.
Their scores are their masks as 0/1 float32: OpenCV's foreground value 255 is
1, its shadow value 127 and background 0 are 0, so the default threshold 0.5
gives OpenCV's own mask with shadows as background (the CDnet rule).

State. OpenCV cannot export or import a subtractor's model, so the state of a
fitted peer is **the training frames it was fitted on** (``train_frames_``,
``(T, H, W, C)`` uint8); :meth:`set_state` replays them into a fresh subtractor,
which gives the model :meth:`fit` built (MOG2 is deterministic; KNN draws from
OpenCV's random number generator, which is seeded first). The cost is
disk and time: a model file holds ``T * H * W * C`` bytes (469 frames of
320x240 RGB, highway's training frames: 108 MB) and loading it replays the
frames (OpenCV runs at several hundred frames per second at 320x240).

OpenCV is an optional dependency (``pip install -e '.[peers]'``); importing
this module without it raises :class:`ModuleNotFoundError` for ``cv2``, which
:func:`bgsub.config.expand_runs` turns into one notice and skipped runs.
"""

from __future__ import annotations

import logging
from numbers import Integral, Real
from typing import Any, ClassVar

import cv2
import numpy as np
from numpy.typing import NDArray

from bgsub.base import BackgroundMethod
from bgsub.params import BOOLEAN, Interval

__all__ = ["OpenCVMOG2Method", "OpenCVKNNMethod", "OPENCV_FOREGROUND", "OPENCV_SHADOW"]

logger = logging.getLogger(__name__)

OPENCV_FOREGROUND = 255  # OpenCV's mask value of a foreground pixel
OPENCV_SHADOW = 127  # OpenCV's mask value of a shadow pixel (counted as background)


def _to_opencv(frame: NDArray) -> NDArray[np.uint8]:
    """One frame ``(H, W, C)`` RGB on the 0-255 scale as OpenCV wants it: uint8, BGR or ``(H, W)`` gray."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        frame = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
    if frame.shape[-1] == 1:
        return np.ascontiguousarray(frame[..., 0])
    return np.ascontiguousarray(frame[..., ::-1])


def _check_frames(frames: NDArray) -> NDArray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] not in (1, 3) or len(frames) == 0:
        raise ValueError(f"frames must be (T, H, W, C) with T >= 1 and C in (1, 3), got shape {frames.shape}")
    return frames


class _OpenCVPeer(BackgroundMethod):
    """An OpenCV ``BackgroundSubtractor`` behind :class:`~bgsub.base.BackgroundMethod`.

    Parameters
    ----------
    history : int
        OpenCV's ``history`` (frames the model remembers).
    detect_shadows : bool
        OpenCV's ``detectShadows``; shadows are scored 0 either way.
    """

    adaptive: ClassVar[bool] = True
    default_threshold: ClassVar[float] = 0.5
    default_sweep: ClassVar[tuple[float, float, int]] = (0.0, 1.0, 2)
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "history": [Interval(Integral, 1, None)],
        "detect_shadows": [BOOLEAN],
        "var_threshold": [Interval(Real, None, None)],
        "dist2_threshold": [Interval(Real, None, None)],
        "random_state": [Interval(Integral, None, None)],
    }

    def __init__(self, history: int = 500, detect_shadows: bool = True) -> None:
        self.history = int(history)
        self.detect_shadows = bool(detect_shadows)
        self.train_frames_: NDArray[np.uint8] | None = None
        self._subtractor: Any = None

    def _create(self) -> Any:
        """A fresh OpenCV subtractor (called before the training frames are replayed)."""
        raise NotImplementedError

    def _replay(self, frames: NDArray) -> None:
        """A fresh subtractor that has learnt ``frames`` in order."""
        self._subtractor = self._create()
        for frame in frames:
            self._subtractor.apply(_to_opencv(frame))

    def fit(self, frames: NDArray) -> _OpenCVPeer:
        """Learn the training frames ``(T, H, W, C)`` in order, with OpenCV's default learning rate."""
        frames = _check_frames(frames)
        if frames.dtype != np.uint8:
            frames = np.clip(np.rint(frames), 0, 255).astype(np.uint8)
        self.train_frames_ = np.ascontiguousarray(frames)
        self._replay(self.train_frames_)
        return self

    def foreground_scores(self, frames: NDArray) -> NDArray[np.float32]:
        """OpenCV's masks of ``frames (T, H, W, C)`` as ``(T, H, W)`` float32 0/1 (shadows 0); keeps learning."""
        if self._subtractor is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted")
        frames = _check_frames(frames)
        scores = np.empty(frames.shape[:3], np.float32)
        for i, frame in enumerate(frames):
            scores[i] = self._subtractor.apply(_to_opencv(frame)) == OPENCV_FOREGROUND
        return scores

    def background_image(self) -> NDArray[np.uint8] | None:
        """OpenCV's background image ``(H, W, C)`` uint8 (RGB), or None before fitting."""
        if self._subtractor is None:
            return None
        image = self._subtractor.getBackgroundImage()
        if image is None:
            return None
        return np.ascontiguousarray(image[..., ::-1]) if image.ndim == 3 else image[..., None]

    def get_state(self) -> dict[str, NDArray]:
        """The training frames ``(T, H, W, C)`` uint8: OpenCV cannot export its model, so this is replayed."""
        if self.train_frames_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted")
        return {"train_frames_": self.train_frames_}

    def set_state(self, state: dict[str, NDArray]) -> _OpenCVPeer:
        """Rebuild the model by replaying the stored training frames into a fresh subtractor."""
        self.train_frames_ = np.asarray(state["train_frames_"], np.uint8)
        self._replay(self.train_frames_)
        return self


class OpenCVMOG2Method(_OpenCVPeer):
    """OpenCV's ``createBackgroundSubtractorMOG2`` (Zivkovic 2004/2006) at its defaults.

    Parameters
    ----------
    history : int, default 500
    var_threshold : float, default 16
        OpenCV's ``varThreshold`` (squared Mahalanobis distance).
    detect_shadows : bool, default True

    Examples
    --------
    >>> frames = np.zeros((3, 4, 5, 3), np.uint8)
    >>> method = OpenCVMOG2Method().fit(frames)
    >>> method.foreground_scores(frames + 200).shape
    (3, 4, 5)
    """

    kind = "opencv_mog2"

    def __init__(self, history: int = 500, var_threshold: float = 16.0, detect_shadows: bool = True) -> None:
        super().__init__(history, detect_shadows)
        self.var_threshold = float(var_threshold)

    def _create(self) -> Any:
        return cv2.createBackgroundSubtractorMOG2(self.history, self.var_threshold, self.detect_shadows)


class OpenCVKNNMethod(_OpenCVPeer):
    """OpenCV's ``createBackgroundSubtractorKNN`` (Zivkovic & van der Heijden 2006) at its defaults.

    KNN picks which stored samples to replace with OpenCV's global random number
    generator, so two runs on the same frames differ unless it is seeded. This
    wrapper seeds it (``cv2.setRNGSeed(random_state)``, in the calling thread)
    before learning the training frames; the results then do not depend on the
    number of OpenCV threads. Another OpenCV user of that generator in the same
    thread between fitting and scoring would change the draws.

    Parameters
    ----------
    history : int, default 500
    dist2_threshold : float, default 400
        OpenCV's ``dist2Threshold`` (squared distance to a sample).
    detect_shadows : bool, default True
    random_state : int, default 0
        Seed of OpenCV's random number generator.
    """

    kind = "opencv_knn"

    def __init__(self, history: int = 500, dist2_threshold: float = 400.0, detect_shadows: bool = True,
                 random_state: int = 0) -> None:
        super().__init__(history, detect_shadows)
        self.dist2_threshold = float(dist2_threshold)
        self.random_state = int(random_state)

    def _create(self) -> Any:
        cv2.setRNGSeed(self.random_state)
        return cv2.createBackgroundSubtractorKNN(self.history, self.dist2_threshold, self.detect_shadows)
