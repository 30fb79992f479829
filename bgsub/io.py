"""Reading frames and labels from disk, and writing images atomically.

Frames come out as ``(H, W, C)`` uint8 arrays: 16-bit images are scaled to
8 bits, an alpha channel is dropped and grayscale images keep ``C = 1``.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

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
    "write_mask",
    "MASK_PNG_LEVEL",
    "atomic_path",
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


#: zlib level of mask PNGs (issue 16): level 1 encodes a 240x320 mask in ~1.0 ms of CPU where Pillow's
#: default (6) took ~1.7 ms; the files are ~1.5x larger (a few kB) and decode to the same pixels.
MASK_PNG_LEVEL = 1


def write_mask(path: Path, mask: NDArray[np.bool_]) -> None:
    """Write a mask ``(H, W)`` bool as a 0/255 PNG at :data:`MASK_PNG_LEVEL`, straight to ``path``: callers
    write into a temporary folder that is renamed whole when complete, so no file of its own is needed."""
    iio.imwrite(path, np.asarray(mask, bool).astype(np.uint8) * 255, extension=".png", compress_level=MASK_PNG_LEVEL)


def write_image(path: Path, image: NDArray) -> None:
    """Write an image atomically (temporary file, then rename)."""
    path = Path(path)
    tmp = atomic_path(path)
    try:
        iio.imwrite(tmp, np.asarray(image), extension=path.suffix)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
