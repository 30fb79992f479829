"""What one scoring run counts: the threshold sweep and the per-frame confusion counts, and ``counts.npz``.

:func:`bgsub.pipeline.score` (a whole frame) and :func:`bgsub.tiling.score_tile` (a band of rows)
both score blocks of test frames and tally the same things; :class:`ScoreTally` is that tally, and
:meth:`ScoreTally.save` / :meth:`ScoreTally.load` write and read its ``counts.npz``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from bgsub.io import atomic_write
from bgsub.metrics import ThresholdSweep, confusion_counts

__all__ = ["ScoreTally"]


class ScoreTally:
    """Sweep histograms and per-frame counts of the scored frames of one run.

    Parameters
    ----------
    thresholds : ndarray of shape (n,)
        Increasing sweep thresholds.
    threshold : float
        The run's threshold; masks are ``scores > threshold`` (compared in float32).
    scored : iterable of int
        Frame numbers that are counted (the others are scored and masked only).
    """

    def __init__(self, thresholds: NDArray, threshold: float, scored: Iterable[int]) -> None:
        self.sweep = ThresholdSweep(thresholds)
        self.threshold = np.float32(threshold)
        self.scored = set(scored)
        self.frames: list[tuple[int, int, int, int, int]] = []

    def add(
        self, numbers: Iterable[int], scores: NDArray, masks: NDArray, labels_of: Callable[[int], NDArray],
        roi: NDArray | None,
    ) -> None:
        """Count a block: ``scores`` and ``masks`` ``(T, H, W)`` of frames ``numbers``; ``labels_of(n)``
        gives frame ``n``'s ground-truth labels (only called for scored frames). ``scores`` may be None
        when no frame of the tally is scored (:func:`bgsub.scoring.score_blocks` with ``need_scores=False``)."""
        for i, number in enumerate(numbers):
            if number in self.scored:
                labels = labels_of(number)
                self.sweep.update(scores[i], labels, roi)
                self.frames.append((number, *confusion_counts(masks[i], labels, roi)))

    def frame_counts(self) -> NDArray[np.int64]:
        """Rows ``(number, tp, fp, fn, tn)`` of the scored frames, in scoring order."""
        return np.array(self.frames, np.int64).reshape(-1, 5)

    def save(self, path: Path, rows: tuple[int, int] | None = None) -> None:
        """Write ``counts.npz`` atomically (``rows`` is added for a band of a tiled run)."""
        extra = {} if rows is None else {"rows": np.array(rows, np.int64)}
        path = Path(path)
        with atomic_write(path) as tmp, open(tmp, "wb") as fh:
            np.savez(
                fh, thresholds=self.sweep.thresholds, positive_hist=self.sweep.positive_hist,
                negative_hist=self.sweep.negative_hist, threshold=self.threshold,
                frames=self.frame_counts(), **extra,
            )

    @classmethod
    def load(cls, path: Path) -> tuple[ScoreTally, tuple[int, int] | None]:
        """Read a ``counts.npz``; returns the tally and its ``rows`` (None for a whole frame)."""
        with np.load(path, allow_pickle=False) as data:
            frames = data["frames"]
            tally = cls(data["thresholds"], float(data["threshold"]), frames[:, 0].tolist())
            tally.sweep.positive_hist[:] = data["positive_hist"]
            tally.sweep.negative_hist[:] = data["negative_hist"]
            tally.frames = [tuple(int(v) for v in row) for row in frames]  # type: ignore[misc]
            rows = tuple(data["rows"].tolist()) if "rows" in data else None
        return tally, rows  # type: ignore[return-value]

    def merge_band(self, other: ScoreTally) -> None:
        """Add the counts of another band of rows of the same frames (a tiled run's strips)."""
        mine, theirs = self.frame_counts(), other.frame_counts()
        if self.threshold != other.threshold or not np.array_equal(mine[:, 0], theirs[:, 0]):
            raise ValueError("strips were scored with other thresholds or frames")
        self.sweep.merge(other.sweep)
        mine[:, 1:] += theirs[:, 1:]
        self.frames = [tuple(int(v) for v in row) for row in mine]  # type: ignore[misc]
