"""Stopped objects stay foreground; revealed background (ghosts) comes back in.

CDnet labels an object that stops (a parked car, a left bag) as foreground for as long as it
stays. A selective update (only background-classified pixels learn) keeps it; but the same
rule keeps a *ghost* forever: when an object that was part of the background image leaves,
the road it uncovers differs from the model, scores as foreground, and is never learnt.

Both look alike to the per-pixel model: a foreground blob whose colours do not change. They
differ at the blob's boundary. A real object has its own silhouette, so in the current frame
the colours just inside the boundary differ from those just outside; the background image
has no such step there (the road continues). A ghost is the reverse: in the current frame
the uncovered road continues into its surroundings (no step), while the background image
still holds the old object's silhouette. :class:`GhostDetector` measures that step in both
images and absorbs a blob that shows no step of its own for ``ghost_frames`` consecutive
frames (counted once its pixels have been still for ``stable_frames``); the caller then writes
the current frame into the model at the returned pixels.

The step at a boundary pixel is the colour distance between the local mean (``window`` x
``window``) of the foreground pixels and that of the background pixels around it, so a
texture averages out and only a change of colour across the boundary counts. A blob's step
is the mean over its boundary pixels. A blob is a ghost candidate when

``step(frame) < max(edge_ratio * step(background image), min_step)``

that is, when the current frame shows a clearly weaker boundary than the background image,
or none at all (a blob that blends into its surroundings in the current frame). Only pixels
whose colour has been stable (``stable_tolerance``) for ``stable_frames`` consecutive frames
count, so moving objects are never candidates, and neither is the plain interior of a mover
that crosses a ghost (it would otherwise join the ghost's blob and lend it its own boundary).

On the tests' textured road (texture standard deviation 25 grey levels), a stopped car's
boundary step is about 95 in the frame against 25 in the background image, a ghost's about
34 against 95. The test is conservative: an object whose colour is close to the road's gives
similar steps in both images and is never absorbed, ghost or not (it stays foreground).

This is the edge-based ghost test of change-detection practice (Cucchiara et al., Sakbot,
PAMI 2003; SuBSENSE's "fast edge-based absorption" of ghosts), reduced to one statistic.
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from bgsub.kernels import resolve_backend
from bgsub.kernels.ghost import detector_step, ghost_pixels

__all__ = ["GhostDetector", "boundary_step"]

logger = logging.getLogger(__name__)


def _as_image(image: NDArray) -> NDArray:
    image = np.asarray(image)
    return image[..., None] if image.ndim == 2 else image


def _as_float_image(image: NDArray) -> NDArray[np.float64]:
    return _as_image(np.asarray(image, dtype=np.float64))


def _window_counts(mask: NDArray[np.bool_], window: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Fractions of foreground and of background pixels in each pixel's ``window`` square."""
    n_in = ndimage.uniform_filter(mask.astype(np.float64), window, mode="nearest")
    n_out = ndimage.uniform_filter((~mask).astype(np.float64), window, mode="nearest")
    return n_in, n_out


def boundary_step(image: NDArray, mask: NDArray[np.bool_], *, window: int = 5,
                  counts: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None) -> NDArray[np.float32]:
    """Colour step across the mask's boundary, at each boundary pixel of the mask.

    Parameters
    ----------
    image : ndarray of shape (H, W, C) or (H, W)
    mask : ndarray of shape (H, W), bool
        Foreground.
    window : int
        Side of the square over which the inside and outside means are taken (odd).
    counts : (ndarray, ndarray) or None
        The mask's :func:`_window_counts`, when already computed for another image.

    Returns
    -------
    step : ndarray of shape (H, W), float32
        At a foreground pixel with a background pixel in its 3 x 3 neighbourhood: the
        Euclidean distance between the mean colour of the foreground pixels and that of the
        background pixels in its ``window`` x ``window`` square. 0 elsewhere.

    Examples
    --------
    >>> img = np.zeros((6, 6)); img[:, 3:] = 90.0
    >>> m = np.zeros((6, 6), bool); m[:, 3:] = True
    >>> boundary_step(img, m, window=3)[2].tolist()
    [0.0, 0.0, 0.0, 90.0, 0.0, 0.0]
    """
    img = _as_float_image(image)
    fg = np.asarray(mask, bool)
    bg = ~fg
    boundary = fg & ndimage.binary_dilation(bg, np.ones((3, 3), bool))
    step = np.zeros(fg.shape, np.float32)
    if not boundary.any():
        return step
    n_in, n_out = _window_counts(fg, window) if counts is None else counts
    sq = np.zeros(fg.shape)
    for c in range(img.shape[-1]):
        channel = img[..., c]
        mean_in = ndimage.uniform_filter(channel * fg, window, mode="nearest") / np.maximum(n_in, 1e-12)
        mean_out = ndimage.uniform_filter(channel * bg, window, mode="nearest") / np.maximum(n_out, 1e-12)
        sq += (mean_in - mean_out) ** 2
    step[boundary] = np.sqrt(sq[boundary])
    return step


def _ghost_blobs(frame: NDArray[np.float64], background: NDArray[np.float64], mask: NDArray[np.bool_],
                 stopped: NDArray[np.bool_], *, window: int, edge_ratio: float, min_step: float) -> NDArray[np.bool_]:
    """The ghost test of every stopped blob, on whole arrays (see :meth:`GhostDetector.ghost_candidates`)."""
    labels, n_blobs = ndimage.label(stopped, np.ones((3, 3), bool))
    if n_blobs == 0:
        return np.zeros(mask.shape, bool)
    counts = _window_counts(mask, window)
    step_frame = boundary_step(frame, mask, window=window, counts=counts)
    step_bg = boundary_step(background, mask, window=window, counts=counts)
    boundary = mask & ndimage.binary_dilation(~mask, np.ones((3, 3), bool))
    ids = np.arange(1, n_blobs + 1)
    on_boundary = np.where(boundary, labels, 0)
    n_boundary = np.asarray(ndimage.sum(np.ones(mask.shape), on_boundary, ids))
    mean_frame = np.asarray(ndimage.sum(step_frame, on_boundary, ids)) / np.maximum(n_boundary, 1)
    mean_bg = np.asarray(ndimage.sum(step_bg, on_boundary, ids)) / np.maximum(n_boundary, 1)
    # a blob with no boundary pixel (it fills the frame's foreground around it) cannot be judged: not a ghost
    is_ghost = (n_boundary > 0) & (mean_frame < np.maximum(edge_ratio * mean_bg, min_step))
    return np.concatenate([[False], is_ghost])[labels]


class GhostDetector:
    """Find foreground blobs that are revealed background, frame after frame (see the module docstring).

    Parameters
    ----------
    shape : (int, int)
        ``(H, W)``.
    ghost_frames : int
        Consecutive frames a blob must look like a ghost before it is absorbed (the whole blob at
        once, when its first pixel has been a candidate this long).
    edge_ratio : float
        A blob is a ghost candidate when its boundary step in the current frame is below this
        fraction of its step in the background image ...
    min_step : float
        ... or below this many grey levels (it blends into its surroundings).
    stable_tolerance : float
        Largest change of a pixel's colour since the previous frame (3 x 3 mean of the largest
        channel difference, grey levels) for it to count as stable ...
    stable_frames : int
        ... and consecutive stable frames before it counts as stopped. The interior of a plain moving
        object is stable from one frame to the next; over ``stable_frames`` frames it is not, so
        movers crossing or touching a ghost do not join its blob (and spoil its boundary test).
        A ghost is absorbed ``stable_frames + ghost_frames - 1`` frames after it appears.
    window : int
        Side of the square of :func:`boundary_step`.

    Attributes
    ----------
    ghost_count_ : ndarray of shape (H, W), int32
        Consecutive frames each pixel has been part of a ghost-like blob.
    stable_count_ : ndarray of shape (H, W), int32
        Consecutive frames each pixel's colour has been stable.
    last_frame_ : ndarray of shape (H, W, C) or (H, W), or None
        The previous frame (None before the first); the compiled scoring loop
        (:func:`bgsub.kernels.default_path.score_frames`) advances it and the counters in place.

    Examples
    --------
    >>> bg = np.zeros((8, 8)); bg[2:6, 2:6] = 120.0  # the background image still holds an object ...
    >>> frame = np.zeros((8, 8))                       # ... that has left
    >>> det = GhostDetector((8, 8), ghost_frames=3, stable_frames=2)  # the first frame has no previous one
    >>> [int(det.update(frame, bg, np.abs(frame - bg) > 20).sum()) for _ in range(5)]
    [0, 0, 0, 0, 16]
    """

    def __init__(
        self, shape: tuple[int, int], *, ghost_frames: int = 30, edge_ratio: float = 0.5, min_step: float = 10.0,
        stable_tolerance: float = 15.0, stable_frames: int = 10, window: int = 5,
    ) -> None:
        if ghost_frames < 1:
            raise ValueError(f"ghost_frames must be >= 1, got {ghost_frames}")
        if stable_frames < 1:
            raise ValueError(f"stable_frames must be >= 1, got {stable_frames}")
        if window < 3 or window % 2 == 0:
            raise ValueError(f"window must be odd and >= 3, got {window}")
        self.shape = (int(shape[0]), int(shape[1]))
        self.ghost_frames = int(ghost_frames)
        self.edge_ratio = float(edge_ratio)
        self.min_step = float(min_step)
        self.stable_tolerance = float(stable_tolerance)
        self.stable_frames = int(stable_frames)
        self.window = int(window)
        self.ghost_count_ = np.zeros(self.shape, np.int32)
        self.stable_count_ = np.zeros(self.shape, np.int32)
        self.last_frame_: NDArray | None = None

    def ghost_candidates(self, frame: NDArray, background: NDArray, mask: NDArray[np.bool_],
                         stopped: NDArray[np.bool_]) -> NDArray[np.bool_]:
        """Pixels of the stopped foreground blobs that look like revealed background in this frame.

        Parameters
        ----------
        frame, background : ndarray of shape (H, W, C) or (H, W)
        mask : ndarray of shape (H, W), bool
            The frame's foreground.
        stopped : ndarray of shape (H, W), bool
            Foreground pixels whose colour is stable.

        Returns
        -------
        ghost : ndarray of shape (H, W), bool
        """
        img, bg = _as_image(frame), _as_image(background)  # the reference converts to float64 once cropped
        mask, stopped = np.asarray(mask, bool), np.asarray(stopped, bool)
        if resolve_backend() == "numba":  # the same test at the stopped pixels only (bgsub.kernels.ghost)
            return ghost_pixels(img, bg, mask, stopped, window=self.window, edge_ratio=self.edge_ratio,
                                min_step=self.min_step)
        ghost = np.zeros(self.shape, bool)
        rows, cols = np.nonzero(stopped)
        if len(rows) == 0:
            return ghost
        # only the stopped blobs' surroundings matter: a margin of the window's half-side (and one more
        # for the boundary test) around them gives the same statistics as the whole frame
        margin = self.window // 2 + 2
        y0, y1 = max(rows.min() - margin, 0), min(rows.max() + margin + 1, self.shape[0])
        x0, x1 = max(cols.min() - margin, 0), min(cols.max() + margin + 1, self.shape[1])
        box = (slice(y0, y1), slice(x0, x1))
        ghost[box] = _ghost_blobs(_as_float_image(img[box]), _as_float_image(bg[box]), mask[box], stopped[box],
                                  window=self.window, edge_ratio=self.edge_ratio, min_step=self.min_step)
        return ghost

    def update(self, frame: NDArray, background: NDArray, mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
        """Feed one frame, in temporal order; return the pixels to absorb into the background now.

        Parameters
        ----------
        frame : ndarray of shape (H, W, C) or (H, W)
            On the 0-255 scale.
        background : ndarray of the frame's shape
            The model's current background image.
        mask : ndarray of shape (H, W), bool
            The frame's foreground (after post-processing).

        Returns
        -------
        absorb : ndarray of shape (H, W), bool
            Pixels that have been part of a ghost-like blob for ``ghost_frames`` consecutive
            frames. The caller writes the frame into the model there (and counts them as
            background); they are returned again each frame until they leave the mask.
        """
        img = _as_image(frame)  # in its own dtype: the arithmetic below is float64 where it matters
        bg = _as_image(background)
        mask = np.asarray(mask, bool)
        if img.shape[:2] != self.shape or bg.shape != img.shape or mask.shape != self.shape:
            raise ValueError(f"frame {img.shape}, background {bg.shape} and mask {mask.shape} "
                             f"do not match the detector's {self.shape}")
        first = self.last_frame_ is None  # the first frame has no previous one: nothing is stable yet
        if resolve_backend() == "numba":  # the same counts and decisions, at the stopped pixels only
            absorb = detector_step(img, self.last_frame_, bg, mask, self.stable_count_, self.ghost_count_,
                                   tolerance=self.stable_tolerance, stable_frames=self.stable_frames,
                                   window=self.window, edge_ratio=self.edge_ratio, min_step=self.min_step,
                                   ghost_frames=self.ghost_frames)
            self.last_frame_ = img.copy()
            return absorb
        if first:
            stable = np.zeros(self.shape, bool)
        else:
            diff = np.abs(np.subtract(img, self.last_frame_, dtype=np.float64))
            change = diff[..., 0].copy()
            for c in range(1, diff.shape[-1]):  # the channels' maximum, 5x faster than .max(axis=-1)
                np.maximum(change, diff[..., c], out=change)
            stable = ndimage.uniform_filter(change, 3, mode="nearest") <= self.stable_tolerance
        self.last_frame_ = img.copy()
        self.stable_count_ = np.where(stable, self.stable_count_ + 1, 0).astype(np.int32)
        stopped = mask & (self.stable_count_ >= self.stable_frames)
        ghost = self.ghost_candidates(img, bg, mask, stopped)
        self.ghost_count_ = np.where(ghost, self.ghost_count_ + 1, 0).astype(np.int32)
        ripe = self.ghost_count_ >= self.ghost_frames
        if not ripe.any():
            return ripe
        # the whole blob goes at once: its pixels joined it at different times (each had to be stable for
        # stable_frames first), and a ghost absorbed pixel by pixel lingers as shrinking false positives
        labels, _ = ndimage.label(ghost, np.ones((3, 3), bool))
        ripe_ids = np.unique(labels[ripe])
        return np.isin(labels, ripe_ids[ripe_ids > 0])
