"""Progress lines of a long step (frames done / total, frames per second, time left), through logging.

Rule scripts send ``logging`` to the rule's log file (:func:`bgsub.pipeline.run_step`), so a
fit or score job that runs for hours shows where it is with ``tail -f results/logs/...``.
"""

from __future__ import annotations

import logging
import time

__all__ = ["Progress"]


class Progress:
    """Log ``what: done/total frames, fps, ETA`` at most every ``interval`` seconds, and at the end.

    Parameters
    ----------
    logger : logging.Logger
    what : str
        The start of each line, e.g. ``"highway/gmm_k3: scoring"``.
    total : int
        Frames to do.
    interval : float
        Seconds between lines (the first block and the last frame always get one).

    Examples
    --------
    >>> progress = Progress(logging.getLogger("demo"), "scoring", total=10)
    >>> progress.update(4); progress.update(6)
    >>> progress.done
    10
    """

    def __init__(self, logger: logging.Logger, what: str, total: int, *, interval: float = 5.0) -> None:
        self.logger, self.what, self.total, self.interval = logger, what, total, interval
        self.done = 0
        self.start = time.perf_counter()
        self._last: float | None = None

    def update(self, frames: int) -> None:
        """Count ``frames`` more frames done; log a line when one is due."""
        self.done += frames
        now = time.perf_counter()
        if self._last is not None and now - self._last < self.interval and self.done < self.total:
            return
        self._last = now
        elapsed = now - self.start
        fps = self.done / elapsed if elapsed > 0 else float("inf")
        left = (self.total - self.done) / fps if fps > 0 else float("inf")
        self.logger.info("%s: %d/%d frames, %.1f fps, %s elapsed, ETA %s", self.what, self.done, self.total, fps,
                         _clock(elapsed), _clock(left))


def _clock(seconds: float) -> str:
    """``h:mm:ss`` (``?`` when unknown)."""
    if seconds != seconds or seconds == float("inf"):
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
