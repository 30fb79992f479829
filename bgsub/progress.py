"""Progress of a long loop over frames: a live bar on a terminal, a few plain lines in a log.

The command line shows it on stderr; the workflow's fit and score steps send it to their rule's
log through ``logging`` (``logger=``), so a job that runs for hours shows where it is with
``tail -f results/logs/...``. On a terminal (``file.isatty()``) the bar is tqdm's: frames done,
frames per second and the time left. Anywhere else (a log file, a pipe, CI) a bar's carriage
returns would pile up into one huge line, so a plain line is written at every tenth of the work
and at most once every ``min_interval`` seconds otherwise, plus a last line.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import IO, Any

__all__ = ["Progress", "format_duration"]


def format_duration(seconds: float) -> str:
    """``H:MM:SS`` (or ``M:SS`` under an hour) of a number of seconds.

    Examples
    --------
    >>> format_duration(75.4), format_duration(3725)
    ('1:15', '1:02:05')
    """
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Count frames done out of ``total`` and show it on ``file`` (default: stderr).

    Parameters
    ----------
    total : int
        Frames to do.
    desc : str
        What is being done (``"segment"``).
    file : file object, optional
        Where to write; stderr by default.
    logger : logging.Logger, optional
        Write the plain lines as ``logger.info`` records instead (never a bar).
    enabled : bool
        False = show nothing (``--quiet``).
    min_interval : float
        Without a terminal, the longest time in seconds between two lines.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> with Progress(20, "segment", file=out, clock=iter(range(0, 100, 2)).__next__) as bar:
    ...     for _ in range(4):
    ...         bar.update(5)
    >>> print(out.getvalue().strip())
    bgsub: segment 5/20 frames (25 %), 2.5 fps, 0:06 left
    bgsub: segment 10/20 frames (50 %), 2.5 fps, 0:04 left
    bgsub: segment 15/20 frames (75 %), 2.5 fps, 0:02 left
    bgsub: segment 20/20 frames (100 %), 2.5 fps in 0:08
    """

    def __init__(
        self, total: int, desc: str, *, file: IO[str] | None = None, logger: logging.Logger | None = None,
        enabled: bool = True, min_interval: float = 60.0, clock: Any = time.monotonic,
    ) -> None:
        self.total = int(total)
        self.desc = desc
        self.file = sys.stderr if file is None else file
        self.logger = logger
        self.enabled = enabled and self.total > 0
        self.min_interval = min_interval
        self.clock = clock
        self.done = 0
        self._bar = None
        self._start = self.clock()
        self._last_line = self._start
        self._next_tenth = 1
        if self.enabled and logger is None and _isatty(self.file):
            from tqdm import tqdm

            # a terminal of unknown size (0x0, e.g. a bare pty) would get an empty bar: assume 100x40
            width = {"dynamic_ncols": True} if _columns(self.file) > 0 else {"ncols": 100, "nrows": 40}
            self._bar = tqdm(
                total=self.total, desc=f"bgsub: {desc}", file=self.file, unit=" frames", **width,
                bar_format="{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} frames "
                "[{elapsed}<{remaining}, {rate_noinv_fmt}]",
                mininterval=0.5,
            )

    def update(self, n: int) -> None:
        """Count ``n`` more frames as done."""
        self.done += n
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(n)
            return
        if self.done >= self.total:
            return  # the last line is written by close()
        now = self.clock()
        tenth = self.done * 10 // self.total
        if tenth >= self._next_tenth or now - self._last_line >= self.min_interval:
            self._next_tenth = tenth + 1
            self._last_line = now
            elapsed = now - self._start
            fps = self.done / elapsed if elapsed > 0 else float("nan")
            left = (self.total - self.done) / fps if fps > 0 else float("nan")
            self._write(
                f"{self.done}/{self.total} frames ({100 * self.done // self.total} %), {fps:.1f} fps, "
                f"{format_duration(left) if left == left else '?'} left"
            )

    def close(self) -> None:
        """Finish: close the bar, or write the last line (when all frames were done)."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.done >= self.total:
            elapsed = self.clock() - self._start
            fps = self.done / elapsed if elapsed > 0 else float("nan")
            self._write(f"{self.done}/{self.total} frames (100 %), {fps:.1f} fps in {format_duration(elapsed)}")
        self.enabled = False

    def _write(self, text: str) -> None:
        if self.logger is not None:
            self.logger.info("%s %s", self.desc, text)
            return
        self.file.write(f"bgsub: {self.desc} {text}\n")
        self.file.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None and self._bar is None:
            self.enabled = False  # no "100 %" line after a failure
        self.close()


def _isatty(file: IO[str]) -> bool:
    try:
        return bool(file.isatty())
    except (AttributeError, ValueError):
        return False


def _columns(file: IO[str]) -> int:
    try:
        return os.get_terminal_size(file.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 0
