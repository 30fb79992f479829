"""Reading frames and labels from disk, and writing images atomically.

Frames come out as ``(H, W, C)`` uint8 arrays: 16-bit images are scaled to
8 bits, an alpha channel is dropped and grayscale images keep ``C = 1``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import imageio.v3 as iio
import numpy as np
from numpy.typing import NDArray

from bgsub.errors import InputError

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "list_images",
    "decode_image",
    "to_uint8_frame",
    "read_image",
    "read_labels",
    "image_size",
    "iter_video",
    "video_length_hint",
    "conversion_note",
    "write_image",
    "atomic_path",
    "atomic_write",
    "replace_file",
    "replace_folder",
    "write_mask",
    "write_json",
    "write_csv",
    "MASK_PNG_LEVEL",
    "VideoWriter",
]

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".gif", ".mpg", ".mpeg", ".m4v")


def _reason(exc: BaseException) -> str:
    """``Type: first line of the message`` of an exception, for one-line errors."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0].strip()}" if lines else type(exc).__name__


def list_images(folder: Path) -> list[Path]:
    """Return the image files of ``folder`` sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def to_uint8_frame(image: NDArray, source: str | Path) -> NDArray[np.uint8]:
    """Normalise a decoded image to ``(H, W, C)`` uint8.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, C)
        Decoded pixels, uint8, uint16 or float on the 0-255 scale.
    source : str or Path
        Where the image came from, for error messages.
    """
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 2, 3, 4) or image.shape[0] == 0 or image.shape[1] == 0:
        raise InputError(f"{source}: not an image (decoded shape {image.shape})")
    if image.shape[2] in (2, 4):
        image = image[..., :-1]  # drop alpha
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype == bool:
        image = image.astype(np.uint8) * 255
    elif image.dtype != np.uint8:
        if not np.all(np.isfinite(image)):
            raise InputError(f"{source}: image has non-finite values")
        image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image)


def conversion_note(image: NDArray) -> str | None:
    """Say what :func:`to_uint8_frame` changes in a decoded image (for the log), or None.

    Examples
    --------
    >>> conversion_note(np.zeros((2, 2, 4), np.uint8))
    'alpha channel dropped'
    >>> conversion_note(np.zeros((2, 2), np.uint16))
    '16-bit values scaled to 8 bits'
    >>> conversion_note(np.zeros((2, 2, 3), np.uint8)) is None
    True
    """
    notes = []
    if image.ndim == 3 and image.shape[2] in (2, 4):
        notes.append("alpha channel dropped")
    if image.dtype == np.uint16:
        notes.append("16-bit values scaled to 8 bits")
    return ", ".join(notes) or None


def decode_image(path: Path) -> NDArray:
    """Decode one image file as stored (any dtype and channel count); see :func:`read_image`."""
    try:
        image = iio.imread(path)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except Exception as exc:  # imageio raises many kinds on corrupt data
        raise InputError(f"{path}: cannot read image ({_reason(exc)})") from None
    if image.ndim == 4:  # a multi-page file read as one image
        image = image[0]
    return image


def read_image(path: Path) -> NDArray[np.uint8]:
    """Read one image file as ``(H, W, C)`` uint8."""
    return to_uint8_frame(decode_image(path), path)


def read_labels(path: Path) -> NDArray[np.uint8]:
    """Read a label image (CDnet ground truth or ROI) as ``(H, W)`` uint8.

    Palette images are decoded through their palette (imageio does this), and
    the first channel of an RGB image is taken, since CDnet label images have
    R = G = B.
    """
    image = read_image(path)
    return image[..., 0].copy()


def image_size(path: Path) -> tuple[int, int]:
    """Return ``(height, width)`` of an image file without decoding its pixels."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            width, height = im.size
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"{path}: cannot read image ({_reason(exc)})") from None
    return height, width


def iter_video(path: Path) -> Iterator[NDArray[np.uint8]]:
    """Yield the frames of a video file or animated GIF as ``(H, W, C)`` uint8.

    Video files are decoded by imageio-ffmpeg's ffmpeg to RGB; GIFs by Pillow.
    Closing the generator stops the decoder.

    Raises
    ------
    InputError
        When the file cannot be opened or decoding fails part-way.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    frames = None
    try:
        if path.suffix.lower() == ".gif":
            frames = iio.imiter(path)
            for i, frame in enumerate(frames):
                if i == 0 and (note := conversion_note(frame)):
                    logger.info("%s: %s", path, note)
                yield to_uint8_frame(frame, path)
        else:
            import imageio_ffmpeg

            frames = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
            width, height = next(frames)["size"]
            for raw in frames:
                yield np.frombuffer(raw, np.uint8).reshape(height, width, 3)
    except InputError:
        raise
    except (Exception, StopIteration) as exc:
        raise InputError(f"{path}: cannot read video ({_reason(exc)})") from None
    finally:
        if frames is not None:  # stop the decoder when the caller stops early
            frames.close()


def video_length_hint(path: Path) -> int | None:
    """Frame count a video file's header promises (duration x frame rate), or None when unknown.

    Used to detect truncated or corrupt files, which ffmpeg decodes only in part
    without failing. GIFs have no such header (None).
    """
    path = Path(path)
    if path.suffix.lower() == ".gif":
        return None
    import imageio_ffmpeg

    reader = None
    try:
        reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
        meta = next(reader)
    except (Exception, StopIteration) as exc:
        raise InputError(f"{path}: cannot read video ({_reason(exc)})") from None
    finally:
        if reader is not None:
            reader.close()
    duration, fps = meta.get("duration"), meta.get("fps")
    if not duration or not fps or not np.isfinite(duration * fps):
        return None
    return int(round(duration * fps))


_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_path(path: Path) -> Path:
    """Return a temporary path in the folder of ``path``, to be renamed onto it when complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; finished files get the usual permissions
    return Path(tmp)


def _fsync_path(path: Path, *, directory: bool = False) -> None:
    """Flush ``path``'s data (a file's, or a folder's entries) to the disk; folders where the OS allows it."""
    try:
        fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    except OSError:
        if directory:
            return  # a folder that cannot be opened (e.g. on Windows) is not synced
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:  # some file systems refuse fsync on folders; a file's fsync must work
            raise
    finally:
        os.close(fd)


def replace_file(tmp: Path, path: Path) -> None:
    """Make a finished temporary file ``tmp`` durable, rename it onto ``path`` and sync the folder.

    ``tmp`` must be closed (its writer flushed it). Its data reach the disk before the rename, so
    after a crash ``path`` is either the old file or the whole new one, never a truncated one.
    """
    _fsync_path(Path(tmp))
    os.replace(tmp, path)
    _fsync_path(Path(path).parent, directory=True)


def replace_folder(tmp: Path, folder: Path) -> None:
    """Put a finished temporary folder ``tmp`` in place of ``folder`` (which may exist) and sync the parent.

    An existing ``folder`` is first renamed aside and removed only once ``tmp`` stands in its place,
    so a failure never leaves neither. The files inside ``tmp`` are synced first (in one pass, so
    their writers need no temporary file each).
    """
    tmp, folder = Path(tmp), Path(folder)
    for path in tmp.rglob("*"):
        if path.is_file():
            _fsync_path(path)
    old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)
    _fsync_path(folder.parent, directory=True)


@contextmanager
def atomic_write(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block ends without error, put it in place.

    Write the whole file to the yielded path (and close it); on leaving the block it is synced
    to the disk and renamed onto ``path`` (:func:`replace_file`). When the block raises, the
    temporary file is removed and ``path`` is left as it was. This is the one way files are
    written in bgsub: a reader (or a resumed run) never sees a half-written output.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with atomic_write(folder / "a.txt") as tmp:
    ...     _ = tmp.write_text("done")
    >>> (folder / "a.txt").read_text(), sorted(p.name for p in folder.iterdir())
    ('done', ['a.txt'])
    """
    path = Path(path)
    tmp = atomic_path(path)
    try:
        yield tmp
        replace_file(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


#: zlib level of mask PNGs (issue 16): level 1 encodes a 240x320 mask in ~1.0 ms of CPU where Pillow's
#: default (6) took ~1.7 ms; the files are ~1.5x larger (a few kB) and decode to the same pixels.
MASK_PNG_LEVEL = 1


def write_mask(path: Path, mask: NDArray[np.bool_]) -> None:
    """Write a mask ``(H, W)`` bool as a 0/255 PNG at :data:`MASK_PNG_LEVEL`, straight to ``path``.

    Callers write into a temporary folder that :func:`replace_folder` syncs and puts in place when
    complete, so a mask needs no temporary file of its own.
    """
    iio.imwrite(path, np.asarray(mask, bool).astype(np.uint8) * 255, extension=".png", compress_level=MASK_PNG_LEVEL)


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically, keys sorted (the same data give the same bytes)."""
    with atomic_write(Path(path)) as tmp:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def write_csv(path: Path, frame: Any) -> None:
    """Write a pandas DataFrame as CSV atomically, with a fixed float format so bytes do not depend on the platform."""
    with atomic_write(Path(path)) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6f", lineterminator="\n")


def write_image(path: Path, image: NDArray) -> None:
    """Write an image atomically (:func:`atomic_write`)."""
    path = Path(path)
    with atomic_write(path) as tmp:
        iio.imwrite(tmp, np.asarray(image), extension=path.suffix)


class VideoWriter:
    """Write ``(H, W, C)`` uint8 frames one at a time as an H.264 mp4 (imageio-ffmpeg), for browsers and players.

    H.264 in yuv420p needs an even width and height: an odd edge is padded by repeating its last
    row or column (no rescaling: ``macro_block_size=1``). Gray frames (C = 1 or 2-D) are sent as gray.
    The file appears only when :meth:`close` is called (written beside it, then renamed).

    Parameters
    ----------
    path : Path
    fps : float
        Frames per second of the video.
    quality : float
        imageio-ffmpeg's quality, 0-10 (10 = best, largest).
    """

    def __init__(self, path: Path, *, fps: float, quality: float = 6) -> None:
        self.path = Path(path)
        self.fps = fps
        self.quality = quality
        self._tmp: Path | None = None
        self._writer: Any = None

    def write(self, frame: NDArray[np.uint8]) -> None:
        """Append one frame ``(H, W)`` or ``(H, W, C)`` uint8, C = 1 or 3."""
        frame = frame if frame.ndim == 3 else frame[..., None]
        h, w, c = frame.shape
        pad_h, pad_w = h % 2, w % 2
        if pad_h or pad_w:
            frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        if self._writer is None:
            import imageio_ffmpeg

            self._tmp = atomic_path(self.path)
            self._writer = imageio_ffmpeg.write_frames(
                str(self._tmp), (w + pad_w, h + pad_h), pix_fmt_in="gray" if c == 1 else "rgb24", fps=self.fps,
                quality=self.quality, macro_block_size=1, output_params=["-preset", "veryfast", "-f", "mp4"],
            )
            self._writer.send(None)
        self._writer.send(np.ascontiguousarray(frame))

    def close(self) -> None:
        """Finish the video and move it onto ``path`` (nothing is written when no frame was)."""
        if self._writer is None:
            return
        writer, self._writer = self._writer, None
        try:
            writer.close()
            replace_file(self._tmp, self.path)  # type: ignore[arg-type]
        finally:
            if self._tmp is not None and self._tmp.exists():
                self._tmp.unlink()

    def abort(self) -> None:
        """Stop ffmpeg and remove the partial file."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            with contextlib.suppress(Exception):
                writer.close()
        if self._tmp is not None and self._tmp.exists():
            self._tmp.unlink()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
        else:
            self.abort()
